#include "agents/grpo/grpo.h"

#include <cmath>

#include "agents/core/episode_layout.h"
#include "common/distributed.h"
#include "objectives/primitives.h"

namespace softrl::agents {
namespace {

// Each group's members (episode indices) in dataset order.
std::vector<std::vector<int64_t>> group_members(const data::Dataset& d) {
  std::vector<std::vector<int64_t>> m(d.num_groups());
  const torch::Tensor g = d.episode_group.to(torch::kLong).contiguous();
  for (int64_t e = 0; e < d.num_episodes(); ++e) m[g.data_ptr<int64_t>()[e]].push_back(e);
  return m;
}

// A [rows, width] table of values with its membership mask, one group per row.
struct Rows {
  torch::Tensor values, mask;
};
Rows rows_of(const std::vector<std::vector<double>>& groups) {
  size_t width = 1;
  for (const auto& g : groups) width = std::max(width, g.size());
  Rows r{torch::zeros({static_cast<int64_t>(groups.size()), static_cast<int64_t>(width)}, torch::kFloat64),
         torch::zeros({static_cast<int64_t>(groups.size()), static_cast<int64_t>(width)}, torch::kBool)};
  for (size_t i = 0; i < groups.size(); ++i)
    for (size_t j = 0; j < groups[i].size(); ++j) {
      r.values[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = groups[i][j];
      r.mask[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = true;
    }
  return r;
}

// The Gumbel noise of the iteration's soft actions as the sampling policy recovers it,
// eps = g' - log p: mean and standard deviation (Gumbel(0, 1): 0.5772 and 1.2825 when unclamped)
// and the share of entries at a clamp bound.
Metrics noise_statistics(const SoftActionSettings& s, const torch::Tensor& logits, const torch::Tensor& perturbed) {
  torch::NoGradGuard no_grad;
  const grpo::SoftDensityOptions o = s.density_options();
  const torch::Tensor eps = perturbed.to(torch::kFloat64) - soft_log_probs(s, logits).to(torch::kFloat64);
  const double tol = 1e-4;
  const torch::Tensor at_clamp = (eps - o.noise_min).abs().lt(tol).logical_or((eps - o.noise_max).abs().lt(tol));
  return {{"noise_mean", metric_value(eps.mean())},
          {"noise_std", metric_value(eps.std())},
          {"noise_at_clamp", metric_value(at_clamp.to(torch::kFloat64).mean())}};
}

// An iteration's steps as every minibatch reads them: the policy's inputs, the sampling policy's
// and the reference's log-likelihoods (ref undefined without a KL term), per-step advantages and
// the episodes' first steps.
struct IterationSteps {
  PolicySteps steps;
  torch::Tensor old, ref, adv;
  std::vector<int64_t> start;
};

// Sums over an iteration's minibatch updates of what each logs.
struct UpdateTotals {
  double loss = 0, clip = 0, approx_kl = 0, kl = 0, entropy = 0, grad_norm = 0;
  int64_t n = 0;
};

// One clipped-surrogate step on the minibatch of `episodes`.
void update_minibatch(PolicyHead& policy, torch::optim::Adam& optimizer, const GrpoSettings& cfg,
                      const IterationSteps& it, const torch::Tensor& episodes, UpdateTotals& totals) {
  const EpisodeLayout L = episode_layout(it.start, episodes);
  const StepScores pi = score_steps(policy, it.steps, L.index);
  grpo::SurrogateInfo info;
  const torch::Tensor loss = grpo::surrogate_loss(
      L.pad(pi.logp), L.pad(it.old.index_select(0, L.index)), L.pad(it.adv.index_select(0, L.index)), L.valid(),
      cfg.surrogate, it.ref.defined() ? L.pad(it.ref.index_select(0, L.index)) : torch::Tensor(), &info);
  optimizer.zero_grad();
  loss.backward();
  // Data parallel: every rank holds as many episodes, so as many minibatches per epoch. (The
  // count is a reduction of its own: skipped with one process.)
  if (distributed::active())
    distributed::sync_gradients(policy.parameters(), grpo::aggregation_count(L.valid(), cfg.surrogate.aggregation));
  // The score's gradient norm before clipping: how noisy each update's direction is.
  totals.grad_norm += torch::nn::utils::clip_grad_norm_(policy.parameters(), cfg.max_grad_norm);
  optimizer.step();
  torch::NoGradGuard no_grad;
  const torch::Tensor h = policy.discrete() ? entropy(pi.a) : (pi.b + 0.5 * std::log(2 * M_PI * M_E)).sum(-1);
  totals.loss += metric_value(loss), totals.clip += info.clip_fraction, totals.approx_kl += info.approx_kl_old;
  totals.kl += info.kl, totals.entropy += metric_value(h.mean());
  ++totals.n;
}

// The mean over groups of each group's best episode return.
double mean_group_best(const data::Dataset& d) {
  const auto members = group_members(d);
  const double* ret = d.episode_return.to(torch::kFloat64).contiguous().data_ptr<double>();
  double best = 0;
  for (const auto& m : members) {
    double b = -INFINITY;
    for (int64_t e : m) b = std::max(b, ret[e]);
    best += b / static_cast<double>(members.size());
  }
  return best;
}

}  // namespace

Grpo::Grpo(const PolicySpec& spec, const GrpoSettings& settings, uint64_t seed, std::shared_ptr<PolicyHead> initial,
           std::shared_ptr<PolicyHead> reference)
    : cfg_(settings) {
  policy_ = seeded_policy(initial ? initial->spec() : spec, seed);
  if (initial) copy_parameters(*policy_, *initial);
  if (reference) {
    reference_ = reference;
  } else {
    reference_ = seeded_policy(policy_->spec(), seed);
    copy_parameters(*reference_, *policy_);
  }
  optimizer_ =
      std::make_unique<torch::optim::Adam>(policy_->parameters(), torch::optim::AdamOptions(cfg_.learning_rate));
}

std::vector<std::string> Grpo::metric_names() const {
  std::vector<std::string> names = {"mean_return", "group_max_return", "zero_std_groups", "loss",     "clip_fraction",
                                    "approx_kl",   "grad_norm",        "kl_to_reference", "entropy"};
  if (cfg_.soft) names.insert(names.end(), {"noise_mean", "noise_std", "noise_at_clamp"});
  return names;
}

torch::Tensor Grpo::advantages(const data::Dataset& d, double* zero_std_share) const {
  const auto members = group_members(d);
  const double* ret = d.episode_return.to(torch::kFloat64).contiguous().data_ptr<double>();
  const torch::Tensor starts = d.episode_start.to(torch::kLong).contiguous();
  const int64_t* st = starts.data_ptr<int64_t>();
  torch::Tensor per_step = torch::zeros({d.num_steps()}, torch::kFloat64);
  double* a = per_step.data_ptr<double>();
  const GroupOptions opt{.eps = cfg_.advantage_eps, .scale_by_std = cfg_.scale_by_std};
  if (cfg_.advantage == GrpoSettings::Advantage::outcome) {
    std::vector<std::vector<double>> R;
    for (const auto& m : members) {
      R.emplace_back();
      for (int64_t e : m) R.back().push_back(ret[e]);
    }
    const Rows rows = rows_of(R);
    const GroupStats s =
        group_normalize(rows.values, {.mask = rows.mask, .eps = opt.eps, .scale_by_std = opt.scale_by_std});
    if (zero_std_share) *zero_std_share = metric_value(s.zero_std.to(torch::kFloat64).mean());
    const torch::Tensor adv = s.advantages.contiguous();
    for (size_t g = 0; g < members.size(); ++g)
      for (size_t j = 0; j < members[g].size(); ++j) {
        const int64_t e = members[g][j];
        const double v = adv[static_cast<int64_t>(g)][static_cast<int64_t>(j)].item<double>();
        for (int64_t t = st[e]; t < st[e + 1]; ++t) a[t] = v;
      }
    return per_step;
  }
  // Process supervision (DeepSeekMath): step rewards normalised over the whole group, then each
  // step's advantage is the sum of the normalised rewards from it to its episode's end.
  const double* r = d.rewards.to(torch::kFloat64).contiguous().data_ptr<double>();
  std::vector<std::vector<double>> steps;
  for (const auto& m : members) {
    steps.emplace_back();
    for (int64_t e : m)
      for (int64_t t = st[e]; t < st[e + 1]; ++t) steps.back().push_back(r[t]);
  }
  const Rows rows = rows_of(steps);
  const GroupStats s =
      group_normalize(rows.values, {.mask = rows.mask, .eps = opt.eps, .scale_by_std = opt.scale_by_std});
  if (zero_std_share) *zero_std_share = metric_value(s.zero_std.to(torch::kFloat64).mean());
  const torch::Tensor norm = s.advantages.contiguous();
  for (size_t g = 0; g < members.size(); ++g) {
    const double* row = norm[static_cast<int64_t>(g)].data_ptr<double>();
    int64_t k = 0;
    for (int64_t e : members[g]) {
      const int64_t len = st[e + 1] - st[e];
      double acc = 0;
      for (int64_t t = len - 1; t >= 0; --t) a[st[e] + t] = acc += row[k + t];
      k += len;
    }
  }
  return per_step;
}

Metrics Grpo::learn(const data::Dataset& d, at::Generator& gen, int64_t* updates) {
  IterationSteps it;
  it.steps = cfg_.soft ? soft_policy_steps(*cfg_.soft, d) : policy_steps(d);
  const StepScores sampling = score_all_steps(*policy_, it.steps);
  it.old = sampling.logp;
  if (cfg_.surrogate.kl_coef > 0) it.ref = score_all_steps(*reference_, it.steps).logp;
  double zero_std = 0;
  it.adv = advantages(d, &zero_std).to(torch::kFloat32);
  const torch::Tensor starts = d.episode_start.to(torch::kLong).contiguous();
  it.start.assign(starts.data_ptr<int64_t>(), starts.data_ptr<int64_t>() + starts.numel());
  const int64_t E = d.num_episodes(), mb = std::max<int64_t>(1, cfg_.minibatch_episodes);

  UpdateTotals totals;
  for (int64_t epoch = 0; epoch < cfg_.epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(E, gen, torch::kLong);
    for (int64_t b = 0; b < E; b += mb)
      update_minibatch(*policy_, *optimizer_, cfg_, it, order.narrow(0, b, std::min(mb, E - b)), totals);
  }
  *updates = totals.n;
  const double k = static_cast<double>(std::max<int64_t>(1, totals.n));
  Metrics out = {{"mean_return", metric_value(d.episode_return.to(torch::kFloat64).mean())},
                 {"group_max_return", mean_group_best(d)},
                 {"zero_std_groups", zero_std},
                 {"loss", totals.loss / k},
                 {"clip_fraction", totals.clip / k},
                 {"approx_kl", totals.approx_kl / k},
                 {"grad_norm", totals.grad_norm / k},
                 {"kl_to_reference", it.ref.defined() ? totals.kl / k : 0.0},
                 {"entropy", totals.entropy / k}};
  if (cfg_.soft) {
    const Metrics noise = noise_statistics(*cfg_.soft, sampling.a, it.steps.perturbed);
    out.insert(out.end(), noise.begin(), noise.end());
  }
  return out;
}

void Grpo::set_learning_rate(double lr) {
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void Grpo::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive ref, opt;
  reference_->save(ref);
  optimizer_->save(opt);
  ar.write("reference", ref);
  ar.write("optimizer", opt);
}

void Grpo::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive ref, opt;
  ar.read("reference", ref);
  reference_->load(ref, "the GRPO reference policy");
  ar.read("optimizer", opt);
  optimizer_->load(opt);
}

}  // namespace softrl::agents
