#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "envs/registry.h"

namespace softrl::apps {

struct HeuristicResult {
  std::string id;
  envs::ValidationTarget target;
  int episodes = 0;
  double mean = 0, stderr_ = 0, mean_length = 0, band = 0;
  bool pass = false;
};

// Runs Gymnasium's heuristic for `episodes` episodes (seeds seed, seed+1, ...) on each task.
std::vector<HeuristicResult> validate_heuristics(int episodes, uint64_t seed, int threads);

struct ValidateOptions {
  int episodes = 1000;
  uint64_t seed = 0;
  int threads = 0;  // 0 = all cores
  bool json = false;
};
// `softrl validate-envs`: prints the table; returns 0 when every task is inside its band, 1 if not.
int run_validate_envs(const ValidateOptions& opt, std::ostream& out);

}  // namespace softrl::apps
