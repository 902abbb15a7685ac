#include "envs/rollout.h"

#include <cmath>

namespace softrl::envs {

EpisodeStats run_episode(Env& env, Policy& policy, uint64_t seed) {
  EpisodeStats st;
  std::vector<float> obs = env.reset(seed);
  policy.begin_episode();
  while (true) {
    const std::vector<float> action = policy.act(obs);
    StepResult r = env.step(action);
    st.ret += r.reward;
    st.length += 1;
    obs = std::move(r.obs);
    if (r.terminated || r.truncated) {
      st.terminated = r.terminated;
      return st;
    }
  }
}

Summary summarize(const std::vector<EpisodeStats>& episodes) {
  Summary s;
  s.episodes = static_cast<int>(episodes.size());
  if (episodes.empty()) return s;
  double sum = 0, len = 0;
  for (const auto& e : episodes) {
    sum += e.ret;
    len += e.length;
  }
  s.mean = sum / s.episodes;
  s.mean_length = len / s.episodes;
  double var = 0;
  for (const auto& e : episodes) var += (e.ret - s.mean) * (e.ret - s.mean);
  s.std = s.episodes > 1 ? std::sqrt(var / (s.episodes - 1)) : 0.0;
  s.stderr_ = s.std / std::sqrt(static_cast<double>(s.episodes));
  return s;
}

}  // namespace softrl::envs
