#!/usr/bin/env bash
# The fast tests under AddressSanitizer and UndefinedBehaviorSanitizer, in build-san/ (a second
# build of every library with -fsanitize=address,undefined; slow on 2 cores, so not part of
# scripts/test.sh). Assumes scripts/setup.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# LibTorch's own allocations are not instrumented; leaks inside it are not ours to fix.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
# -O1 without debug info: the cheapest build that still runs the tests at a useful speed.
cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=SanitizeFast -DCMAKE_CXX_FLAGS_SANITIZEFAST="-O1" \
  -DSOFTRL_SANITIZE=ON > /dev/null
cmake --build build-san -j "$(nproc)" --target softrl_tests
ctest --test-dir build-san --output-on-failure -R 'test_common|test_objectives|test_envs|test_config|test_checkpoint|test_learner_plugin'
# Catch2 tags each case with its file ([#test_driver]); adjacent tags must all match.
./build-san/tests/softrl_tests -# '[#test_driver][faults],[#test_driver][resume]'
./build-san/tests/softrl_tests -# '[#test_data]~[bc]'  # the HDF5 reader on crafted files, collection, preference views
