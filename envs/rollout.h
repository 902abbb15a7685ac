#pragma once
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

}  // namespace softrl::envs
