#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace softrl::data {

int64_t Dataset::tensor_bytes() const {
  int64_t n = 0;
  for (const torch::Tensor* t : {&observations, &actions, &pre_tanh_actions, &rewards, &terminations, &truncations,
                                 &behaviour_log_prob, &step_source, &perturbed_logits, &final_observations,
                                 &episode_start, &episode_seed, &episode_group, &episode_source, &episode_return})
    if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

void allocate(Dataset& d, const std::vector<int64_t>& lengths) {
  const int64_t e = static_cast<int64_t>(lengths.size());
  d.episode_start = torch::empty({e + 1}, torch::kInt64);
  int64_t* s = d.episode_start.data_ptr<int64_t>();
  s[0] = 0;
  for (int64_t i = 0; i < e; ++i) s[i + 1] = s[i] + lengths[i];
  const int64_t n = s[e], od = d.obs_dim(), ad = d.act_dim();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  d.observations = torch::empty({n, od}, torch::kFloat32);
  if (d.discrete()) {
    d.actions = torch::zeros({n}, torch::kInt64);
    d.pre_tanh_actions = torch::Tensor();
  } else {
    d.actions = torch::zeros({n, ad}, torch::kFloat32);
    d.pre_tanh_actions = torch::full({n, ad}, nan, torch::kFloat32);
  }
  d.rewards = torch::zeros({n}, torch::kFloat64);
  d.terminations = torch::zeros({n}, torch::kBool);
  d.truncations = torch::zeros({n}, torch::kBool);
  d.behaviour_log_prob = torch::full({n}, nan, torch::kFloat64);
  d.step_source = torch::zeros({n}, torch::kInt64);
  d.final_observations = torch::empty({e, od}, torch::kFloat32);
  d.episode_seed = torch::zeros({e}, torch::kInt64);
  d.episode_group = torch::zeros({e}, torch::kInt64);
  d.episode_source = torch::zeros({e}, torch::kInt64);
  d.episode_return = torch::zeros({e}, torch::kFloat64);
}

void check_consistent(const Dataset& d, const std::string& source) {
  const auto fail = [&](const std::string& what) { throw InputError(source + ": " + what); };
  const int64_t e = d.num_episodes(), n = d.num_steps();
  if (e == 0 || n == 0) fail("the dataset is empty (no episodes)");
  if (!torch::isfinite(d.observations).all().item<bool>() || !torch::isfinite(d.final_observations).all().item<bool>())
    fail("observations hold NaN or infinity");
  if (!torch::isfinite(d.rewards).all().item<bool>()) fail("rewards hold NaN or infinity");
  if (!d.discrete() && !torch::isfinite(d.actions).all().item<bool>()) fail("actions hold NaN or infinity");
  if (d.discrete()) {
    const int64_t lo = d.actions.min().item<int64_t>(), hi = d.actions.max().item<int64_t>();
    if (lo < 0 || hi >= d.env_spec.action_space.n)
      fail("discrete actions outside [0, " + std::to_string(d.env_spec.action_space.n) + ")");
  }
  const int64_t g = d.num_groups(), s = static_cast<int64_t>(d.sources.size());
  if (d.episode_group.min().item<int64_t>() < 0 || d.episode_group.max().item<int64_t>() >= g)
    fail("episode group ids outside the group table (" + std::to_string(g) + " groups)");
  if (d.episode_source.min().item<int64_t>() < 0 || d.episode_source.max().item<int64_t>() >= s)
    fail("episode source ids outside the source table (" + std::to_string(s) + " sources)");
  // Each episode's recorded return is the sum of its rewards (a float64 sum in step order).
  const int64_t* st = d.episode_start.data_ptr<int64_t>();
  const double* r = d.rewards.data_ptr<double>();
  const double* ret = d.episode_return.data_ptr<double>();
  for (int64_t i = 0; i < e; ++i) {
    double sum = 0;
    for (int64_t k = st[i]; k < st[i + 1]; ++k) sum += r[k];
    if (!(std::abs(sum - ret[i]) <= 1e-9 * (1 + std::abs(sum))))
      fail("episode " + std::to_string(i) + ": its return attribute " + std::to_string(ret[i]) +
           " is not the sum of its rewards " + std::to_string(sum));
  }
}

std::vector<int64_t> top_episodes(const Dataset& d, double fraction) {
  const int64_t e = d.num_episodes();
  const int64_t keep = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(fraction * static_cast<double>(e))), 1, e);
  std::vector<int64_t> idx(e);
  std::iota(idx.begin(), idx.end(), 0);
  const double* r = d.episode_return.data_ptr<double>();
  std::stable_sort(idx.begin(), idx.end(), [r](int64_t a, int64_t b) { return r[a] > r[b]; });
  idx.resize(keep);
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<int64_t> episodes_with_return_at_least(const Dataset& d, double min_return) {
  std::vector<int64_t> idx;
  const double* r = d.episode_return.data_ptr<double>();
  for (int64_t i = 0; i < d.num_episodes(); ++i)
    if (r[i] >= min_return) idx.push_back(i);
  return idx;
}

Dataset select_episodes(const Dataset& d, const std::vector<int64_t>& episodes) {
  Dataset out;
  out.id = d.id;
  out.env_id = d.env_id;
  out.env_options = d.env_options;
  out.env_spec = d.env_spec;
  out.sources = d.sources;
  out.group_size = d.group_size;
  out.group_seeds = d.group_seeds;
  out.collection_config = d.collection_config;
  const int64_t* st = d.episode_start.data_ptr<int64_t>();
  std::vector<int64_t> lengths, rows;
  for (int64_t e : episodes) {
    lengths.push_back(st[e + 1] - st[e]);
    for (int64_t k = st[e]; k < st[e + 1]; ++k) rows.push_back(k);
  }
  allocate(out, lengths);
  const torch::Tensor r = torch::tensor(rows, torch::kInt64), ep = torch::tensor(episodes, torch::kInt64);
  out.observations = d.observations.index_select(0, r);
  out.actions = d.actions.index_select(0, r);
  if (d.pre_tanh_actions.defined()) out.pre_tanh_actions = d.pre_tanh_actions.index_select(0, r);
  out.rewards = d.rewards.index_select(0, r);
  out.terminations = d.terminations.index_select(0, r);
  out.truncations = d.truncations.index_select(0, r);
  out.behaviour_log_prob = d.behaviour_log_prob.index_select(0, r);
  out.step_source = d.step_source.index_select(0, r);
  if (d.perturbed_logits.defined()) out.perturbed_logits = d.perturbed_logits.index_select(0, r);
  out.final_observations = d.final_observations.index_select(0, ep);
  out.episode_seed = d.episode_seed.index_select(0, ep);
  out.episode_group = d.episode_group.index_select(0, ep);
  out.episode_source = d.episode_source.index_select(0, ep);
  out.episode_return = d.episode_return.index_select(0, ep);
  return out;
}

}  // namespace softrl::data
