#!/bin/sh
# The preference noise study (configs/studies/preference_noise.yaml): collects the windless dataset
# and three windy ones (distribution shift) where missing, then runs the 390 cells on every core.
# Resume an interrupted study with: softrl compare --resume studies/preference_noise
set -eu
softrl=${SOFTRL:-build/apps/softrl}
[ -f datasets/lunarlander_mixed.hdf5 ] ||
  "$softrl" collect configs/collect_lunarlander.yaml --out datasets/lunarlander_mixed.hdf5
for w in 5 10 15; do
  [ -f "datasets/lunarlander_wind$w.hdf5" ] ||
    "$softrl" collect configs/collect_lunarlander.yaml env.options.enable_wind=true env.options.wind_power=$w \
      dataset_id=lunarlander-wind$w-v0 --out "datasets/lunarlander_wind$w.hdf5"
done
exec "$softrl" compare configs/studies/preference_noise.yaml --study-dir studies/preference_noise --jobs "$(nproc)" "$@"
