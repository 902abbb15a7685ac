#include "objectives/sac.h"

#include <cmath>

#include "objectives/primitives.h"
#include "objectives/softmax.h"

namespace softrl::sac {
namespace {
void check_pair(const torch::Tensor& q, const char* what) {
  TORCH_CHECK(q.dim() >= 2 && q.size(0) == 2, "softrl::sac: ", what,
              " must stack the twin critics on a leading dimension of size 2, got ", q.sizes());
}
torch::Tensor min_q(const torch::Tensor& q) { return torch::min(q[0], q[1]); }
torch::Tensor reduce_q(const torch::Tensor& q, TwinReduce reduce) {
  return reduce == TwinReduce::min ? min_q(q) : 0.5 * (q[0] + q[1]);
}
double mean_of(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).mean().item<double>(); }
}  // namespace

double continuous_target_entropy(int64_t action_dim) { return -static_cast<double>(action_dim); }

double discrete_target_entropy(int64_t num_actions, double scale) {
  TORCH_CHECK(num_actions >= 2, "softrl::sac: discrete SAC needs at least 2 actions");
  return scale * std::log(static_cast<double>(num_actions));
}

torch::Tensor continuous_critic_target(const torch::Tensor& reward, const torch::Tensor& terminated,
                                       const torch::Tensor& next_q, const torch::Tensor& next_logp, double alpha,
                                       double gamma) {
  torch::NoGradGuard no_grad;
  check_pair(next_q, "next_q");
  const torch::Tensor soft_v = min_q(next_q) - alpha * next_logp;
  return reward + gamma * (1.0 - terminated.to(reward.scalar_type())) * soft_v;
}

torch::Tensor discrete_critic_target(const torch::Tensor& reward, const torch::Tensor& terminated,
                                     const torch::Tensor& next_q, const torch::Tensor& next_logits, double alpha,
                                     double gamma, TwinReduce reduce) {
  torch::NoGradGuard no_grad;
  check_pair(next_q, "next_q");
  const torch::Tensor p = softmax(next_logits);
  const torch::Tensor soft_v = (p * reduce_q(next_q, reduce)).sum(-1) + alpha * entropy(next_logits);
  return reward + gamma * (1.0 - terminated.to(reward.scalar_type())) * soft_v;
}

torch::Tensor critic_loss(const torch::Tensor& q, const torch::Tensor& target, CriticLossInfo* info) {
  check_pair(q, "q");
  const torch::Tensor y = target.detach();
  const torch::Tensor loss = (q - y.unsqueeze(0)).pow(2).mean(-1).sum();
  if (info) *info = {mean_of(q[0]), mean_of(q[1]), mean_of(y)};
  return loss;
}

torch::Tensor continuous_actor_loss(const torch::Tensor& logp, const torch::Tensor& q, double alpha,
                                    ActorLossInfo* info) {
  check_pair(q, "q");
  const torch::Tensor mq = min_q(q);
  if (info) *info = {-mean_of(logp), mean_of(mq)};
  return (alpha * logp - mq).mean();
}

torch::Tensor discrete_actor_loss(const torch::Tensor& logits, const torch::Tensor& q, double alpha,
                                  ActorLossInfo* info, TwinReduce reduce) {
  check_pair(q, "q");
  const torch::Tensor mq = reduce_q(q, reduce).detach();
  const torch::Tensor p = softmax(logits);
  // sum_a p (alpha log p - Q) = -alpha H - <p, Q>; entropy() keeps 0 log 0 = 0.
  const torch::Tensor h = entropy(logits);
  if (info) *info = {mean_of(h), mean_of((p * mq).sum(-1))};
  return (-alpha * h - (p * mq).sum(-1)).mean();
}

torch::Tensor critic_loss_gradient(const torch::Tensor& q, const torch::Tensor& target) {
  torch::NoGradGuard no_grad;
  check_pair(q, "q");
  return (q - target.unsqueeze(0)) * (2.0 / static_cast<double>(q.size(-1)));
}

ActorLossGradient continuous_actor_loss_gradient(const torch::Tensor& logp, const torch::Tensor& q, double alpha) {
  torch::NoGradGuard no_grad;
  check_pair(q, "q");
  const double inv_b = 1.0 / static_cast<double>(logp.numel());
  // The first twin's share of min(q0, q1)'s gradient: 1 where it is the smaller, 1/2 on a tie.
  const torch::Tensor first = (q[0] < q[1]).to(q.scalar_type()) + 0.5 * (q[0] == q[1]).to(q.scalar_type());
  // alpha enters as a factor of the tensor (as in autograd's chain), not as a fill value: a huge
  // temperature gives an infinite gradient for the divergence guard to see, not a conversion error.
  return {torch::full_like(logp, inv_b) * alpha, torch::stack({first, 1.0 - first}) * -inv_b};
}

torch::Tensor continuous_temperature_loss(const torch::Tensor& log_alpha, const torch::Tensor& logp,
                                          double target_entropy, TemperatureLossInfo* info) {
  const torch::Tensor gap = (logp.detach() + target_entropy).mean();
  if (info) *info = {std::exp(log_alpha.item<double>()), -mean_of(logp)};
  return -log_alpha.exp() * gap;
}

torch::Tensor discrete_temperature_loss(const torch::Tensor& log_alpha, const torch::Tensor& logits,
                                        double target_entropy, TemperatureLossInfo* info) {
  const torch::Tensor h = entropy(logits.detach());
  // sum_a pi (log pi + H_target) = -H + H_target.
  const torch::Tensor gap = (target_entropy - h).mean();
  if (info) *info = {std::exp(log_alpha.item<double>()), mean_of(h)};
  return -log_alpha.exp() * gap;
}

}  // namespace softrl::sac
