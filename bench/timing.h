#pragma once
// Wall-clock measurement for benchmarks: repeat a callable until a time budget is used, report
// the median of several trials (seconds per call).
#include <functional>
#include <vector>

namespace softrl::bench {

struct TimingOptions {
  double min_seconds_per_trial = 0.05;
  int trials = 5;
};

double median_seconds_per_call(const std::function<void()>& fn, const TimingOptions& opt = {});

// The median of a benchmark's per-round figures (np.median's convention).
double median_of_rounds(const std::vector<double>& values);

}  // namespace softrl::bench
