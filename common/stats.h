#pragma once
// The one statistics module: every summary of episode returns (training evaluations, `softrl
// eval`, environment validation) comes from here.
#include <vector>

namespace softrl {

struct ReturnStats {
  double mean = 0, std = 0, stderr_ = 0, median = 0, iqm = 0, min = 0, max = 0, success_rate = 0, mean_length = 0;
  int episodes = 0;
};

// std is the population standard deviation (NumPy's np.std, as Stable-Baselines3's
// evaluate_policy reports it); stderr_ = std / sqrt(n - 1), which equals the sample standard
// deviation over sqrt(n) (0 for one episode). IQM = the mean of the middle 50 %, with fractional
// weights at the quartiles (rliable's interquartile mean, Agarwal et al. 2021). success_rate is the
// share of returns >= threshold.
ReturnStats return_stats(const std::vector<double>& returns, const std::vector<int>& lengths, double threshold);

}  // namespace softrl
