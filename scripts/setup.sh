#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages) and builds softrl into build/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build ccache libtorch-dev libopenblas0-pthread libbox2d-dev
          libyaml-cpp-dev catch2 libcli11-dev libbenchmark-dev libpng-dev
          libhdf5-dev python3-h5py chromium
          slurmctld slurmd slurm-client munge libgloo-dev python3-torch)
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
# build was the fastest single-threaded (see README, "BLAS choice").
BLAS=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$(readlink -f "$BLAS")" ]]; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$BLAS"
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
# Each TU with <torch/torch.h> needs ~1.5 GB of RAM to compile; one job per core fits in 24 GiB.
cmake --build build -j "$(nproc)"
