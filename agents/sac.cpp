#include "agents/sac.h"

#include <cmath>

#include "objectives/sac.h"
#include "objectives/primitives.h"

namespace softrl::agents {
namespace {
}  // namespace

Sac::Sac(const SacConfig& cfg, int64_t obs_dim, int64_t act_dim, int64_t num_actions, uint64_t seed)
    : cfg_(cfg), obs_dim_(obs_dim), act_dim_(act_dim), num_actions_(num_actions),
      gen_(at::detail::createCPUGenerator(seed)) {
  torch::manual_seed(seed);  // network initialization
  std::vector<torch::Tensor> actor_params;
  if (discrete()) {
    categorical_ = CategoricalPolicy(obs_dim, num_actions, cfg.net_arch);
    critic_ = EnsembleMlp(2, obs_dim, cfg.net_arch, num_actions);
    critic_target_ = EnsembleMlp(2, obs_dim, cfg.net_arch, num_actions);
    actor_params = categorical_->parameters();
    target_entropy_ = cfg.target_entropy.value_or(sac::discrete_target_entropy(num_actions, cfg.target_entropy_scale));
  } else {
    gaussian_ = GaussianPolicy(obs_dim, act_dim, cfg.net_arch);
    critic_ = EnsembleMlp(2, obs_dim + act_dim, cfg.net_arch, 1);
    critic_target_ = EnsembleMlp(2, obs_dim + act_dim, cfg.net_arch, 1);
    actor_params = gaussian_->parameters();
    target_entropy_ = cfg.target_entropy.value_or(sac::continuous_target_entropy(act_dim));
  }
  {
    torch::NoGradGuard ng;
    const auto src = critic_->parameters();
    const auto dst = critic_target_->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  log_alpha_ = torch::full({}, std::log(cfg.ent_coef_init), torch::requires_grad(cfg.auto_ent_coef));
  const double lr = cfg.learning_rate.at(1.0);
  actor_opt_ = std::make_unique<torch::optim::Adam>(actor_params, torch::optim::AdamOptions(lr));
  critic_opt_ = std::make_unique<torch::optim::Adam>(critic_->parameters(), torch::optim::AdamOptions(lr));
  alpha_opt_ = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{log_alpha_}, torch::optim::AdamOptions(lr));
}

double Sac::alpha() const { return std::exp(log_alpha_.item<double>()); }

void Sac::set_learning_rate(double lr) {
  for (auto* opt : {actor_opt_.get(), critic_opt_.get(), alpha_opt_.get()})
    for (auto& g : opt->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

torch::Tensor Sac::act(const torch::Tensor& obs, bool deterministic) {
  torch::NoGradGuard ng;
  if (discrete()) return deterministic ? categorical_->deterministic(obs) : categorical_->sample(obs, gen_);
  return deterministic ? gaussian_->deterministic(obs) : gaussian_->sample(obs, gen_).action;
}

namespace {
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

torch::Tensor Sac::critic_target(const Batch& b, double alpha) {
  torch::NoGradGuard ng;
  if (discrete())
    return sac::discrete_critic_target(b.rewards, b.terminated, critic_target_->forward(b.next_obs),
                                       categorical_->logits(b.next_obs), alpha, cfg_.gamma);
  const PolicySample next = gaussian_->sample(b.next_obs, gen_);
  const torch::Tensor nq = critic_target_->forward(torch::cat({b.next_obs, next.action}, -1)).squeeze(-1);
  return sac::continuous_critic_target(b.rewards, b.terminated, nq, next.log_prob, alpha, cfg_.gamma);
}

torch::Tensor Sac::critic_at(const torch::Tensor& obs, const torch::Tensor& actions) {
  if (!discrete()) return critic_->forward(torch::cat({obs, actions}, -1)).squeeze(-1);
  const torch::Tensor idx = actions.to(torch::kLong).reshape({1, -1, 1}).expand({2, -1, 1});
  return critic_->forward(obs).gather(-1, idx).squeeze(-1);
}

SacMetrics Sac::update(const Batch& b) {
  SacMetrics m;
  const double alpha = this->alpha();  // this update uses the temperature before its own step
  // The policy at s: logits (discrete) or a reparameterized sample (continuous).
  torch::Tensor logits;
  PolicySample pi;
  if (discrete()) logits = categorical_->logits(b.obs);
  else pi = gaussian_->sample(b.obs, gen_);

  if (cfg_.auto_ent_coef) {
    const torch::Tensor la = discrete() ? sac::discrete_temperature_loss(log_alpha_, logits, target_entropy_)
                                        : sac::continuous_temperature_loss(log_alpha_, pi.log_prob, target_entropy_);
    minimize(*alpha_opt_, la);
    m.alpha_loss = la.item<double>();
  }

  sac::CriticLossInfo ci;
  const torch::Tensor lq = sac::critic_loss(critic_at(b.obs, b.actions), critic_target(b, alpha), &ci);
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
  m.critic_loss = lq.item<double>();
  m.actor_loss = lp.item<double>();
  m.entropy = ai.entropy;
  m.q1 = ci.q1_mean;
  m.q2 = ci.q2_mean;
  m.target_q = ci.target_mean;
  m.alpha = this->alpha();
  return m;
}

std::vector<torch::Tensor> Sac::policy_parameters() const {
  return discrete() ? categorical_->parameters() : gaussian_->parameters();
}

std::vector<torch::Tensor> Sac::all_parameters() const {
  std::vector<torch::Tensor> p = policy_parameters();
  for (const auto& t : critic_->parameters()) p.push_back(t);
  for (const auto& t : critic_target_->parameters()) p.push_back(t);
  p.push_back(log_alpha_);
  return p;
}

void Sac::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive actor, critic, target, aopt, copt, lopt;
  if (discrete()) categorical_->save(actor);
  else gaussian_->save(actor);
  critic_->save(critic);
  critic_target_->save(target);
  actor_opt_->save(aopt);
  critic_opt_->save(copt);
  alpha_opt_->save(lopt);
  ar.write("actor", actor);
  ar.write("critic", critic);
  ar.write("critic_target", target);
  ar.write("actor_opt", aopt);
  ar.write("critic_opt", copt);
  ar.write("alpha_opt", lopt);
  ar.write("log_alpha", log_alpha_.detach());
  ar.write("generator_state", gen_.get_state());
}

void Sac::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive actor, critic, target, aopt, copt, lopt;
  ar.read("actor", actor);
  ar.read("critic", critic);
  ar.read("critic_target", target);
  if (discrete()) categorical_->load(actor);
  else gaussian_->load(actor);
  critic_->load(critic);
  critic_target_->load(target);
  ar.read("actor_opt", aopt);
  ar.read("critic_opt", copt);
  ar.read("alpha_opt", lopt);
  actor_opt_->load(aopt);
  critic_opt_->load(copt);
  alpha_opt_->load(lopt);
  torch::Tensor la, gs;
  ar.read("log_alpha", la);
  {
    torch::NoGradGuard ng;
    log_alpha_.copy_(la);
  }
  ar.read("generator_state", gs);
  gen_.set_state(gs);
}

}  // namespace softrl::agents
