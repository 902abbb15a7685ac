#!/usr/bin/env bash
# Set up, build and run the whole test suite, then the fast tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer (a second build in build-san/, about 10 minutes on 2 cores;
# SOFTRL_SKIP_SANITIZERS=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# One test binary per core; the long ones start first (their COST in tests/CMakeLists.txt).
ctest --test-dir build --output-on-failure --timeout 900 -j "${SOFTRL_TEST_JOBS:-$(nproc)}" "$@"
if [[ "${SOFTRL_SKIP_SANITIZERS:-0}" != 1 ]]; then scripts/test_sanitizers.sh; fi
