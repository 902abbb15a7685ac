#pragma once
// GRPO's registry entry: `algo: grpo` on the group-rollout loop (agents/group_rollout_loop.h),
// with TRL's and verl's names where they exist (epsilon as clip_range, beta as kl_coef,
// num_generations as group_size, scale_rewards).
#include <string>

#include "agents/grpo/grpo.h"
#include "apps/algos/algo_entry.h"

namespace softrl::apps {

struct GrpoAlgoSettings : AlgoSettings {
  agents::GrpoSettings grpo;
  std::vector<int64_t> net_arch = {64, 64};
  std::string init;       // a run directory or checkpoint to start from ("" = fresh weights)
  std::string reference;  // the KL anchor ("" = the initial policy)
  int64_t groups = 16, group_size = 8;
  agents::Schedule learning_rate{.initial = 3e-4};
};

AlgoEntry grpo_algo();
// `algo: soft_grpo` (Zheng & Lee 2025): the same loop and surrogate on soft actions
// (agents/soft_actions.h), keys of grpo plus temperature, gumbel_temperature, density.
AlgoEntry soft_grpo_algo();

}  // namespace softrl::apps
