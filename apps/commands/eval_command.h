#pragma once
// `softrl eval`: a policy (run directory, checkpoint or a task's heuristic) on evaluation seeds.
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>

#include "envs/rollout.h"

namespace softrl::apps {

struct EvalOptions {
  std::string target;  // RUN_DIR, CHECKPOINT file, or heuristic:ENV_ID
  int episodes = 10;
  uint64_t seed = envs::kEvalSeedBase;  // disjoint from training seeds, as in training's evaluations
  bool stochastic = false;
  std::string record;        // .gif: the first episode, animated; .png: its last frame
  bool write_report = true;  // false: leave the run's eval_report.json as it is
  bool json = false;
  int value_guided = 0;  // K > 0: OREO's value-guided selection among K sampled actions
  int group = 1;         // k > 1: k sampled episodes per start seed, Pass@1 and Pass@k (GRPO)
  // A success's minimum return; NaN: the task's reward_threshold.
  double threshold = std::numeric_limits<double>::quiet_NaN();
};

// Exit 0 on success, 2 for bad input (message on `err`).
int run_eval(const EvalOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
