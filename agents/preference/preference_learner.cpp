#include "agents/preference/preference_learner.h"

#include <cmath>
#include <limits>
#include <map>

#include "common/distributed.h"
#include "common/error.h"
#include "objectives/primitives.h"
#include "objectives/softmax.h"

namespace softrl::agents {

// One split's groups, laid out for batched scoring: candidate k of group g is slot g * P + k of a
// padded [G, P] table.
struct PreferenceLearner::Pool {
  struct Pair {
    int64_t i = 0, j = 0;  // positions in the group
    double q = 0.5;        // P(i preferred to j) as labelled
  };
  struct Group {
    std::vector<int64_t> begin, end;  // each candidate's steps
    std::vector<double> target;       // listwise q
    std::vector<double> rank_key;     // the labels' order (Plackett-Luce): larger = better
    std::vector<Pair> pairs;
    int64_t best = 0, label_best = 0;  // truly best; best by the labels
  };
  PolicySteps steps;
  StepScores ref;  // the reference at every step, computed once
  std::vector<Group> groups;
  int64_t width = 0;
  int64_t size() const { return static_cast<int64_t>(groups.size()); }
};

namespace {

using Pool = PreferenceLearner::Pool;
using Objective = PreferenceLearnerSettings::Objective;
using Anchor = PreferenceLearnerSettings::Anchor;

std::unique_ptr<Pool> make_pool(PolicySteps steps, const data::PreferenceView& view,
                                const data::PreferenceSplit& split) {
  auto pool = std::make_unique<Pool>();
  pool->steps = std::move(steps);
  for (const auto& g : split.groups) {
    Pool::Group pg;
    std::map<int64_t, int64_t> position;
    for (int64_t c : g.candidates) {
      const auto& cand = view.candidates[c];
      position[c] = static_cast<int64_t>(pg.begin.size());
      pg.begin.push_back(cand.begin), pg.end.push_back(cand.end);
      pg.rank_key.push_back(g.reversed ? -cand.label_return : cand.label_return);
    }
    pg.target = g.target;
    pg.best = g.best;
    for (size_t k = 1; k < pg.target.size(); ++k)
      if (pg.target[k] > pg.target[pg.label_best]) pg.label_best = static_cast<int64_t>(k);
    pool->width = std::max<int64_t>(pool->width, static_cast<int64_t>(pg.begin.size()));
    pool->groups.push_back(std::move(pg));
  }
  for (const auto& p : split.pairs) {
    Pool::Group& pg = pool->groups[p.group];
    const auto& g = split.groups[p.group];
    int64_t pi = -1, pj = -1;
    for (size_t k = 0; k < g.candidates.size(); ++k) {
      if (g.candidates[k] == p.i) pi = static_cast<int64_t>(k);
      if (g.candidates[k] == p.j) pj = static_cast<int64_t>(k);
    }
    pg.pairs.push_back({pi, pj, p.q});
  }
  return pool;
}

// Which steps a batch of groups holds and where each step's log-prob goes in the [G, P] table.
struct Layout {
  torch::Tensor index, slot, mask, length;
  int64_t G = 0, P = 0;
};

Layout layout(const Pool& pool, const std::vector<int64_t>& groups) {
  Layout L;
  L.G = static_cast<int64_t>(groups.size());
  L.P = pool.width;
  std::vector<int64_t> index, slot;
  L.mask = torch::zeros({L.G, L.P}, torch::kBool);
  L.length = torch::ones({L.G, L.P});
  auto* m = L.mask.data_ptr<bool>();
  auto* len = L.length.data_ptr<float>();
  for (int64_t b = 0; b < L.G; ++b) {
    const Pool::Group& g = pool.groups[groups[b]];
    for (size_t k = 0; k < g.begin.size(); ++k) {
      const int64_t s = b * L.P + static_cast<int64_t>(k);
      m[s] = true;
      len[s] = static_cast<float>(std::max<int64_t>(1, g.end[k] - g.begin[k]));
      for (int64_t t = g.begin[k]; t < g.end[k]; ++t) index.push_back(t), slot.push_back(s);
    }
  }
  L.index = torch::tensor(index, torch::kLong);
  L.slot = torch::tensor(slot, torch::kLong);
  return L;
}

// Per-step values summed into the candidates' slots: [G, P].
torch::Tensor per_candidate(const Layout& L, const torch::Tensor& per_step) {
  return torch::zeros({L.G * L.P}, per_step.options()).index_add(0, L.slot, per_step).view({L.G, L.P});
}

torch::Tensor targets(const Pool& pool, const std::vector<int64_t>& groups, int64_t P,
                      std::vector<double> Pool::Group::*field) {
  torch::Tensor q = torch::zeros({static_cast<int64_t>(groups.size()), P}, torch::kFloat64);
  auto* p = q.data_ptr<double>();
  for (size_t b = 0; b < groups.size(); ++b) {
    const auto& v = pool.groups[groups[b]].*field;
    for (size_t k = 0; k < v.size(); ++k) p[b * P + k] = v[k];
  }
  return q;
}

// The batch's pairs as flat slots and labels.
struct Pairs {
  torch::Tensor i, j, q;
};
Pairs pairs_of(const Pool& pool, const std::vector<int64_t>& groups, int64_t P) {
  std::vector<int64_t> i, j;
  std::vector<double> q;
  for (size_t b = 0; b < groups.size(); ++b)
    for (const auto& p : pool.groups[groups[b]].pairs) {
      i.push_back(static_cast<int64_t>(b) * P + p.i), j.push_back(static_cast<int64_t>(b) * P + p.j);
      q.push_back(p.q);
    }
  return {torch::tensor(i, torch::kLong), torch::tensor(j, torch::kLong), torch::tensor(q, torch::kFloat64)};
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

// The objective's loss on sequence scores l (policy) and l_a (anchor) of the groups laid out as L,
// and in `loss_items` what it is a mean over (groups, or pairs).
torch::Tensor objective_loss(const PreferenceLearnerSettings& cfg, const Pool& train, const std::vector<int64_t>& groups,
                             const Layout& L, const torch::Tensor& l, const torch::Tensor& l_a, double tau,
                             double* loss_items) {
  torch::Tensor loss;
  *loss_items = static_cast<double>(l.size(0));  // the losses are means over groups, or over pairs
  switch (cfg.objective) {
    case Objective::dpo:
    case Objective::adpo_pairwise: {
      const Pairs p = pairs_of(train, groups, L.P);
      const torch::Tensor fl = l.reshape(-1), fa = l_a.reshape(-1);
      if (cfg.objective == Objective::adpo_pairwise) {
        loss = preference::adpo_pairwise_loss(fl.index_select(0, p.i), fl.index_select(0, p.j), fa.index_select(0, p.i),
                                              fa.index_select(0, p.j), p.q.to(l.dtype()), tau);
        *loss_items = static_cast<double>(p.i.numel());
        break;
      }
      // DPO takes hard preferences: the label's side of 1/2 (ties carry no preference).
      const torch::Tensor keep = p.q != 0.5;
      const torch::Tensor i_first = (p.q > 0.5).index({keep});
      const torch::Tensor i = p.i.index({keep}), j = p.j.index({keep});
      const torch::Tensor w = torch::where(i_first, i, j), r = torch::where(i_first, j, i);
      if (w.numel() == 0) {
        loss = (l * 0).sum();
        *loss_items = 0;
        break;
      }
      loss = preference::dpo_loss(fl.index_select(0, w), fl.index_select(0, r), fa.index_select(0, w),
                                  fa.index_select(0, r), cfg.dpo);
      *loss_items = static_cast<double>(w.numel());
      break;
    }
    case Objective::adpo_listwise:
      loss = preference::adpo_listwise_loss(l, l_a, targets(train, groups, L.P, &Pool::Group::target).to(l.dtype()),
                                            tau, L.mask);
      break;
    case Objective::plackett_luce:
      loss = preference::plackett_luce_loss(l, l_a, targets(train, groups, L.P, &Pool::Group::rank_key).to(l.dtype()),
                                            1.0 / tau, L.mask);
      break;
  }
  return loss;
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

PreferenceLearner::PreferenceLearner(const data::Dataset& dataset, const data::PreferenceView& view,
                                     const PreferenceLearnerSettings& settings, ReferenceRecipe reference,
                                     uint64_t seed, const data::Dataset* holdout_dataset,
                                     const data::PreferenceView* holdout_view)
    : cfg_(settings),
      recipe_(std::move(reference)),
      seed_(seed) {
  if (view.train.groups.empty()) throw InputError(dataset.id + ": no training groups (is holdout_fraction 1?)");
  PolicySteps steps = policy_steps(dataset);
  train_ = make_pool(steps, view, view.train);
  if (holdout_dataset) {
    data::PreferenceSplit all = holdout_view->train;
    for (const auto& g : holdout_view->holdout.groups) {
      all.groups.push_back(g);
    }
    for (const auto& p : holdout_view->holdout.pairs) {
      data::PreferencePair q = p;
      q.group += static_cast<int64_t>(holdout_view->train.groups.size());
      all.pairs.push_back(q);
    }
    holdout_ = make_pool(policy_steps(*holdout_dataset), *holdout_view, all);
  } else {
    holdout_ = make_pool(steps, view, view.holdout);
  }
  const PolicySpec spec = recipe_.spec(dataset.env_spec);
  reference_ = recipe_.policy ? recipe_.policy : seeded_policy(spec, seed);
  policy_ = seeded_policy(spec, seed);
  copy_parameters(*policy_, *reference_);
  if (cfg_.anchor != Anchor::fixed) {
    anchor_ = seeded_policy(spec, seed);
    copy_parameters(*anchor_, *reference_);
  }
  optimizer_ =
      std::make_unique<torch::optim::Adam>(policy_->parameters(), torch::optim::AdamOptions(cfg_.learning_rate));
  tau_ = cfg_.objective == Objective::dpo ? 1.0 / cfg_.dpo.beta : cfg_.tau_anchor;
  holdout_metrics_ = torch::full({2}, kNaN, torch::kFloat64);
  if (recipe_.policy) score_reference();
}

PreferenceLearner::~PreferenceLearner() = default;

std::vector<std::string> PreferenceLearner::metric_names() const {
  return {"loss", "heldout_accuracy", "heldout_win_mass", "logratio_winners", "logratio_losers", "kl_to_anchor", "tau"};
}

void PreferenceLearner::score_reference() {
  train_->ref = score_all_steps(*reference_, train_->steps);
  holdout_->ref = holdout_->steps.obs.data_ptr() == train_->steps.obs.data_ptr()
                      ? train_->ref
                      : score_all_steps(*reference_, holdout_->steps);
  ++reference_passes_;
}

void PreferenceLearner::begin() {
  if (recipe_.policy) return;
  clone_behaviour(*reference_, train_->steps, recipe_, seed_, "preference");
  copy_parameters(*policy_, *reference_);
  if (anchor_) copy_parameters(*anchor_, *reference_);
  score_reference();
}

int64_t PreferenceLearner::num_items() const { return train_->size(); }

PreferenceLearner::Scores PreferenceLearner::training_scores(const torch::Tensor& groups) {
  const Layout L = layout(*train_, to_vector(groups));
  const StepScores pi = score_steps(*policy_, train_->steps, L.index);
  Scores s{per_candidate(L, pi.logp), per_candidate(L, train_->ref.logp.index_select(0, L.index)), L.mask, L.length};
  if (cfg_.length_normalize) s.l = s.l / L.length, s.l_ref = s.l_ref / L.length;
  return s;
}

double PreferenceLearner::temperature(const torch::Tensor& entropy_per_step) const {
  if (!cfg_.adaptive_tau) return cfg_.objective == Objective::dpo ? 1.0 / cfg_.dpo.beta : cfg_.tau_anchor;
  const double h = metric_value(entropy_per_step.mean()) / std::log(static_cast<double>(policy_->spec().num_actions));
  return std::clamp(cfg_.tau_anchor * (1.0 + cfg_.tau_alpha * h), cfg_.tau_min, cfg_.tau_max);
}

Metrics PreferenceLearner::update_items(const torch::Tensor& items, at::Generator&, int64_t* steps) {
  if (updates_ % cfg_.holdout_every == 0) refresh_holdout();
  const std::vector<int64_t> groups = to_vector(items);
  const Layout L = layout(*train_, groups);
  *steps = L.index.size(0);
  const StepScores pi = score_steps(*policy_, train_->steps, L.index);
  StepScores anchor;
  if (anchor_) {
    torch::NoGradGuard no_grad;
    anchor = score_steps(*anchor_, train_->steps, L.index);
  } else {
    anchor = train_->ref.index_select(L.index);
  }
  torch::Tensor l = per_candidate(L, pi.logp), l_a = per_candidate(L, anchor.logp);
  if (cfg_.length_normalize) l = l / L.length, l_a = l_a / L.length;
  if (cfg_.adaptive_tau) {
    torch::NoGradGuard no_grad;
    tau_ = temperature(entropy(pi.a));
  }

  const double tau = tau_;
  double loss_items = 0;
  const torch::Tensor loss = objective_loss(cfg_, *train_, groups, L, l, l_a, tau, &loss_items);
  optimizer_->zero_grad();
  loss.backward();
  distributed::sync_gradients(policy_->parameters(),
                              loss_items);  // before clipping: the global gradient is clipped, as DDP does
  torch::nn::utils::clip_grad_norm_(policy_->parameters(), cfg_.max_grad_norm);
  optimizer_->step();
  ++updates_;
  if (cfg_.anchor == Anchor::ema) {
    follow(*anchor_, *policy_, cfg_.ema_rate);
  } else if (cfg_.anchor == Anchor::dynamic && updates_ % cfg_.refresh_every == 0) {
    copy_parameters(*anchor_, *policy_);
  }

  // Log-ratios to the anchor of each group's best candidate by the labels, and of the others.
  torch::NoGradGuard no_grad;
  const torch::Tensor ratio = (l - l_a).detach().to(torch::kFloat64);
  torch::Tensor winner = torch::zeros({L.G, L.P}, torch::kBool);
  for (int64_t b = 0; b < L.G; ++b) winner[b][train_->groups[groups[b]].label_best] = true;
  const torch::Tensor losers = L.mask & ~winner;
  const torch::Tensor accuracy = holdout_metrics_[0], win_mass = holdout_metrics_[1];
  return {{"loss", metric_value(loss)},
          {"heldout_accuracy", accuracy.item<double>()},
          {"heldout_win_mass", win_mass.item<double>()},
          {"logratio_winners", metric_value(ratio.index({winner}).mean())},
          {"logratio_losers", losers.any().item<bool>() ? metric_value(ratio.index({losers}).mean()) : kNaN},
          {"kl_to_anchor", metric_value(step_kl(pi, anchor, policy_->discrete()).mean())},
          {"tau", tau}};
}

void PreferenceLearner::refresh_holdout() {
  torch::NoGradGuard no_grad;
  const Pool& h = *holdout_;
  if (h.size() == 0) return;
  double correct = 0, compared = 0, mass = 0;
  const int64_t chunk = 64;
  for (int64_t g0 = 0; g0 < h.size(); g0 += chunk) {
    std::vector<int64_t> groups;
    for (int64_t g = g0; g < std::min(h.size(), g0 + chunk); ++g) groups.push_back(g);
    const Layout L = layout(h, groups);
    const StepScores pi = score_steps(*policy_, h.steps, L.index);
    torch::Tensor ratio = per_candidate(L, pi.logp) - per_candidate(L, h.ref.logp.index_select(0, L.index));
    if (cfg_.length_normalize) ratio = ratio / L.length;
    ratio = ratio.to(torch::kFloat64);
    const Pairs p = pairs_of(h, groups, L.P);
    const torch::Tensor flat = ratio.reshape(-1);
    const torch::Tensor d = flat.index_select(0, p.i) - flat.index_select(0, p.j);
    const torch::Tensor decided = p.q != 0.5;
    // A tie of the implicit rewards (the reference itself) counts as a coin flip.
    const torch::Tensor agree = torch::where(d == 0, torch::full_like(d, 0.5), ((d > 0) == (p.q > 0.5)).to(d.dtype()));
    correct += metric_value((agree * decided).sum());
    compared += metric_value(decided.sum());
    const torch::Tensor pt = softmax(ratio, {.mask = L.mask, .temperature = tau_});
    for (int64_t b = 0; b < L.G; ++b) mass += pt[b][h.groups[groups[b]].best].item<double>();
  }
  holdout_metrics_ =
      torch::tensor({compared > 0 ? correct / compared : kNaN, mass / static_cast<double>(h.size())}, torch::kFloat64);
}

void PreferenceLearner::set_learning_rate(double lr) {
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void PreferenceLearner::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive ref, opt;
  reference_->save(ref);
  optimizer_->save(opt);
  ar.write("reference", ref);
  ar.write("optimizer", opt);
  if (anchor_) {
    torch::serialize::OutputArchive a;
    anchor_->save(a);
    ar.write("anchor", a);
  }
  ar.write("updates", torch::tensor(updates_));
  ar.write("tau", torch::tensor(tau_, torch::kFloat64));
  ar.write("holdout_metrics", holdout_metrics_);
}

void PreferenceLearner::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive ref, opt;
  ar.read("reference", ref);
  reference_->load(ref, "the preference learner's reference policy");
  ar.read("optimizer", opt);
  optimizer_->load(opt);
  if (anchor_) {
    torch::serialize::InputArchive a;
    ar.read("anchor", a);
    anchor_->load(a, "the preference learner's anchor policy");
  }
  // Fresh tensors: reading into a defined tensor keeps its dtype (the bits of a double would land
  // in an int64).
  torch::Tensor updates, tau;
  ar.read("updates", updates);
  updates_ = updates.item<int64_t>();
  ar.read("tau", tau);
  tau_ = tau.item<double>();
  ar.read("holdout_metrics", holdout_metrics_);
  score_reference();
}

}  // namespace softrl::agents
