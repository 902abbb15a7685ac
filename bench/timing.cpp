#include "bench/timing.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/stats.h"

namespace softrl::bench {

double median_seconds_per_call(const std::function<void()>& fn, const TimingOptions& opt) {
  using clock = std::chrono::steady_clock;
  fn();  // warm-up: first-touch allocation, thread pool start
  std::vector<double> per_call;
  for (int t = 0; t < opt.trials; ++t) {
    int64_t calls = 0;
    const auto start = clock::now();
    double elapsed = 0.0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < opt.min_seconds_per_trial);
    per_call.push_back(elapsed / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

double median_of_rounds(const std::vector<double>& values) { return median(ScoreMatrix{values}); }

}  // namespace softrl::bench
