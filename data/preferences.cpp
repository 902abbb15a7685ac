#include "data/preferences.h"

#include <cmath>
#include <numeric>

#include "common/error.h"
#include "envs/rng.h"
#include "objectives/softmax.h"

namespace softrl::data {
namespace {

// Draws in a fixed order (holdout permutation, then per training group: candidate noise, the
// group's flip, the pairs' flips), so a view is a function of (dataset, settings).
double noise_draw(envs::Rng& rng, const PreferenceSettings& s) {
  switch (s.noise) {
    case PreferenceSettings::Noise::gaussian: {
      double x = s.noise_scale * rng.normal();
      if (s.outlier_fraction > 0 && rng.random() < s.outlier_fraction) x += s.outlier_scale * rng.normal();
      return x;
    }
    case PreferenceSettings::Noise::cauchy: return s.noise_scale * std::tan(M_PI * (rng.random() - 0.5));
    default: return 0.0;
  }
}

// Listwise target over label returns r: hard = uniform over the maxima; soft = softmax(z(r) / beta).
std::vector<double> list_target(const std::vector<double>& r, const PreferenceSettings& s) {
  const size_t k = r.size();
  std::vector<double> q(k, 0.0);
  if (s.label == PreferenceSettings::Label::hard) {
    const double top = *std::max_element(r.begin(), r.end());
    const double ties = static_cast<double>(std::count(r.begin(), r.end(), top));
    for (size_t i = 0; i < k; ++i) q[i] = r[i] == top ? 1.0 / ties : 0.0;
    return q;
  }
  const double mean = std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(k);
  double var = 0;
  for (double v : r) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / static_cast<double>(k));
  torch::Tensor z = torch::empty({1, static_cast<int64_t>(k)}, torch::kFloat64);
  for (size_t i = 0; i < k; ++i) z[0][static_cast<int64_t>(i)] = sd > 0 ? (r[i] - mean) / sd : 0.0;
  const torch::Tensor p = softmax(z, {.temperature = s.list_temperature}).contiguous();
  std::copy(p.data_ptr<double>(), p.data_ptr<double>() + k, q.begin());
  return q;
}

// Pairwise label P(i > j) from the label returns: hard 1 / 0.5 / 0; soft sigmoid(d / T), computed
// as softmax([d, 0] / T)[0] by the shared core.
double pair_label(double d, const PreferenceSettings& s) {
  if (s.label == PreferenceSettings::Label::hard) return d > 0 ? 1.0 : d < 0 ? 0.0 : 0.5;
  const torch::Tensor x = torch::tensor({d, 0.0}, torch::kFloat64).reshape({1, 2});
  return softmax(x, {.temperature = s.pair_temperature})[0][0].item<double>();
}

void label_group(const PreferenceView& v, PreferenceGroup& g, int64_t index, bool noisy, envs::Rng& rng,
                 const PreferenceSettings& s, PreferenceSplit& split) {
  const bool flips = noisy && s.noise == PreferenceSettings::Noise::flip;
  std::vector<double> r;
  for (int64_t c : g.candidates) r.push_back(v.candidates[c].label_return);
  g.reversed = flips && rng.random() < s.flip_probability;
  std::vector<double> ranked = r;
  if (g.reversed)
    for (double& x : ranked) x = -x;
  g.target = list_target(ranked, s);
  for (size_t a = 0; a < g.candidates.size(); ++a)
    for (size_t b = a + 1; b < g.candidates.size(); ++b) {
      double q = pair_label(r[a] - r[b], s);
      if (flips && rng.random() < s.flip_probability) q = 1.0 - q;
      split.pairs.push_back({index, g.candidates[a], g.candidates[b], q});
    }
}

}  // namespace

PreferenceView build_preferences(const Dataset& d, const PreferenceSettings& s) {
  if (d.group_size < 2 || d.num_groups() == 0)
    throw InputError(d.id + ": groups of one episode have nothing to compare (collect with group_size >= 2)");
  const int64_t groups = d.num_groups();
  std::vector<std::vector<int64_t>> members(groups);
  for (int64_t e = 0; e < d.num_episodes(); ++e) members[d.episode_group[e].item<int64_t>()].push_back(e);

  envs::Rng rng(s.seed);
  std::vector<int64_t> order(groups);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = groups - 1; i > 0; --i) std::swap(order[i], order[rng.integers(0, i + 1)]);
  std::vector<char> held(groups, 0);
  const auto n_hold = static_cast<int64_t>(std::floor(s.holdout_fraction * static_cast<double>(groups)));
  for (int64_t i = 0; i < n_hold; ++i) held[order[i]] = 1;

  PreferenceView v;
  const int64_t* st = d.episode_start.data_ptr<int64_t>();
  const double* rew = d.rewards.data_ptr<double>();
  for (int64_t g = 0; g < groups; ++g) {
    PreferenceGroup pg;
    pg.group = g;
    for (int64_t e : members[g]) {
      Candidate c{.episode = e, .begin = st[e], .end = st[e + 1]};
      if (s.segment_steps > 0) c.end = std::min(c.end, c.begin + s.segment_steps);
      for (int64_t k = c.begin; k < c.end; ++k) c.true_return += rew[k];
      c.label_return = c.true_return + (held[g] ? 0.0 : noise_draw(rng, s));
      pg.candidates.push_back(static_cast<int64_t>(v.candidates.size()));
      v.candidates.push_back(c);
    }
    if (pg.candidates.size() < 2) continue;
    for (size_t i = 1; i < pg.candidates.size(); ++i)
      if (v.candidates[pg.candidates[i]].true_return > v.candidates[pg.candidates[pg.best]].true_return)
        pg.best = static_cast<int64_t>(i);
    PreferenceSplit& split = held[g] ? v.holdout : v.train;
    label_group(v, pg, static_cast<int64_t>(split.groups.size()), !held[g], rng, s, split);
    split.groups.push_back(std::move(pg));
  }
  return v;
}

}  // namespace softrl::data
