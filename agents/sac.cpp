#include "agents/sac.h"

#include <cmath>
#include <limits>

#include "agents/checkpoint.h"
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

// The actor loss differentiates through Q into the action only: freezing the critic while the
// loss is built skips its weight gradients (about a tenth of an update's matmul work).
class Frozen {
 public:
  explicit Frozen(torch::nn::Module& m) : params_(m.parameters()) {
    for (auto& p : params_) p.requires_grad_(false);
  }
  ~Frozen() {
    for (auto& p : params_) p.requires_grad_(true);
  }

 private:
  std::vector<torch::Tensor> params_;
};
}  // namespace

Sac::Sac(const SacConfig& cfg, const PolicySpec& policy, uint64_t seed)
    : cfg_(cfg), policy_(seeded_spec(policy, cfg.net_arch, seed)) {
  const int64_t obs_dim = policy.obs_dim;
  if (discrete()) {
    critic_ = EnsembleMlp(2, obs_dim, cfg.net_arch, policy.num_actions);
    critic_target_ = EnsembleMlp(2, obs_dim, cfg.net_arch, policy.num_actions);
    target_entropy_ = cfg.target_entropy.value_or(sac::discrete_target_entropy(policy.num_actions, cfg.target_entropy_scale));
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
  alpha_opt_ = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{log_alpha_}, torch::optim::AdamOptions(lr));
}

std::vector<std::string> Sac::metric_names() const {
  return {"critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q1_mean", "q2_mean", "target_q_mean"};
}

double Sac::alpha() const { return std::exp(log_alpha_.item<double>()); }

void Sac::set_learning_rate(double lr) {
  for (auto* opt : {actor_opt_.get(), critic_opt_.get(), alpha_opt_.get()})
    for (auto& g : opt->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

torch::Tensor Sac::critic_target(const Batch& b, double alpha, at::Generator& gen) {
  torch::NoGradGuard ng;
  if (discrete())
    return sac::discrete_critic_target(b.rewards, b.terminated, critic_target_->forward(b.next_obs),
                                       policy_.categorical()->logits(b.next_obs), alpha, cfg_.gamma);
  const PolicySample next = policy_.gaussian()->sample(b.next_obs, gen);
  const torch::Tensor nq = critic_target_->forward(torch::cat({b.next_obs, next.action}, -1)).squeeze(-1);
  return sac::continuous_critic_target(b.rewards, b.terminated, nq, next.log_prob, alpha, cfg_.gamma);
}

torch::Tensor Sac::critic_at(const torch::Tensor& obs, const torch::Tensor& actions) {
  if (!discrete()) return critic_->forward(torch::cat({obs, actions}, -1)).squeeze(-1);
  const torch::Tensor idx = actions.to(torch::kLong).reshape({1, -1, 1}).expand({2, -1, 1});
  return critic_->forward(obs).gather(-1, idx).squeeze(-1);
}

Metrics Sac::update(const Batch& b, at::Generator& gen) {
  const double alpha = this->alpha();  // this update uses the temperature before its own step
  // The policy at s: logits (discrete) or a reparameterized sample (continuous).
  torch::Tensor logits;
  PolicySample pi;
  if (discrete()) logits = policy_.categorical()->logits(b.obs);
  else pi = policy_.gaussian()->sample(b.obs, gen);

  double alpha_loss = std::numeric_limits<double>::quiet_NaN();  // a fixed temperature has no loss
  if (cfg_.auto_ent_coef) {
    const torch::Tensor la = discrete() ? sac::discrete_temperature_loss(log_alpha_, logits, target_entropy_)
                                        : sac::continuous_temperature_loss(log_alpha_, pi.log_prob, target_entropy_);
    minimize(*alpha_opt_, la);
    alpha_loss = la.item<double>();
  }

  sac::CriticLossInfo ci;
  const torch::Tensor lq = sac::critic_loss(critic_at(b.obs, b.actions), critic_target(b, alpha, gen), &ci);
  minimize(*critic_opt_, lq);

  sac::ActorLossInfo ai;
  torch::Tensor lp;
  {
    const Frozen frozen(*critic_);
    lp = discrete() ? sac::discrete_actor_loss(logits, critic_->forward(b.obs).detach(), alpha, &ai)
                    : sac::continuous_actor_loss(pi.log_prob, critic_at(b.obs, pi.action), alpha, &ai);
  }
  minimize(*actor_opt_, lp);

  polyak_update(*critic_target_, *critic_, cfg_.tau);
  return {{"critic_loss", lq.item<double>()}, {"actor_loss", lp.item<double>()}, {"alpha_loss", alpha_loss},
          {"alpha", this->alpha()},          {"entropy", ai.entropy},          {"q1_mean", ci.q1_mean},
          {"q2_mean", ci.q2_mean},           {"target_q_mean", ci.target_mean}};
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
