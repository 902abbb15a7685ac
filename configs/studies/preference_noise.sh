#!/bin/sh
# The preference noise study (configs/studies/preference_noise.yaml): collects the windless dataset
# and three windy ones (distribution shift) where missing, then runs the 390 cells on every core.
# Rerunning the script resumes where it stopped.
set -eu
softrl=${SOFTRL:-build/apps/softrl}
[ -f datasets/lunarlander_mixed.hdf5 ] ||
  "$softrl" collect configs/collect_lunarlander.yaml --out datasets/lunarlander_mixed.hdf5
for w in 5 10 15; do
  [ -f "datasets/lunarlander_wind$w.hdf5" ] ||
    "$softrl" collect configs/collect_lunarlander.yaml env.options.enable_wind=true env.options.wind_power=$w \
      dataset_id=lunarlander-wind$w-v0 --out "datasets/lunarlander_wind$w.hdf5"
done
# Seed by seed (one study directory each), so that a study stopped early has every arm at equal
# seeds; `softrl report studies/preference_noise/seed*/runs/*/*` pools them under the arms' names.
for seed in ${SEEDS:-0 1 2 3 4}; do
  dir=studies/preference_noise/seed$seed
  if [ -f "$dir/study.yaml" ]; then
    "$softrl" compare --resume "$dir" --jobs "$(nproc)"
  else
    "$softrl" compare configs/studies/preference_noise.yaml "seeds=[$seed]" --study-dir "$dir" --jobs "$(nproc)"
  fi
done
