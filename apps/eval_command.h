#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct EvalOptions {
  std::string target;  // RUN_DIR, CHECKPOINT file, or heuristic:ENV_ID
  int episodes = 10;
  uint64_t seed = 0;
  bool stochastic = false;
  std::string record;  // .gif: the first episode, animated; .png: its last frame
  bool json = false;
};

struct ReturnStats {
  double mean = 0, std = 0, median = 0, iqm = 0, min = 0, max = 0, success_rate = 0, mean_length = 0;
  int episodes = 0;
};
// Statistics of episode returns; IQM = mean of the middle 50 % (rliable's interquartile mean).
ReturnStats return_stats(const std::vector<double>& returns, const std::vector<int>& lengths, double threshold);

// `softrl eval`: exit 0 on success, 2 for bad input (message on `err`).
int run_eval(const EvalOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
