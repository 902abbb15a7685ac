#!/bin/sh
# Pass@1 and Pass@K of every run of a study (Zheng & Lee 2025 compare GRPO and SofT-GRPO by both):
# K sampled episodes from each of EPISODES evaluation start seeds per run (softrl eval --group K,
# written to each run's eval_report.json), then the per-arm statistics over seeds of Pass@1, Pass@K
# and best-of-K (the mean over start seeds of the best of the K returns). A success is a return of
# at least the task's threshold (200), or THRESHOLD when set.
#   configs/studies/pass_at_k.sh studies/grpo_vs_soft_grpo [K=8] [EPISODES=100]
set -eu
study=${1:?usage: pass_at_k.sh STUDY_DIR [K] [EPISODES]}
k=${2:-8}
episodes=${3:-100}
softrl=${SOFTRL:-build/apps/softrl}
runs=$(ls -d "$study"/runs/*/*/)
for run in $runs; do
  "$softrl" eval "$run" --episodes "$episodes" --group "$k" ${THRESHOLD:+--threshold "$THRESHOLD"} --json > /dev/null
  echo "evaluated $run" >&2
done
# shellcheck disable=SC2086
"$softrl" report --metric pass_at_1 $runs
# shellcheck disable=SC2086
"$softrl" report --metric pass_at_k $runs
# shellcheck disable=SC2086
"$softrl" report --metric best_of_k $runs
