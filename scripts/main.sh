#!/usr/bin/env bash
# The main job: set up, build, then run the softmax-core benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
./build/apps/softrl bench softmax "$@"
