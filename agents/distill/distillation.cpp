#include "agents/distill/distillation.h"

#include "common/error.h"
#include "objectives/preference.h"
#include "objectives/primitives.h"
#include "objectives/softmax.h"

namespace softrl::agents {
namespace {

// log pi(a_k | s) of the tanh-squashed candidates a_k = tanh(u_k): [B, K] from params [B, act].
torch::Tensor candidate_log_probs(const GaussianPolicyImpl::Params& p, const torch::Tensor& u) {
  const int64_t K = u.size(1);
  return squashed_gaussian_log_prob(u, p.mu.unsqueeze(1).expand({-1, K, -1}),
                                    p.log_std.unsqueeze(1).expand({-1, K, -1}), torch::ones({}, u.options()));
}

}  // namespace

Distillation::Distillation(const torch::Tensor& states, std::shared_ptr<PolicyHead> teacher, const PolicySpec& student,
                           const DistillationSettings& settings, uint64_t seed)
    : cfg_(settings),
      states_(states.to(torch::kFloat32)),
      teacher_(std::move(teacher)) {
  if (teacher_->discrete() || student.kind != PolicySpec::Kind::tanh_gaussian)
    throw InputError("distillation over sampled candidate actions needs tanh-Gaussian (continuous) policies");
  if (states_.size(0) == 0) throw InputError("distillation: no states");
  student_ = seeded_policy(student, seed);
  if (cfg_.objective == DistillationSettings::Objective::adpo && cfg_.anchor != DistillationSettings::Anchor::uniform) {
    anchor_ = seeded_policy(student, seed);  // the student's initial weights
  }
  optimizer_ =
      std::make_unique<torch::optim::Adam>(student_->parameters(), torch::optim::AdamOptions(cfg_.learning_rate));
  // The candidates and their targets, drawn once from the teacher (seeded: the same for every
  // objective given the seed).
  torch::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed + 17);
  std::vector<torch::Tensor> us, qs;
  const int64_t n = states_.size(0), slice = 16384;
  for (int64_t s = 0; s < n; s += slice) {
    const auto p = teacher_->gaussian()->params(states_.narrow(0, s, std::min(slice, n - s)));
    const int64_t b = p.mu.size(0), a = p.mu.size(1);
    const torch::Tensor eps = at::normal(0.0, 1.0, {b, cfg_.candidates, a}, gen);
    const torch::Tensor u = p.mu.unsqueeze(1) + p.log_std.exp().unsqueeze(1) * eps;
    us.push_back(u);
    qs.push_back(softmax(candidate_log_probs(p, u), {.temperature = cfg_.teacher_temperature}));
  }
  u_ = torch::cat(us);
  target_ = torch::cat(qs);
}

Distillation::~Distillation() = default;

std::vector<std::string> Distillation::metric_names() const {
  return {"loss", "kl_to_target", "target_mass", "kl_teacher_student", "kl_to_anchor"};
}

Metrics Distillation::update_items(const torch::Tensor& items, at::Generator&, int64_t* steps) {
  const torch::Tensor idx = items.to(torch::kLong);
  *steps = idx.size(0);
  const torch::Tensor obs = states_.index_select(0, idx), u = u_.index_select(0, idx), q = target_.index_select(0, idx);
  const auto p = student_->gaussian()->params(obs);
  const torch::Tensor l = candidate_log_probs(p, u);
  torch::Tensor loss, l_anchor = torch::zeros_like(l);  // uniform anchor: a constant density
  GaussianPolicyImpl::Params pa;
  const bool kd = cfg_.objective == DistillationSettings::Objective::kd;
  if (anchor_) {
    torch::NoGradGuard no_grad;
    pa = anchor_->gaussian()->params(obs);
    l_anchor = candidate_log_probs(pa, u);
  }
  if (kd) loss = soft_cross_entropy(l, q).mean();
  else loss = preference::adpo_listwise_loss(l, l_anchor, q, cfg_.tau_anchor);
  optimizer_->zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(student_->parameters(), cfg_.max_grad_norm);
  optimizer_->step();
  if (anchor_ && cfg_.anchor == DistillationSettings::Anchor::ema) follow(*anchor_, *student_, cfg_.ema_rate);
  torch::NoGradGuard no_grad;
  const auto pt = teacher_->gaussian()->params(obs);
  // The model's distribution over the candidates (KD: softmax(l); ADPO: the anchored one) against
  // the target: KL(q || p), and p's mass on the teacher's favourite candidate.
  const torch::Tensor logp =
      kd ? log_softmax(l.detach()) : log_softmax(l.detach() - l_anchor, {.temperature = cfg_.tau_anchor});
  const torch::Tensor kl_target = (q * (q.clamp_min(1e-30).log() - logp)).sum(1).mean();
  const torch::Tensor mass = logp.exp().gather(1, q.argmax(1, true)).mean();
  return {{"loss", metric_value(loss)},
          {"kl_to_target", metric_value(kl_target)},
          {"target_mass", metric_value(mass)},
          {"kl_teacher_student", metric_value(gaussian_kl(pt.mu, pt.log_std, p.mu, p.log_std).mean())},
          {"kl_to_anchor", anchor_ ? metric_value(gaussian_kl(p.mu, p.log_std, pa.mu, pa.log_std).mean()) : 0.0}};
}

double Distillation::teacher_kl() {
  torch::NoGradGuard no_grad;
  const auto pt = teacher_->gaussian()->params(states_);
  const auto ps = student_->gaussian()->params(states_);
  return metric_value(gaussian_kl(pt.mu, pt.log_std, ps.mu, ps.log_std).mean());
}

void Distillation::set_learning_rate(double lr) {
  for (auto& g : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

void Distillation::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive opt;
  optimizer_->save(opt);
  ar.write("optimizer", opt);
  if (anchor_) {
    torch::serialize::OutputArchive a;
    anchor_->save(a);
    ar.write("anchor", a);
  }
}

void Distillation::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive opt;
  ar.read("optimizer", opt);
  optimizer_->load(opt);
  if (anchor_) {
    torch::serialize::InputArchive a;
    ar.read("anchor", a);
    anchor_->load(a, "the distillation anchor");
  }
}

}  // namespace softrl::agents
