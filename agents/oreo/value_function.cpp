#include "agents/oreo/value_function.h"

namespace softrl::agents {

ValueFunction::ValueFunction(int64_t obs_dim, const std::vector<int64_t>& hidden, bool time_feature_,
                             int64_t max_steps_)
    : net(obs_dim + (time_feature_ ? 1 : 0), hidden, 1),
      time_feature(time_feature_),
      max_steps(std::max<int64_t>(1, max_steps_)) {}

torch::Tensor ValueFunction::time_left(const torch::Tensor& elapsed) const {
  return (static_cast<double>(max_steps) - elapsed.to(torch::kFloat32)) / static_cast<float>(max_steps);
}

torch::Tensor ValueFunction::input(const torch::Tensor& obs, const torch::Tensor& left) const {
  return time_feature ? torch::cat({obs, left.unsqueeze(-1)}, -1) : obs;
}

torch::Tensor ValueFunction::operator()(const torch::Tensor& obs, const torch::Tensor& elapsed) const {
  torch::NoGradGuard no_grad;
  return net->forward(input(obs, time_left(elapsed))).squeeze(-1);
}

}  // namespace softrl::agents
