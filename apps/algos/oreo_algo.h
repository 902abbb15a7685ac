#pragma once
// OREO's registry entry: `algo: oreo` learns a policy and a soft value function from a dataset
// (softrl collect) on the offline loop, from a behaviour-cloning reference, optionally in rounds
// that collect fresh data with the current policy (iterative OREO).
#include <optional>
#include <string>

#include "agents/oreo/oreo.h"
#include "apps/algos/algo_entry.h"
#include "apps/algos/offline_keys.h"

namespace softrl::apps {

struct OreoAlgoSettings : AlgoSettings {
  std::string dataset;
  ReferenceKeys reference;
  agents::OreoSettings oreo;
  agents::Schedule learning_rate{.initial = 1e-4};
  int64_t batch_episodes = 16;
  int rounds = 1;
  // Each later round's collection: groups x episodes per group, sampled at this temperature.
  int64_t round_start_seeds = 0, round_group_size = 0;  // 0: as many as the dataset has
  double round_temperature = 1.0;
};

AlgoEntry oreo_algo();

}  // namespace softrl::apps
