#pragma once
#include <limits>
// Running a policy for whole episodes: the one episode loop of evaluation (during training and in
// `softrl eval`), environment validation and tests.
#include <cstdint>
#include <functional>
#include <vector>

#include "common/stats.h"
#include "envs/env.h"

namespace softrl::envs {

// Evaluation episodes use seeds from here on: disjoint from training, whose vector env seeds
// episodes from the run's seed upwards (episode e of env i: seed + i + N * e).
constexpr uint64_t kEvalSeedBase = 1000000;

struct EpisodeStats {
  double ret = 0.0;
  int length = 0;
  bool terminated = false;
};

// Called after reset (step == nullptr) and after every step of episode `episode`.
using StepObserver = std::function<void(int episode, const Env& env, const StepResult* step)>;

// One episode from reset(seed) until terminated or truncated.
EpisodeStats run_episode(Env& env, Policy& policy, uint64_t seed, const StepObserver& observe = {}, int episode = 0);

// Episodes k = 0..episodes-1 on seeds first_seed + k, summarized against the task's threshold.
ReturnStats evaluate(Env& env, Policy& policy, int episodes, uint64_t first_seed, const StepObserver& observe = {});

// `group` episodes from each of `start_states` reset seeds (first_seed + s), as GRPO's groups: a
// sampling policy's episodes of one seed differ only by its draws. Pass@1 is the share of all
// episodes that succeed (return >= the task's threshold), Pass@k the share of start states where
// at least one of the k = group episodes does (Chen et al. 2021's estimator with n = k).
struct GroupEvaluation {
  ReturnStats stats;  // over all start_states x group episodes
  // Every episode in the order played: its return, length and start seed.
  std::vector<double> returns;
  std::vector<int> lengths;
  std::vector<uint64_t> seeds;
  int start_states = 0, group = 1;
  double pass_at_1 = 0, pass_at_k = 0;
  double best_of_k = 0;  // the mean over start states of the best of its `group` returns
  double threshold = 0;  // success: return >= threshold
};
// `threshold`: what counts as a success (NaN: the task's reward_threshold).
GroupEvaluation evaluate_groups(Env& env, Policy& policy, int start_states, int group, uint64_t first_seed,
                                const StepObserver& observe = {},
                                double threshold = std::numeric_limits<double>::quiet_NaN());

}  // namespace softrl::envs
