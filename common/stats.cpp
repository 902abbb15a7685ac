#include "common/stats.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

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
  s.iqm = iqm(r);
  s.min = r.front();
  s.max = r.back();
  for (double x : returns) s.success_rate += (x >= threshold) / n;
  for (int l : lengths) s.mean_length += l / n;
  return s;
}

namespace {

std::vector<double> pooled(const ScoreMatrix& scores) {
  std::vector<double> all;
  for (const auto& task : scores) all.insert(all.end(), task.begin(), task.end());
  if (all.empty()) throw std::invalid_argument("statistics of an empty score matrix");
  return all;
}

// np.percentile's default (linear interpolation between order statistics).
double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

ScoreMatrix resample(const ScoreMatrix& scores, std::mt19937_64& gen) {
  ScoreMatrix out(scores.size());
  for (size_t t = 0; t < scores.size(); ++t) {
    const size_t n = scores[t].size();
    out[t].resize(n);
    for (size_t k = 0; k < n; ++k)
      out[t][k] = scores[t][static_cast<size_t>(static_cast<double>(gen() >> 11) * 0x1.0p-53 * static_cast<double>(n))];
  }
  return out;
}

Interval interval_of(double point, const std::vector<double>& samples, double confidence) {
  const double tail = (1.0 - confidence) / 2.0;
  return {point, percentile(samples, tail), percentile(samples, 1.0 - tail)};
}

}  // namespace

double iqm(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("iqm of no values");
  std::sort(v.begin(), v.end());
  const size_t cut = v.size() / 4;  // floor(0.25 n)
  double sum = 0;
  for (size_t i = cut; i < v.size() - cut; ++i) sum += v[i];
  return sum / static_cast<double>(v.size() - 2 * cut);
}

double iqm(const ScoreMatrix& scores) { return iqm(pooled(scores)); }

double mean(const ScoreMatrix& scores) {
  const std::vector<double> v = pooled(scores);
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double median(const ScoreMatrix& scores) { return percentile(pooled(scores), 0.5); }

double optimality_gap(const ScoreMatrix& scores, double gamma) {
  const std::vector<double> v = pooled(scores);
  double s = 0;
  for (double x : v) s += std::min(x, gamma);
  return gamma - s / static_cast<double>(v.size());
}

double probability_of_improvement(const ScoreMatrix& x, const ScoreMatrix& y) {
  if (x.size() != y.size() || x.empty()) throw std::invalid_argument("probability_of_improvement: different tasks");
  double total = 0;
  for (size_t t = 0; t < x.size(); ++t) {
    if (x[t].empty() || y[t].empty()) throw std::invalid_argument("probability_of_improvement: a task without runs");
    double u = 0;
    for (double a : x[t])
      for (double b : y[t]) u += a > b ? 1.0 : a == b ? 0.5 : 0.0;
    total += u / (static_cast<double>(x[t].size()) * static_cast<double>(y[t].size()));
  }
  return total / static_cast<double>(x.size());
}

std::vector<double> performance_profile(const ScoreMatrix& scores, const std::vector<double>& thresholds) {
  const std::vector<double> v = pooled(scores);
  std::vector<double> out;
  for (double tau : thresholds)
    out.push_back(static_cast<double>(std::count_if(v.begin(), v.end(), [tau](double s) { return s > tau; })) /
                  static_cast<double>(v.size()));
  return out;
}

Interval stratified_bootstrap(const ScoreMatrix& scores, const std::function<double(const ScoreMatrix&)>& statistic,
                              int reps, uint64_t seed, double confidence) {
  std::mt19937_64 gen(seed);
  std::vector<double> samples(static_cast<size_t>(reps));
  for (double& s : samples) s = statistic(resample(scores, gen));
  return interval_of(statistic(scores), samples, confidence);
}

Interval stratified_bootstrap(const ScoreMatrix& x, const ScoreMatrix& y,
                              const std::function<double(const ScoreMatrix&, const ScoreMatrix&)>& statistic, int reps,
                              uint64_t seed, double confidence) {
  std::mt19937_64 gen(seed);
  std::vector<double> samples(static_cast<size_t>(reps));
  for (double& s : samples) {
    const ScoreMatrix rx = resample(x, gen);
    s = statistic(rx, resample(y, gen));
  }
  return interval_of(statistic(x, y), samples, confidence);
}

}  // namespace softrl
