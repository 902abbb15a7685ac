#pragma once
// Hand-made grouped datasets for learner tests: group g holds one episode per entry of
// lengths[g], every episode terminated, observations and actions random (seeded), rewards given
// per step or random; returns and tables consistent with them.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/dataset.h"
#include "envs/registry.h"

namespace softrl::testing {

inline data::Dataset synthetic_dataset(const std::string& env_id, const std::vector<std::vector<int64_t>>& lengths,
                                       const std::vector<double>& rewards = {}) {
  data::Dataset d;
  d.id = "synthetic";
  d.env_id = env_id;
  d.env_spec = envs::make_env(env_id)->spec();
  std::vector<int64_t> all, group;
  for (size_t g = 0; g < lengths.size(); ++g)
    for (int64_t n : lengths[g]) all.push_back(n), group.push_back(static_cast<int64_t>(g));
  data::allocate(d, all);
  torch::manual_seed(2);
  d.observations.copy_(torch::randn_like(d.observations));
  if (d.discrete()) d.actions.copy_(torch::randint(0, d.env_spec.action_space.n, d.actions.sizes()));
  else d.actions.copy_(torch::tanh(d.pre_tanh_actions.copy_(torch::randn_like(d.pre_tanh_actions))));
  if (rewards.empty()) d.rewards.copy_(torch::randn_like(d.rewards) * 10);
  else d.rewards.copy_(torch::tensor(rewards, torch::kFloat64));
  const int64_t n = d.num_steps();
  d.terminations.copy_(torch::zeros({n}, torch::kBool));
  d.truncations.copy_(torch::zeros({n}, torch::kBool));
  d.final_observations.copy_(torch::randn_like(d.final_observations));
  int64_t s = 0;
  for (size_t e = 0; e < all.size(); ++e) {
    s += all[e];
    d.terminations[s - 1] = true;
    d.episode_return[static_cast<int64_t>(e)] = d.rewards.narrow(0, s - all[e], all[e]).sum();
    d.episode_group[static_cast<int64_t>(e)] = group[e];
  }
  d.episode_seed.copy_(d.episode_group);
  d.episode_source.fill_(0);
  d.group_size = 3;
  for (size_t g = 0; g < lengths.size(); ++g) d.group_seeds.push_back(static_cast<int64_t>(g));
  return d;
}

}  // namespace softrl::testing
