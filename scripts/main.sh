#!/usr/bin/env bash
# The main job: set up and build, train SAC on LunarLanderContinuous-v3 from the quick-start
# config (about 2 minutes on 2 cores after the build), then evaluate the run's best checkpoint on
# 100 episodes with seeds it was never selected on, and record a GIF. Extra arguments are config
# overrides (e.g. seed=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
RUN_DIR="${RUN_DIR:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}"
./build/apps/softrl train configs/quickstart_lunarlander_continuous.yaml --run-dir "$RUN_DIR" "$@"
# Training's evaluations (which chose best.pt) use seeds 1000000 + k; these start at 2000000.
./build/apps/softrl eval "$RUN_DIR/checkpoints/best.pt" --episodes 100 --seed 2000000 --record "$RUN_DIR/episode.gif"
echo
echo "Run directory: $RUN_DIR"
echo "  config.yaml (resolved), metrics.csv / metrics.jsonl (training), eval.csv (periodic evaluations),"
echo "  checkpoints/latest.pt and best.pt, checkpoints/eval_report.json and episode.gif (the evaluation of best.pt)"
