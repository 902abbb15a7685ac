#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages) and builds softrl into build/. Idempotent.
#   scripts/setup.sh           what building, training and evaluating need
#   scripts/setup.sh --tests   also what only the tests use (scripts/test.sh passes it)
set -euo pipefail
cd "$(dirname "$0")/.."

# Building, training, evaluating: the compiler and build tools, LibTorch and OpenBLAS, Box2D,
# yaml-cpp, CLI11, libpng (GIFs and PNGs), HDF5 (datasets), Gloo's headers (c10d under torchrun).
# catch2 and libbenchmark-dev are here too: the test and bench binaries are part of the build.
PACKAGES=(build-essential cmake ninja-build ccache libtorch-dev libopenblas0-pthread libbox2d-dev
          libyaml-cpp-dev catch2 libcli11-dev libbenchmark-dev libpng-dev libhdf5-dev libgloo-dev)
# Only tests: h5py (a dataset opened from Python), Chromium (report.html rendered headless), a
# one-node Slurm with munge (a study through Slurm), python3-torch (Debian's torchrun).
if [[ "${1:-}" == --tests ]]; then
  PACKAGES+=(python3-h5py chromium slurmctld slurmd slurm-client munge python3-torch)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "softrl setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch must reach OpenBLAS, not the reference BLAS (~18x slower on our MLPs); the pthread
# build was the fastest single-threaded (see docs/environments.md, "BLAS choice").
BLAS=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$(readlink -f "$BLAS")" ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$BLAS"
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
# Each TU with <torch/torch.h> needs ~1.5 GB of RAM to compile; one job per core fits in 24 GiB.
cmake --build build -j "$(nproc)"
