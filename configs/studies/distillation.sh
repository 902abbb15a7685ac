#!/bin/sh
# Distillation with an anchor (ADPO, Wang 2025, arXiv 2510.18913, its HalfCheetah experiment) on a
# continuous task: a teacher's rollouts (50 episodes, sampled at ROLLOUT_TEMPERATURE, default 1), K = 8 candidate actions per state
# drawn from the teacher, q = softmax(teacher log-probs / 1); students: plain KD, ADPO with the
# student's initial weights as a fixed anchor, ADPO with an EMA anchor (rate 0.01), tau_anc 1.
#   configs/studies/distillation.sh [TEACHER_RUN_DIR]
# Without an argument the teacher is SAC on BipedalWalker-v3 (configs/sac_bipedalwalker.yaml,
# trained into runs/teacher_bipedalwalker, about 3.5 h of a core; reused, or resumed, when there).
# Outputs in studies/distillation/<teacher>-T<rollout temperature>/: the rollouts, and in
# students-<DISTILL_STEPS, default 3M samples>/ each student's run directory and report.txt (return
# over 100 evaluation episodes, and the final KL(teacher || student) on the rollout states).
set -eu
softrl=${SOFTRL:-build/apps/softrl}
teacher=${1:-runs/teacher_bipedalwalker}
if [ ! -f "$teacher/checkpoints/latest.pt" ] || [ -z "${1:-}" ]; then
  if [ -n "${1:-}" ]; then echo "distillation.sh: $teacher: no checkpoints/latest.pt (not a trained run)" >&2; exit 2; fi
  if [ -f "$teacher/config.yaml" ]; then "$softrl" train --resume "$teacher" || true
  else "$softrl" train configs/sac_bipedalwalker.yaml --run-dir "$teacher"; fi
fi
env_id=$(grep -m1 -o 'id: [A-Za-z0-9-]*' "$teacher/config.yaml" | cut -d' ' -f2)
rollout_t=${ROLLOUT_TEMPERATURE:-1.0}
budget=${DISTILL_STEPS:-3000000}
data=studies/distillation/$(basename "$teacher")-T$rollout_t
out=$data/students-$budget
mkdir -p "$out"
cat > "$data/collect.yaml" <<EOF
env: {id: $env_id}
seed: 0
threads: 2
n_envs: 16
start_seeds: 50
group_size: 1
dataset_id: teacher-rollouts
sources:
  - {kind: policy, path: $teacher, temperature: $rollout_t}
EOF
[ -f "$data/rollouts.hdf5" ] || "$softrl" collect "$data/collect.yaml" --out "$data/rollouts.hdf5"
cat > "$out/distill.yaml" <<EOF
env: {id: $env_id}
algo: distill
seed: 0
total_steps: $budget
threads: 1
eval: {every: 0, episodes: 100}
checkpoint: {every: 0}
log: {every: 50000}
distill:
  dataset: $data/rollouts.hdf5
  teacher: $teacher
  candidates: 8
  temperature: 1.0
  net_arch: [256, 256]
  learning_rate: 3.0e-4
  batch_size: 256
EOF
for arm in kd adpo_fixed adpo_ema; do
  case $arm in
    kd) set -- distill.objective=kd ;;
    adpo_fixed) set -- distill.objective=adpo distill.anchor=fixed distill.tau_anc=1 ;;
    adpo_ema) set -- distill.objective=adpo distill.anchor=ema distill.tau_anc=1 distill.ema_rate=0.01 ;;
  esac
  [ -f "$out/$arm/eval.csv" ] || "$softrl" train "$out/distill.yaml" "$@" --run-dir "$out/$arm"
done
{
  "$softrl" report "$out/kd" "$out/adpo_fixed" "$out/adpo_ema"
  "$softrl" report --metric kl_teacher_student "$out/kd" "$out/adpo_fixed" "$out/adpo_ema"
} | tee "$out/report.txt"
