#pragma once
// A state-value network V(s) with an optional time-remaining input (Pardo et al. 2018, "Time
// Limits in Reinforcement Learning": with the time left observed, a time-limit truncation is a
// state of the MDP, not noise). OREO's critic; value-guided action selection reads it back.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "agents/core/networks.h"

namespace softrl::agents {

struct ValueFunction {
  ValueFunction(int64_t obs_dim, const std::vector<int64_t>& hidden, bool time_feature, int64_t max_steps);

  // The fraction of the time limit left after `elapsed` steps.
  torch::Tensor time_left(const torch::Tensor& elapsed) const;
  // The network's input: the observation, plus the time left when time_feature.
  torch::Tensor input(const torch::Tensor& obs, const torch::Tensor& time_left) const;
  // V for [N, obs_dim] observations `elapsed` [N] steps into their episodes, without gradient.
  torch::Tensor operator()(const torch::Tensor& obs, const torch::Tensor& elapsed) const;

  mutable Mlp net{nullptr};  // a forward pass does not change the function
  bool time_feature;
  int64_t max_steps;
};

}  // namespace softrl::agents
