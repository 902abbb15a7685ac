#include "agents/oreo/value_guided.h"

namespace softrl::agents {

ValueGuidedActor::ValueGuidedActor(PolicyHead& policy, const ValueFunction& value, envs::Env& env,
                                   const ValueGuidance& g, uint64_t seed)
    : policy_(policy),
      value_(value),
      env_(env),
      g_(g),
      gen_(at::detail::createCPUGenerator(seed)) {}

std::vector<float> ValueGuidedActor::act(std::span<const float> obs) {
  const int k = g_.candidates;
  const torch::Tensor o =
      torch::from_blob(const_cast<float*>(obs.data()), {1, static_cast<int64_t>(obs.size())}, torch::kFloat32)
          .expand({k, static_cast<int64_t>(obs.size())});
  const torch::Tensor actions =
      policy_.act(o.contiguous(), /*deterministic=*/false, gen_).to(torch::kFloat32).reshape({k, -1}).contiguous();
  const envs::EnvSnapshot here = env_.snapshot();
  const int64_t elapsed = env_.elapsed_steps();
  std::vector<double> reward(k);
  std::vector<bool> terminated(k);
  torch::Tensor next = torch::empty({k, static_cast<int64_t>(obs.size())});
  for (int i = 0; i < k; ++i) {
    env_.restore(here);
    const envs::StepResult r = env_.step({actions[i].data_ptr<float>(), static_cast<size_t>(actions.size(1))});
    reward[i] = r.reward;
    terminated[i] = r.terminated;
    std::copy(r.obs.begin(), r.obs.end(), next[i].data_ptr<float>());
  }
  env_.restore(here);
  simulated_ += k;
  ++decisions_;
  const torch::Tensor v = value_(next, torch::full({k}, elapsed + 1, torch::kLong)).to(torch::kFloat64).contiguous();
  int best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < k; ++i) {
    double score;
    if (g_.success_return) {
      score = terminated[i] ? (episode_return_ + reward[i] >= *g_.success_return ? 1.0 : 0.0)
                            : g_.gamma * v[i].item<double>();
    } else {
      score = reward[i] / g_.reward_scale + (terminated[i] ? 0.0 : g_.gamma * v[i].item<double>());
    }
    if (score > best_score) best_score = score, best = i;
  }
  episode_return_ += reward[best];
  const float* a = actions[best].data_ptr<float>();
  return {a, a + actions.size(1)};
}

}  // namespace softrl::agents
