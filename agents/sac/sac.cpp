#include "agents/sac/sac.h"

#include <array>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>

#include "agents/core/checkpoint.h"
#include "agents/core/sliced_adam.h"
#include "agents/core/squashed_gaussian_head.h"
#include "common/runtime.h"
#include "objectives/primitives.h"
#include "objectives/sac.h"

namespace softrl::agents {
namespace {
// The policy's spec with SAC's hidden layers; network initialization is seeded before anything.
PolicySpec seeded_spec(PolicySpec spec, const std::vector<int64_t>& hidden, uint64_t seed) {
  torch::manual_seed(seed);
  spec.hidden = hidden;
  return spec;
}

void minimize(torch::optim::Optimizer& opt, const torch::Tensor& loss) {
  opt.zero_grad();
  loss.backward();
  opt.step();
}

// Gradients that tasks write or add into must exist before the tasks start.
void allocate_gradients(const std::vector<torch::Tensor>& params) {
  for (auto p : params)
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
}

// The metrics of one update, in metric_names() order; alpha is the temperature after its step.
Metrics update_metrics(const torch::Tensor& critic_loss, const torch::Tensor& actor_loss, double alpha_loss,
                       double alpha, const sac::CriticLossInfo& ci, const sac::ActorLossInfo& ai) {
  return {{"critic_loss", critic_loss.item<double>()},
          {"actor_loss", actor_loss.item<double>()},
          {"alpha_loss", alpha_loss},
          {"alpha", alpha},
          {"entropy", ai.entropy},
          {"q1_mean", ci.q1_mean},
          {"q2_mean", ci.q2_mean},
          {"target_q_mean", ci.target_mean}};
}

// Both members' outputs [B, 1] as the losses take them: [2, B].
torch::Tensor member_outputs(const std::array<std::vector<torch::Tensor>, 2>& acts) {
  return torch::stack({acts[0].back(), acts[1].back()}).squeeze(-1);
}
}  // namespace

void give_threads(SacConfig& cfg, const PolicySpec& policy, int threads) {
  const bool split = policy.kind != PolicySpec::Kind::categorical;
  if (split) cfg.threads = threads;
  set_compute_threads(split ? 1 : threads);
}

Sac::Sac(const SacConfig& cfg, const PolicySpec& policy, uint64_t seed)
    : cfg_(cfg),
      policy_(seeded_spec(policy, cfg.net_arch, seed)) {
  const int64_t obs_dim = policy.obs_dim;
  if (discrete()) {
    critic_ = EnsembleMlp(2, obs_dim, cfg.net_arch, policy.num_actions);
    critic_target_ = EnsembleMlp(2, obs_dim, cfg.net_arch, policy.num_actions);
    target_entropy_ =
        cfg.target_entropy.value_or(sac::discrete_target_entropy(policy.num_actions, cfg.target_entropy_scale));
  } else {
    critic_ = EnsembleMlp(2, obs_dim + policy.act_dim, cfg.net_arch, 1);
    critic_target_ = EnsembleMlp(2, obs_dim + policy.act_dim, cfg.net_arch, 1);
    target_entropy_ = cfg.target_entropy.value_or(sac::continuous_target_entropy(policy.act_dim));
  }
  {
    torch::NoGradGuard ng;
    const auto src = critic_->parameters();
    const auto dst = critic_target_->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  log_alpha_ = torch::full({}, std::log(cfg.ent_coef_init), torch::requires_grad(cfg.auto_ent_coef));
  const double lr = cfg.learning_rate.at(1.0);
  actor_opt_ = std::make_unique<torch::optim::Adam>(policy_.parameters(), torch::optim::AdamOptions(lr));
  critic_opt_ = std::make_unique<torch::optim::Adam>(critic_->parameters(), torch::optim::AdamOptions(lr));
  alpha_opt_ =
      std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{log_alpha_}, torch::optim::AdamOptions(lr));
  // Workers take LibTorch's intra-op thread count of the moment (1 when the update is split).
  pool_ = std::make_unique<ForkJoinPool>(discrete() ? 1 : std::max(1, cfg.threads), [] { at::init_num_threads(); });
}

std::vector<std::string> Sac::metric_names() const {
  return {"critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q1_mean", "q2_mean", "target_q_mean"};
}

// Checked after every update: on the update's threads, half of every parameter each.
bool Sac::finite() {
  const std::vector<torch::Tensor> params = all_parameters();
  std::array<bool, 2> ok{};
  fork([&](int64_t k) { ok[static_cast<size_t>(k)] = all_finite(params, k, 2); });
  return ok[0] && ok[1];
}

double Sac::alpha() const { return std::exp(log_alpha_.item<double>()); }

void Sac::set_learning_rate(double lr) {
  for (auto* opt : {actor_opt_.get(), critic_opt_.get(), alpha_opt_.get()})
    for (auto& g : opt->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

// Runs f(0) and f(1) (one per critic member) on the pool; an exception in either is rethrown here.
void Sac::fork(const std::function<void(int64_t)>& f) {
  std::exception_ptr error;
  std::mutex m;
  pool_->run(2, [&](int64_t i) {
    try {
      f(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

double Sac::update_temperature(const torch::Tensor& x) {
  if (!cfg_.auto_ent_coef) return std::numeric_limits<double>::quiet_NaN();  // a fixed temperature has no loss
  torch::NoGradGuard no_graph;
  const torch::Tensor la = discrete() ? sac::discrete_temperature_loss(log_alpha_, x, target_entropy_)
                                      : sac::continuous_temperature_loss(log_alpha_, x, target_entropy_);
  // Both losses are -exp(log α) · gap with the gap held fixed, so the loss is its own derivative
  // in log α, bit for bit what autograd computes ((-gap) · exp(log α)), without building a graph
  // for one scalar on the training step's serial path.
  log_alpha_.mutable_grad() = la;           // computed without a graph: nothing else holds it
  SlicedAdamStep(*alpha_opt_).apply(0, 1);  // Adam's step without torch::optim's per-call bookkeeping
  return la.item<double>();
}

DeferredMetrics Sac::update(const Batch& b, at::Generator& gen) {
  if (discrete()) return update_discrete(b);
  return update_continuous(b, gen);
}

// SAC's gradient step in SB3's order (temperature, critics, actor, targets), each update using
// the temperature from before its own step, split into two tasks at every stage: the twin
// critics are independent until the target's and the actor loss's min, so each member's forward
// and backward passes (by hand: dense_forward / dense_backward), Adam step and Polyak average are
// one task; the actor runs as two half batches, by hand too (its trunk through the same dense
// passes, its head through squashed_gaussian_head), whose weight gradients are added after both
// are done. The arithmetic does not depend on which thread runs a task, so parameters and
// results are the same at any thread count. The losses' values are only reported, not
// differentiated: they are computed when the metrics are read.
// The actor at s (a~ with its log-prob, the trunk's activations kept for its backward pass) and at
// s' (a'), each as two half batches.
struct Sac::ActorPass {
  torch::Tensor eps, logp, action;
  std::vector<DenseView> layers;
  std::array<std::vector<torch::Tensor>, 2> acts;
  std::array<HeadSample, 2> pi, next;
};

namespace {
// Half h of a batch's rows (the first batch / 2, or the rest).
torch::Tensor batch_half(const torch::Tensor& t, int64_t h) {
  const int64_t batch = t.size(0);
  return h == 0 ? t.narrow(0, 0, batch / 2) : t.narrow(0, batch / 2, batch - batch / 2);
}
torch::Tensor joined(const std::array<torch::Tensor, 2>& t) { return torch::cat({t[0], t[1]}); }
}  // namespace

Sac::ActorPass Sac::sample_actor(const Batch& b, at::Generator& gen) {
  GaussianPolicyImpl& actor = *policy_.gaussian();
  const int64_t batch = b.obs.size(0), act_dim = actor.act_dim;
  ActorPass a;
  // The noise of a~ at s, then of a' at s', in this order whatever the threads do.
  a.eps = at::normal(0.0, 1.0, {batch, act_dim}, gen, b.obs.options());
  const torch::Tensor eps_next = at::normal(0.0, 1.0, {batch, act_dim}, gen, b.obs.options());
  a.layers = actor.trunk->dense_layers();
  fork([&](int64_t h) {
    a.acts[h] = dense_forward(a.layers, batch_half(b.obs, h));
    a.pi[h] = squashed_gaussian_head(a.acts[h].back(), batch_half(a.eps, h));
    a.next[h] = squashed_gaussian_head(dense_forward(a.layers, batch_half(b.next_obs, h)).back(), batch_half(eps_next, h));
  });
  a.logp = joined({a.pi[0].log_prob, a.pi[1].log_prob});
  a.action = joined({a.pi[0].action, a.pi[1].action});
  return a;
}

// Critics: Q_m(s, a) against the target members at (s', a'); one Adam step per member.
void Sac::step_critics(const Batch& b, const ActorPass& a, double alpha, torch::Tensor* q, torch::Tensor* y) {
  const torch::Tensor sa = torch::cat({b.obs, b.actions}, -1);
  const torch::Tensor next_sa = torch::cat({b.next_obs, joined({a.next[0].action, a.next[1].action})}, -1);
  std::array<std::vector<torch::Tensor>, 2> acts;
  std::array<torch::Tensor, 2> next_q;
  fork([&](int64_t m) {
    next_q[m] = critic_target_->member_forward(m, next_sa).back();
    acts[m] = critic_->member_forward(m, sa);
  });
  *y = sac::continuous_critic_target(b.rewards, b.terminated, torch::stack({next_q[0], next_q[1]}).squeeze(-1),
                                     joined({a.next[0].log_prob, a.next[1].log_prob}), alpha, cfg_.gamma);
  *q = member_outputs(acts);
  const torch::Tensor dq = sac::critic_loss_gradient(*q, *y);
  allocate_gradients(critic_->parameters());
  const SlicedAdamStep critic_step(*critic_opt_);
  fork([&](int64_t m) {
    critic_->member_backward(m, acts[m], dq[m].unsqueeze(-1), /*weight_grads=*/true, /*input_grad=*/false);
    critic_step.apply(m, 2);
  });
}

// Actor: the stepped critics at (s, a~), differentiated into a~ only, then back through the
// actor's two half batches; the targets follow the stepped critics meanwhile. Returns Q(s, a~).
torch::Tensor Sac::step_actor(const Batch& b, const ActorPass& a, double alpha) {
  const int64_t obs_dim = b.obs.size(-1), act_dim = policy_.gaussian()->act_dim;
  const torch::Tensor sa_pi = torch::cat({b.obs, a.action}, -1);
  std::array<std::vector<torch::Tensor>, 2> acts;
  fork([&](int64_t m) {
    acts[m] = critic_->member_forward(m, sa_pi);
    polyak_update(*critic_target_, *critic_, cfg_.tau, m);
  });
  const torch::Tensor q_pi = member_outputs(acts);
  const sac::ActorLossGradient d_lp = sac::continuous_actor_loss_gradient(a.logp, q_pi, alpha);
  std::array<torch::Tensor, 2> d_input;
  fork([&](int64_t m) {
    d_input[m] =
        critic_->member_backward(m, acts[m], d_lp.d_q[m].unsqueeze(-1), /*weight_grads=*/false, /*input_grad=*/true);
  });
  const torch::Tensor d_action = (d_input[0] + d_input[1]).narrow(-1, obs_dim, act_dim);
  allocate_gradients(policy_.parameters());
  const std::vector<DenseView> actor_grads = policy_.gaussian()->trunk->dense_gradients();
  if (actor_grad_half_.empty() || actor_grad_half_[0].w.scalar_type() != actor_grads[0].w.scalar_type()) {
    actor_grad_half_.clear();
    for (const DenseView& g : actor_grads)
      actor_grad_half_.push_back({torch::empty_like(g.w.t()).t(), torch::empty_like(g.b)});
  }
  fork([&](int64_t h) {
    const torch::Tensor d_out = squashed_gaussian_head_backward(a.acts[h].back(), batch_half(a.eps, h), a.pi[h].action,
                                                                batch_half(d_lp.d_logp, h), batch_half(d_action, h));
    dense_backward(a.layers, h == 0 ? &actor_grads : &actor_grad_half_, a.acts[h], d_out, /*input_grad=*/false);
  });
  fork([&](int64_t k) {
    for (size_t l = static_cast<size_t>(k); l < actor_grads.size(); l += 2) {
      actor_grads[l].w.add_(actor_grad_half_[l].w);
      actor_grads[l].b.add_(actor_grad_half_[l].b);
    }
  });
  const SlicedAdamStep actor_step(*actor_opt_);
  fork([&](int64_t h) { actor_step.apply(h, 2); });
  return q_pi;
}

DeferredMetrics Sac::update_continuous(const Batch& b, at::Generator& gen) {
  torch::NoGradGuard no_graph;  // every pass and gradient is by hand (the temperature's aside)
  const double alpha = this->alpha();
  const ActorPass a = sample_actor(b, gen);
  const double alpha_loss = update_temperature(a.logp);
  torch::Tensor q, y;
  step_critics(b, a, alpha, &q, &y);
  const torch::Tensor q_pi = step_actor(b, a, alpha);
  return DeferredMetrics([q, y, logp = a.logp, q_pi, alpha, alpha_loss, alpha_after = this->alpha()] {
    sac::CriticLossInfo ci;
    sac::ActorLossInfo ai;
    const torch::Tensor lq = sac::critic_loss(q, y, &ci);
    const torch::Tensor lp = sac::continuous_actor_loss(logp, q_pi, alpha, &ai);
    return update_metrics(lq, lp, alpha_loss, alpha_after, ci, ai);
  });
}

// Discrete SAC (Christodoulou 2019): exact expectations over the actions, all through autograd.
Metrics Sac::update_discrete(const Batch& b) {
  const double alpha = this->alpha();
  const torch::Tensor logits = policy_.categorical()->logits(b.obs);
  const double alpha_loss = update_temperature(logits);

  sac::CriticLossInfo ci;
  torch::Tensor y;
  {
    torch::NoGradGuard ng;
    y = sac::discrete_critic_target(b.rewards, b.terminated, critic_target_->forward(b.next_obs),
                                    policy_.categorical()->logits(b.next_obs), alpha, cfg_.gamma, cfg_.twin_q);
  }
  const torch::Tensor idx = b.actions.to(torch::kLong).reshape({1, -1, 1}).expand({2, -1, 1});
  const torch::Tensor lq = sac::critic_loss(critic_->forward(b.obs).gather(-1, idx).squeeze(-1), y, &ci);
  minimize(*critic_opt_, lq);

  sac::ActorLossInfo ai;
  torch::Tensor q;
  {
    torch::NoGradGuard ng;
    q = critic_->forward(b.obs);
  }
  const torch::Tensor lp = sac::discrete_actor_loss(logits, q, alpha, &ai, cfg_.twin_q);
  minimize(*actor_opt_, lp);

  polyak_update(*critic_target_, *critic_, cfg_.tau);
  return update_metrics(lq, lp, alpha_loss, this->alpha(), ci, ai);
}

std::vector<torch::Tensor> Sac::all_parameters() {
  std::vector<torch::Tensor> p = policy_.parameters();
  for (const auto& t : critic_->parameters()) p.push_back(t);
  for (const auto& t : critic_target_->parameters()) p.push_back(t);
  p.push_back(log_alpha_);
  return p;
}

void Sac::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive critic, target, aopt, copt, lopt;
  critic_->save(critic);
  critic_target_->save(target);
  actor_opt_->save(aopt);
  critic_opt_->save(copt);
  alpha_opt_->save(lopt);
  ar.write("critic", critic);
  ar.write("critic_target", target);
  ar.write("actor_opt", aopt);
  ar.write("critic_opt", copt);
  ar.write("alpha_opt", lopt);
  ar.write("log_alpha", log_alpha_.detach());
}

void Sac::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive critic, target, aopt, copt, lopt;
  ar.read("critic", critic);
  ar.read("critic_target", target);
  load_module_checked(*critic_, critic, "the checkpoint's critic");
  load_module_checked(*critic_target_, target, "the checkpoint's target critic");
  ar.read("actor_opt", aopt);
  ar.read("critic_opt", copt);
  ar.read("alpha_opt", lopt);
  actor_opt_->load(aopt);
  critic_opt_->load(copt);
  alpha_opt_->load(lopt);
  torch::Tensor la;
  ar.read("log_alpha", la);
  torch::NoGradGuard ng;
  log_alpha_.copy_(la);
}

}  // namespace softrl::agents
