#pragma once
// The one statistics module: every summary of episode returns (training evaluations, `softrl
// eval`, environment validation) comes from here.
#include <cstdint>
#include <functional>
#include <vector>

namespace softrl {

struct ReturnStats {
  double mean = 0, std = 0, stderr_ = 0, median = 0, iqm = 0, min = 0, max = 0, success_rate = 0, mean_length = 0;
  int episodes = 0;
};

// std is the population standard deviation (NumPy's np.std, as Stable-Baselines3's
// evaluate_policy reports it); stderr_ = std / sqrt(n - 1), which equals the sample standard
// deviation over sqrt(n) (0 for one episode). iqm as iqm() below. success_rate is the share of
// returns >= threshold.
ReturnStats return_stats(const std::vector<double>& returns, const std::vector<int>& lengths, double threshold);

// rliable's aggregate metrics (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
// Precipice"), on scores[task][run] (tasks may have different numbers of runs; every metric pools
// the runs of all tasks as rliable does on its runs x tasks matrix).
using ScoreMatrix = std::vector<std::vector<double>>;

// The interquartile mean: scipy.stats.trim_mean(x, 0.25), which drops floor(n / 4) values from
// each end of the sorted values and averages the rest (rliable's aggregate_iqm).
double iqm(std::vector<double> values);
double iqm(const ScoreMatrix& scores);
double mean(const ScoreMatrix& scores);
double median(const ScoreMatrix& scores);  // of the pooled runs (np.median)
// gamma - mean(min(score, gamma)): how far the runs fall short of `gamma` (rliable: gamma = 1 on
// normalised scores).
double optimality_gap(const ScoreMatrix& scores, double gamma = 1.0);
// P(X > Y): per task the Mann-Whitney statistic U / (n_x n_y) (pairs with x > y, ties counting one
// half), averaged over tasks. X and Y must have the same tasks.
double probability_of_improvement(const ScoreMatrix& x, const ScoreMatrix& y);
// The share of all runs with a score strictly above each threshold (rliable's run-score
// performance profile).
std::vector<double> performance_profile(const ScoreMatrix& scores, const std::vector<double>& thresholds);

struct Interval {
  double point = 0, lo = 0, hi = 0;
};
// A statistic with its stratified bootstrap confidence interval: `reps` resamples of the runs
// within each task (with replacement, the same count), the percentile interval of the resampled
// statistics (linear interpolation, as np.percentile). Deterministic given `seed`.
Interval stratified_bootstrap(const ScoreMatrix& scores, const std::function<double(const ScoreMatrix&)>& statistic,
                              int reps = 2000, uint64_t seed = 0, double confidence = 0.95);
// The same for a statistic of two algorithms' scores (each resampled within each task on its own).
Interval stratified_bootstrap(const ScoreMatrix& x, const ScoreMatrix& y,
                              const std::function<double(const ScoreMatrix&, const ScoreMatrix&)>& statistic,
                              int reps = 2000, uint64_t seed = 0, double confidence = 0.95);

}  // namespace softrl
