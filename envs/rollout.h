#pragma once
// Running a policy for whole episodes: the shared loop of evaluation, validation and tests.
#include <cstdint>
#include <vector>

#include "envs/env.h"

namespace softrl::envs {

struct EpisodeStats {
  double ret = 0.0;
  int length = 0;
  bool terminated = false;
};

// One episode from reset(seed) until terminated or truncated.
EpisodeStats run_episode(Env& env, Policy& policy, uint64_t seed);

struct Summary {
  double mean = 0, std = 0, stderr_ = 0, mean_length = 0;
  int episodes = 0;
};
Summary summarize(const std::vector<EpisodeStats>& episodes);

}  // namespace softrl::envs
