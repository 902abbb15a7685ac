#pragma once
// A small LunarLander dataset for tests: `start_seeds` start states x 2 episodes, half from
// Gymnasium's heuristic and half random, written to `path` (HDF5, Minari layout).
#include <filesystem>

#include "agents/loops/collector.h"
#include "data/hdf5_dataset.h"

namespace softrl::testing {

inline void write_mixed_lunarlander(const std::filesystem::path& path, int64_t start_seeds) {
  agents::CollectSettings s;
  s.env_id = "LunarLander-v3";
  s.start_seeds = start_seeds;
  s.group_size = 2;
  s.sources = {{.kind = agents::BehaviourSource::Kind::heuristic, .weight = 0.5},
               {.kind = agents::BehaviourSource::Kind::random, .weight = 0.5}};
  data::write_dataset(path.string(), agents::collect(s, [](const agents::CollectProgress&) { return true; }));
}

}  // namespace softrl::testing
