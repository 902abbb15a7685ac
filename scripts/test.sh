#!/usr/bin/env bash
# Set up, build and run the whole test suite, then the fast tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer (a second build in build-san/, about 10 minutes on 2 cores;
# SOFTRL_SKIP_SANITIZERS=1 skips it).
#   scripts/test.sh --fast   the fast tier only (ctest label `fast`: the core, the objectives, the
#                            envs, common, the config and the plugin learner; < 90 s after the build)
# Other arguments go to ctest (e.g. -R test_sac).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
args=()
for a in "$@"; do
  if [[ "$a" == --fast ]]; then fast=1; else args+=("$a"); fi
done
scripts/setup.sh --tests
jobs="${SOFTRL_TEST_JOBS:-$(nproc)}"
if ((fast)); then
  ctest --test-dir build --output-on-failure --timeout 300 -j "$jobs" -L fast "${args[@]}"
  exit 0
fi
# Tests never write into the source tree: the tracked and untracked files' state before the suite
# must be the state after it.
tree_state() { git status --porcelain --untracked-files=all 2>/dev/null || true; }
before=$(tree_state)
# One ctest entry per core; the long ones start first (their COST in tests/CMakeLists.txt).
ctest --test-dir build --output-on-failure --timeout 900 -j "$jobs" "${args[@]}"
if [[ "${SOFTRL_SKIP_SANITIZERS:-0}" != 1 ]]; then scripts/test_sanitizers.sh; fi
after=$(tree_state)
if [[ "$before" != "$after" ]]; then
  echo "scripts/test.sh: the test suite changed files in the source tree:"
  diff <(echo "$before") <(echo "$after") || true
  exit 1
fi
