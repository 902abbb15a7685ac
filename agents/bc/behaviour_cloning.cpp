#include "agents/bc/behaviour_cloning.h"

#include "common/distributed.h"

namespace softrl::agents {

BehaviourCloning::BehaviourCloning(const PolicySpec& spec, double learning_rate, uint64_t seed)
    : policy_(*seeded_policy(spec, seed)),
      optimizer_(policy_.parameters(), torch::optim::AdamOptions(learning_rate)) {}

DeferredMetrics BehaviourCloning::update(const Batch& b, at::Generator&) {
  const torch::Tensor loss = -policy_.log_prob(b.obs, b.actions).mean();
  optimizer_.zero_grad();
  loss.backward();
  distributed::sync_gradients(policy_.parameters(), static_cast<double>(b.obs.size(0)));
  optimizer_.step();
  return Metrics{{"bc_loss", loss.item<double>()}};
}

void BehaviourCloning::set_learning_rate(double lr) {
  for (auto& g : optimizer_.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void BehaviourCloning::save(torch::serialize::OutputArchive& ar) const { optimizer_.save(ar); }
void BehaviourCloning::load(torch::serialize::InputArchive& ar) { optimizer_.load(ar); }

Batch transitions_of(const data::Dataset& d) {
  const int64_t n = d.num_steps(), e = d.num_episodes();
  torch::Tensor next = torch::empty_like(d.observations);
  if (n > 1) next.narrow(0, 0, n - 1).copy_(d.observations.narrow(0, 1, n - 1));
  // The last step of each episode continues into its final observation, not the next episode.
  const torch::Tensor last = d.episode_start.narrow(0, 1, e) - 1;
  next.index_copy_(0, last, d.final_observations);
  return {d.observations, d.actions, d.rewards.to(torch::kFloat32), next, d.terminations.to(torch::kFloat32)};
}

}  // namespace softrl::agents
