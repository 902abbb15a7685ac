#include "envs/rollout.h"

#include <algorithm>
#include <cmath>

namespace softrl::envs {

EpisodeStats run_episode(Env& env, Policy& policy, uint64_t seed, const StepObserver& observe, int episode) {
  EpisodeStats st;
  std::vector<float> obs = env.reset(seed);
  policy.begin_episode();
  if (observe) observe(episode, env, nullptr);
  while (true) {
    StepResult r = env.step(policy.act(obs));
    st.ret += r.reward;
    st.length += 1;
    if (observe) observe(episode, env, &r);
    obs.assign(r.obs.begin(), r.obs.end());
    if (r.terminated || r.truncated) {
      st.terminated = r.terminated;
      return st;
    }
  }
}

ReturnStats evaluate(Env& env, Policy& policy, int episodes, uint64_t first_seed, const StepObserver& observe) {
  return evaluate_groups(env, policy, episodes, 1, first_seed, observe).stats;
}

GroupEvaluation evaluate_groups(Env& env, Policy& policy, int start_states, int group, uint64_t first_seed,
                                const StepObserver& observe, double success_threshold) {
  const double threshold = std::isnan(success_threshold) ? env.spec().reward_threshold : success_threshold;
  GroupEvaluation g{.start_states = start_states, .group = group, .threshold = threshold};
  std::vector<double>& returns = g.returns;
  std::vector<int>& lengths = g.lengths;
  for (int s = 0; s < start_states; ++s) {
    bool any = false;
    double best = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < group; ++j) {
      const int k = static_cast<int>(returns.size());
      const uint64_t seed = first_seed + static_cast<uint64_t>(s);
      const EpisodeStats e = run_episode(env, policy, seed, observe, k);
      returns.push_back(e.ret);
      lengths.push_back(e.length);
      g.seeds.push_back(seed);
      any = any || e.ret >= threshold;
      best = std::max(best, e.ret);
    }
    g.pass_at_k += any ? 1.0 / start_states : 0.0;
    g.best_of_k += best / start_states;
  }
  g.stats = return_stats(returns, lengths, threshold);
  g.pass_at_1 = g.stats.success_rate;
  return g;
}

}  // namespace softrl::envs
