#include "common/stats.h"

#include <algorithm>
#include <cmath>

namespace softrl {

ReturnStats return_stats(const std::vector<double>& returns, const std::vector<int>& lengths, double threshold) {
  ReturnStats s;
  s.episodes = static_cast<int>(returns.size());
  if (returns.empty()) return s;
  std::vector<double> r = returns;
  std::sort(r.begin(), r.end());
  const double n = static_cast<double>(r.size());
  for (double x : r) s.mean += x / n;
  for (double x : r) s.std += (x - s.mean) * (x - s.mean) / n;
  s.std = std::sqrt(s.std);
  s.stderr_ = r.size() > 1 ? s.std / std::sqrt(n - 1) : 0.0;
  s.median = r.size() % 2 ? r[r.size() / 2] : 0.5 * (r[r.size() / 2 - 1] + r[r.size() / 2]);
  const double lo = 0.25 * n, hi = 0.75 * n;
  double total = 0, weight = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double w = std::max(0.0, std::min(static_cast<double>(i + 1), hi) - std::max(static_cast<double>(i), lo));
    total += w * r[i];
    weight += w;
  }
  s.iqm = total / weight;
  s.min = r.front();
  s.max = r.back();
  for (double x : returns) s.success_rate += (x >= threshold) / n;
  for (int l : lengths) s.mean_length += l / n;
  return s;
}

}  // namespace softrl
