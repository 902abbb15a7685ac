#pragma once
// The off-policy loop (Stable-Baselines3's OffPolicyAlgorithm.learn / collect_rollouts): a vector
// env, a replay buffer, uniform warm-up actions, train_freq / gradient_steps and the learning-rate
// schedule. Bootstrapping uses `terminated`, not `done`: a time-limit truncation stores the
// episode's final observation (kept by the vector env) as next_obs.
#include <deque>
#include <string>

#include "agents/core/learner.h"
#include "agents/core/loop.h"
#include "agents/core/replay_buffer.h"
#include "agents/core/schedule.h"
#include "envs/vector_env.h"

namespace softrl::agents {

struct OffPolicySettings {
  std::string env_id;
  envs::EnvOptions env_options;
  int64_t n_envs = 1;
  int threads = 1;
  int64_t total_steps = 0;  // the schedule decays over it
  int64_t batch_size = 256;
  int64_t buffer_size = 1000000;
  int64_t train_freq = 1;      // update every train_freq vector steps...
  int64_t gradient_steps = 1;  // ...this many times
  int64_t learning_starts = 100;
  Schedule learning_rate;
};

// The mean return and length of the last 20 finished episodes.
class RecentEpisodes {
 public:
  void add(double ret, int length);
  double mean_return() const;  // NaN before the first episode
  double mean_length() const;
  size_t count() const { return returns_.size(); }

 private:
  std::deque<double> returns_;
  std::deque<int> lengths_;
};

class OffPolicyLoop : public Loop {
 public:
  OffPolicyLoop(TransitionLearner& learner, const OffPolicySettings& settings, uint64_t seed);

  void begin(uint64_t seed) override;
  void iterate() override;
  int64_t steps() const override { return step_; }
  int64_t updates() const override { return updates_; }
  Metrics metrics() const override;
  std::string progress_text() const override;
  void save(torch::serialize::OutputArchive& ar, bool with_data) const override;
  std::string load(OpenedCheckpoint& checkpoint) override;

 private:
  TransitionLearner& learner_;
  OffPolicySettings cfg_;
  envs::VectorEnv venv_;
  ReplayBuffer buffer_;
  // One generator drives warm-up actions, replay sampling and the learner's noise, so a run is
  // reproducible from its seed and resumes exactly from the generator's saved state.
  at::Generator gen_;
  torch::Tensor obs_;
  int64_t step_ = 0, updates_ = 0, episodes_ = 0, iteration_ = 0;
  RecentEpisodes recent_;
  DeferredMetrics last_update_;  // the last update's (NaN before the first)
};

}  // namespace softrl::agents
