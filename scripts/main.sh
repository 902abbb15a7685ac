#!/usr/bin/env bash
# The main job: set up and build, train SAC on LunarLanderContinuous-v3 from the quick-start
# config (a few minutes on 2 cores), then evaluate the trained policy and record a GIF.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
RUN_DIR="${RUN_DIR:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}"
./build/apps/softrl train configs/quickstart_lunarlander_continuous.yaml --run-dir "$RUN_DIR" "$@"
./build/apps/softrl eval "$RUN_DIR" --episodes 20 --record "$RUN_DIR/episode.gif"
echo
echo "Run directory: $RUN_DIR"
echo "  config.yaml (resolved), metrics.csv / metrics.jsonl (training), eval.csv (periodic evaluations),"
echo "  checkpoints/latest.pt, eval_report.json, episode.gif (the evaluated policy's first episode)"
