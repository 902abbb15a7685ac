#include "envs/rollout.h"

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
  std::vector<double> returns;
  std::vector<int> lengths;
  for (int k = 0; k < episodes; ++k) {
    const EpisodeStats e = run_episode(env, policy, first_seed + static_cast<uint64_t>(k), observe, k);
    returns.push_back(e.ret);
    lengths.push_back(e.length);
  }
  return return_stats(returns, lengths, env.spec().reward_threshold);
}

}  // namespace softrl::envs
