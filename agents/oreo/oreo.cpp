#include "agents/oreo/oreo.h"

#include <cmath>

#include "agents/core/episode_layout.h"
#include "common/distributed.h"
#include "objectives/primitives.h"

namespace softrl::agents {

// The episodes prepared for updates: per-step inputs of the networks and losses, per-episode
// bootstrap data, and the reference policy's quantities computed once (TRL's
// precompute_ref_log_probs: pi_ref is frozen).
struct Oreo::Table {
  torch::Tensor obs, actions, u, reward, time_left;                     // steps
  torch::Tensor truncated, final_obs, final_time_left, episode_return;  // episodes
  std::vector<int64_t> start;                                           // [E + 1]
  torch::Tensor ref_logp, ref_a, ref_b;  // categorical: logits in ref_a; Gaussian: mu, log_std
  int64_t episodes() const { return static_cast<int64_t>(start.size()) - 1; }
  int64_t steps() const { return start.back(); }
};

namespace {

using Table = Oreo::Table;

// The per-step tensors and episode tables of a dataset, rewards transformed as configured.
Table prepare(const data::Dataset& d, const OreoSettings& cfg, const ValueFunction& v) {
  Table t;
  const int64_t n = d.num_steps(), e = d.num_episodes();
  const torch::Tensor start = d.episode_start.to(torch::kLong).contiguous();
  t.start.assign(start.data_ptr<int64_t>(), start.data_ptr<int64_t>() + e + 1);
  const PolicySteps steps = policy_steps(d);
  t.obs = steps.obs, t.actions = steps.actions, t.u = steps.u;
  torch::Tensor elapsed = torch::empty({n}, torch::kLong);
  auto* el = elapsed.data_ptr<int64_t>();
  torch::Tensor final_elapsed = torch::empty({e}, torch::kLong);
  for (int64_t i = 0; i < e; ++i) {
    for (int64_t s = t.start[i]; s < t.start[i + 1]; ++s) el[s] = s - t.start[i];
    final_elapsed[i] = t.start[i + 1] - t.start[i];
  }
  t.time_left = v.time_left(elapsed);
  t.final_time_left = v.time_left(final_elapsed);
  t.episode_return = d.episode_return.to(torch::kFloat64);
  if (cfg.reward == OreoSettings::Reward::dense) {
    t.reward = (d.rewards.to(torch::kFloat64) / cfg.reward_scale).to(torch::kFloat32);
  } else {
    // OREO's terminal reward R in {0, 1}: success at the episode's last step.
    t.reward = torch::zeros({n}, torch::kFloat32);
    for (int64_t i = 0; i < e; ++i)
      if (t.start[i + 1] > t.start[i] && t.episode_return[i].item<double>() >= cfg.success_return)
        t.reward[t.start[i + 1] - 1] = 1.0f;
  }
  // Truncated but not terminated: the future beyond the data is bootstrapped from V.
  const torch::Tensor last = torch::tensor(std::vector<int64_t>(t.start.begin() + 1, t.start.end())) - 1;
  const torch::Tensor nonempty = torch::tensor(std::vector<int64_t>(t.start.begin() + 1, t.start.end())) >
                                 torch::tensor(std::vector<int64_t>(t.start.begin(), t.start.end() - 1));
  const torch::Tensor safe_last = last.clamp_min(0);
  t.truncated = nonempty & d.truncations.index_select(0, safe_last) & ~d.terminations.index_select(0, safe_last);
  if (cfg.time_feature) {
    // With the time left in V's input, the time limit ends the (time-augmented) MDP: nothing to
    // bootstrap there (Pardo et al. 2018), and V at zero time left would be an untrained guess.
    const torch::Tensor len = torch::tensor(std::vector<int64_t>(t.start.begin() + 1, t.start.end())) -
                              torch::tensor(std::vector<int64_t>(t.start.begin(), t.start.end() - 1));
    t.truncated = t.truncated & (len < v.max_steps);
  }
  t.final_obs = d.final_observations.to(torch::kFloat32);
  return t;
}

void append(Table& a, const Table& b) {
  const int64_t offset = a.steps();
  for (auto [x, y] : {std::pair{&a.obs, &b.obs},
                      {&a.actions, &b.actions},
                      {&a.u, &b.u},
                      {&a.reward, &b.reward},
                      {&a.time_left, &b.time_left},
                      {&a.truncated, &b.truncated},
                      {&a.final_obs, &b.final_obs},
                      {&a.final_time_left, &b.final_time_left},
                      {&a.episode_return, &b.episode_return},
                      {&a.ref_logp, &b.ref_logp},
                      {&a.ref_a, &b.ref_a},
                      {&a.ref_b, &b.ref_b}})
    if (x->defined()) *x = torch::cat({*x, *y});
  for (size_t i = 1; i < b.start.size(); ++i) a.start.push_back(offset + b.start[i]);
}

// The reference's log-probs and distribution parameters for every step.
void compute_reference(Table& t, PolicyHead& ref) {
  const StepScores r = score_all_steps(ref, {t.obs, t.actions, t.u});
  t.ref_logp = r.logp, t.ref_a = r.a, t.ref_b = r.b;
}

ValueFunction seeded_value(const data::Dataset& d, const OreoSettings& cfg, uint64_t seed) {
  torch::manual_seed(seed + 1);
  ValueFunction v(d.obs_dim(), cfg.value_arch, cfg.time_feature, d.env_spec.max_episode_steps);
  // OREO zero-initialises its value head: V starts at 0 everywhere.
  torch::NoGradGuard no_grad;
  auto last = v.net->layers->ptr(v.net->layers->size() - 1)->as<torch::nn::Linear>();
  last->weight.zero_();
  last->bias.zero_();
  return v;
}

torch::optim::AdamOptions adam(double lr) { return torch::optim::AdamOptions(lr).betas({0.9, 0.95}); }  // OREO's betas

// The soft Bellman batch of episodes `ep` laid out as L: the policy's log-probs `logp` at L's steps,
// the reference's, the rewards, V at each row's first step (with gradient) and V at each episode's
// cut (a constant: the bootstrap of truncated episodes).
oreo::SoftBellmanBatch bellman_batch(const Oreo::Table& d, ValueFunction& value, const EpisodeLayout& L,
                                     const torch::Tensor& ep, const torch::Tensor& logp) {
  const torch::Tensor& I = L.index;
  oreo::SoftBellmanBatch b;
  b.valid = L.pad(torch::ones({L.steps()})) > 0;
  b.logp = L.pad(logp);
  b.logp_ref = L.pad(d.ref_logp.index_select(0, I));
  b.rewards = L.pad(d.reward.index_select(0, I));
  const torch::Tensor firsts = I.index_select(0, L.first);
  const torch::Tensor v =
      value.net->forward(value.input(d.obs.index_select(0, firsts), d.time_left.index_select(0, firsts))).squeeze(-1);
  b.values = torch::zeros({ep.size(0), L.cols}, v.options())
                 .index_put({L.row.index_select(0, L.first), L.col.index_select(0, L.first)}, v);
  b.truncated = d.truncated.index_select(0, ep);
  torch::NoGradGuard no_grad;
  b.bootstrap_value =
      value.net->forward(value.input(d.final_obs.index_select(0, ep), d.final_time_left.index_select(0, ep))).squeeze(-1);
  return b;
}

}  // namespace

Oreo::Oreo(const data::Dataset& dataset, const OreoSettings& settings, ReferenceRecipe reference, uint64_t seed,
           RoundCollector collect_round)
    : cfg_(settings),
      recipe_(std::move(reference)),
      seed_(seed),
      collect_round_(std::move(collect_round)),
      base_episodes_(dataset.num_episodes()),
      value_(seeded_value(dataset, settings, seed)) {
  data_ = std::make_unique<Table>(prepare(dataset, settings, value_));
  if (data_->steps() == 0) throw InputError(dataset.id + ": the dataset has no steps");
  const PolicySpec spec = recipe_.spec(dataset.env_spec);
  reference_ = recipe_.policy ? recipe_.policy : seeded_policy(spec, seed);
  policy_ = seeded_policy(spec, seed);
  copy_parameters(*policy_, *reference_);
  policy_opt_ = std::make_unique<torch::optim::Adam>(policy_->parameters(), adam(cfg_.policy_learning_rate));
  value_opt_ = std::make_unique<torch::optim::Adam>(value_.net->parameters(), adam(cfg_.value_learning_rate));
  if (recipe_.policy) compute_reference(*data_, *reference_);
}

Oreo::~Oreo() = default;

std::vector<std::string> Oreo::metric_names() const {
  return {"value_loss", "policy_loss", "mean_abs_residual", "kl_to_reference", "v_start", "return_start"};
}

std::vector<torch::Tensor> Oreo::trained_parameters() {
  std::vector<torch::Tensor> p = value_.net->parameters();
  for (const torch::Tensor& t : policy_->parameters()) p.push_back(t);
  return p;
}

void Oreo::begin() {
  if (recipe_.policy) return;
  // The reference: behaviour cloning of the same dataset, before OREO starts from it.
  clone_behaviour(*reference_, {data_->obs, data_->actions, data_->u}, recipe_, seed_, "oreo");
  copy_parameters(*policy_, *reference_);
  compute_reference(*data_, *reference_);
}

int64_t Oreo::num_items() const { return data_->episodes(); }

Metrics Oreo::update_items(const torch::Tensor& items, at::Generator&, int64_t* steps) {
  const Table& d = *data_;
  const torch::Tensor ep = items.to(torch::kLong).contiguous();
  const int64_t B = ep.size(0);
  const EpisodeLayout L = episode_layout(d.start, ep, cfg_.chunk);
  *steps = L.steps();
  const torch::Tensor& I = L.index;
  const StepScores pi = score_steps(*policy_, {d.obs, d.actions, d.u}, I);
  const StepScores ref{d.ref_logp, d.ref_a, d.ref_b};
  const torch::Tensor kl_step = step_kl(pi, ref.index_select(I), policy_->discrete());
  const oreo::SoftBellmanBatch b = bellman_batch(d, value_, L, ep, pi.logp);

  // Critic loss L_V (the policy's log-ratios are constants there) and actor loss L_pi on the values
  // from before the critic step: two separate graphs, so both backward passes run before either
  // step, and data-parallel ranks average both gradients in one all-reduce.
  oreo::SoftBellmanBatch vb = b;
  vb.logp = b.logp.detach();
  oreo::SoftBellmanInfo vinfo, pinfo;
  const torch::Tensor lv = oreo::value_loss(vb, cfg_.loss, &vinfo);
  oreo::SoftBellmanBatch pb = b;
  pb.values = b.values.detach();
  pb.kl_per_step = L.pad(kl_step) / L.pad(torch::ones({*steps})).clamp_min(1);
  const torch::Tensor lp = oreo::policy_loss(pb, cfg_.loss, &pinfo);
  value_opt_->zero_grad();
  policy_opt_->zero_grad();
  lv.backward();
  lp.backward();
  // Both losses are means over the batch's episodes (each episode's steps averaged first), so each
  // rank's gradients weigh by its episodes. The KL term of L_pi is a mean over steps instead: with
  // kl_coef > 0 the ranks' KL gradients then weigh by episodes, not steps, which equals one
  // process's when the ranks' batches hold as many steps per episode on average (exact with 0).
  distributed::sync_gradients(trained_parameters(), static_cast<double>(B));
  torch::nn::utils::clip_grad_norm_(value_.net->parameters(), cfg_.max_grad_norm);
  value_opt_->step();
  torch::nn::utils::clip_grad_norm_(policy_->parameters(), cfg_.max_grad_norm);
  policy_opt_->step();

  return {{"value_loss", vinfo.value_loss},
          {"policy_loss", pinfo.policy_loss},
          {"mean_abs_residual", vinfo.mean_abs_residual},
          {"kl_to_reference", pinfo.kl},
          {"v_start", metric_value(b.values.select(1, 0).mean())},
          {"return_start", metric_value(b.rewards.sum(1).mean())}};
}

void Oreo::set_learning_rate(double lr) {
  // The loop's schedule is the policy's; the value's follows it in proportion.
  const double scale = lr / cfg_.policy_learning_rate;
  for (auto& g : policy_opt_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
  for (auto& g : value_opt_->param_groups())
    static_cast<torch::optim::AdamOptions&>(g.options()).lr(cfg_.value_learning_rate * scale);
}

void Oreo::next_round(int round) {
  if (!collect_round_) return;
  Table more = prepare(collect_round_(*policy_, round), cfg_, value_);
  compute_reference(more, *reference_);
  append(*data_, more);
}

void Oreo::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive ref, value, popt, vopt, rounds;
  reference_->save(ref);
  value_.net->save(value);
  policy_opt_->save(popt);
  value_opt_->save(vopt);
  ar.write("reference", ref);
  ar.write("value", value);
  ar.write("policy_optimizer", popt);
  ar.write("value_optimizer", vopt);
  // The episodes later rounds collected: part of the run's state (the policies that made them are gone).
  const Table& d = *data_;
  const int64_t s0 = d.start[base_episodes_], n = d.steps() - s0, e = d.episodes() - base_episodes_;
  rounds.write("episodes", torch::tensor(e));
  if (e > 0) {
    rounds.write("start", torch::tensor(std::vector<int64_t>(d.start.begin() + base_episodes_, d.start.end())) - s0);
    for (auto [name, t] : {std::pair{"obs", &d.obs},
                           {"actions", &d.actions},
                           {"u", &d.u},
                           {"reward", &d.reward},
                           {"time_left", &d.time_left}})
      if (t->defined()) rounds.write(name, t->narrow(0, s0, n));
    for (auto [name, t] : {std::pair{"truncated", &d.truncated},
                           {"final_obs", &d.final_obs},
                           {"final_time_left", &d.final_time_left},
                           {"episode_return", &d.episode_return}})
      rounds.write(name, t->narrow(0, base_episodes_, e));
  }
  ar.write("rounds", rounds);
}

void Oreo::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive ref, value, popt, vopt, rounds;
  ar.read("reference", ref);
  reference_->load(ref, "the OREO reference policy");
  ar.read("value", value);
  value_.net->load(value);
  ar.read("policy_optimizer", popt);
  policy_opt_->load(popt);
  ar.read("value_optimizer", vopt);
  value_opt_->load(vopt);
  ar.read("rounds", rounds);
  torch::Tensor e;
  rounds.read("episodes", e);
  compute_reference(*data_, *reference_);
  if (e.item<int64_t>() > 0) {
    Table more;
    torch::Tensor start;
    rounds.read("start", start);
    start = start.contiguous();
    more.start.assign(start.data_ptr<int64_t>(), start.data_ptr<int64_t>() + start.numel());
    for (auto [name, t] : {std::pair{"obs", &more.obs},
                           {"actions", &more.actions},
                           {"reward", &more.reward},
                           {"time_left", &more.time_left},
                           {"truncated", &more.truncated},
                           {"final_obs", &more.final_obs},
                           {"final_time_left", &more.final_time_left},
                           {"episode_return", &more.episode_return}})
      rounds.read(name, *t);
    if (data_->u.defined()) rounds.read("u", more.u);
    compute_reference(more, *reference_);
    append(*data_, more);
  }
}

}  // namespace softrl::agents
