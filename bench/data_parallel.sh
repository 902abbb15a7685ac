#!/usr/bin/env bash
# GRPO (or any data-parallel config) at 1 process and at 2 processes under torchrun, one after the
# other: env steps/s and updates/s of each, and their ratio. Each process collects the config's
# groups, so 2 processes learn from twice the episodes per update. Also runs `softrl bench
# allreduce` (the gradient all-reduce alone). Usage:
#   bench/data_parallel.sh [CONFIG.yaml] [key=value ...]     (default: configs/grpo_lunarlander.yaml
#                                                               with total_steps=1000000, no evaluations)
# The rates are taken between the first and the last row of metrics.csv (start-up and the final
# evaluation left out), so log.every must leave at least 3 rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/build/apps/softrl"
CONFIG="${1:-configs/grpo_lunarlander.yaml}"
shift || true
OVERRIDES=("$@")
[ ${#OVERRIDES[@]} -gt 0 ] || OVERRIDES=(total_steps=1000000 log.every=50000 eval.every=0 eval.episodes=1 checkpoint.every=0)
OUT="$(mktemp -d /tmp/softrl_dp_bench.XXXXXX)"
port() { echo $((20000 + RANDOM % 20000)); }

# run NAME NPROC [key=value]: trains, then prints "steps updates seconds" of its steady phase
run() {
  local name=$1 nproc=$2 log="$OUT/$1.log"
  shift 2
  if [ "$nproc" = 1 ]; then
    "$BIN" train "$CONFIG" "${OVERRIDES[@]}" "$@" --no-progress --run-dir "$OUT/$name" >"$log" 2>&1
  else
    # --redirects/--tee 1: torch 1.13's default (0) trips over Python 3.11's enum iteration.
    torchrun --nproc_per_node "$nproc" --no_python --master_port "$(port)" --log_dir "$OUT/torchrun-$name" \
      --redirects 1 --tee 1 "$BIN" train "$CONFIG" "${OVERRIDES[@]}" --no-progress --run-dir "$OUT/$name" >"$log" 2>&1
  fi
  # Rates between the first and the last row of metrics.csv (step, wall_time, ...): start-up
  # (torchrun's Python, joining the group) and the final evaluation left out. Prints
  # "steps updates seconds" for that span; updates scale with the steps (a fixed number per iteration).
  local total_updates
  total_updates=$(sed -n 's/.*done: [0-9]* steps, \([0-9]*\) updates.*/\1/p' "$log" | head -1)
  awk -F, -v total_updates="$total_updates" 'NR == 2 { s0 = $1; w0 = $2 } NR > 2 { s1 = $1; w1 = $2 }
    END { if (!s1) { print "too few metrics.csv rows: lower log.every" > "/dev/stderr"; exit 1 }
          print s1 - s0, (s1 - s0) / s1 * total_updates, w1 - w0 }' "$OUT/$name/metrics.csv"
}

one=$(run one 1 threads=1)
one_two_threads=$(run one_t2 1 threads=2)
two=$(run two 2 threads=1)
echo "$one" "$one_two_threads" "$two" | awk '{
  s1 = $1 / $3; u1 = $2 / $3; st = $4 / $6; ut = $5 / $6; s2 = $7 / $9; u2 = $8 / $9
  printf "%-24s %10s %10s %10s %12s %10s\n", "", "env steps", "updates", "seconds", "env steps/s", "updates/s"
  printf "%-24s %10d %10.0f %10.1f %12.0f %10.2f\n", "1 process, 1 thread", $1, $2, $3, s1, u1
  printf "%-24s %10d %10.0f %10.1f %12.0f %10.2f\n", "1 process, 2 threads", $4, $5, $6, st, ut
  printf "%-24s %10d %10.0f %10.1f %12.0f %10.2f\n", "2 processes, 1 thread", $7, $8, $9, s2, u2
  printf "2 processes vs 1 process (1 thread): env steps/s x%.2f, updates/s x%.2f; vs 1 process with 2 threads: x%.2f, x%.2f\n", s2 / s1, u2 / u1, s2 / st, u2 / ut
  printf "(each update of 2 processes averages twice the episodes)\n"
}'
grep -h "data parallel:" "$OUT/two.log" | sed 's/^\[default0\]://'
torchrun --nproc_per_node 2 --no_python --master_port "$(port)" --log_dir "$OUT/torchrun-allreduce" --redirects 1 --tee 1 \
  "$BIN" bench allreduce 2>&1 | sed -n 's/^\[default0\]://p'
echo "logs: $OUT"
