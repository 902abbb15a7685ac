#pragma once
// Soft Actor-Critic losses (Haarnoja et al. 2018, arXiv 1812.05905; discrete: Christodoulou 2019, arXiv 1910.07207),
// continuous (tanh-Gaussian) and discrete. Shapes: B = batch, A = number of discrete actions. Twin critics are passed
// as one tensor with a leading ensemble dimension of 2 ([2, B] or [2, B, A]), as the batched critic produces them.
#include <torch/torch.h>

namespace softrl::sac {

// Target entropies: -dim(A) for continuous actions; scale * log|A| for discrete (CleanRL 0.89).
double continuous_target_entropy(int64_t action_dim);
double discrete_target_entropy(int64_t num_actions, double scale = 0.89);

// y = r + gamma (1 - terminated) (min_i Qbar_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s').
// next_q: [2, B] target critics at the sampled next action; next_logp: [B]. No gradient.
// `terminated` (not `done`) so time-limit truncations bootstrap.
torch::Tensor continuous_critic_target(const torch::Tensor& reward, const torch::Tensor& terminated,
                                       const torch::Tensor& next_q, const torch::Tensor& next_logp, double alpha,
                                       double gamma);

// How the twin critics' values combine in discrete SAC's target and actor loss: the minimum
// (clipped double Q, Fujimoto et al. 2018) or the mean ("double average" Q, Zhou et al. 2022,
// arXiv 2209.10081, proposed against discrete SAC's pessimistic underestimation).
enum class TwinReduce { min, mean };

// Discrete: exact expectation over the next policy.
// y = r + gamma (1 - terminated) sum_a pi(a|s') (red_i Qbar_i(s', a) - alpha log pi(a|s')), red = min or mean.
// next_q: [2, B, A], next_logits: [B, A] (policy logits at s'). No gradient.
torch::Tensor discrete_critic_target(const torch::Tensor& reward, const torch::Tensor& terminated,
                                     const torch::Tensor& next_q, const torch::Tensor& next_logits, double alpha,
                                     double gamma, TwinReduce reduce = TwinReduce::min);

struct CriticLossInfo {
  double q1_mean = 0, q2_mean = 0, target_mean = 0;
};
// sum_i mean_B (Q_i - y)^2 (CleanRL's scale; SB3 uses half of it). q: [2, B], y: [B].
torch::Tensor critic_loss(const torch::Tensor& q, const torch::Tensor& target, CriticLossInfo* info = nullptr);

struct ActorLossInfo {
  double entropy = 0;  // mean policy entropy estimate (-log pi for continuous; exact for discrete)
  double q_mean = 0;   // mean of min_i Q under the policy
};
// mean_B (alpha log pi(a~|s) - min_i Q_i(s, a~)), a~ reparameterized (gradient flows through q
// into the action; only the actor should be stepped). logp: [B], q: [2, B].
torch::Tensor continuous_actor_loss(const torch::Tensor& logp, const torch::Tensor& q, double alpha,
                                    ActorLossInfo* info = nullptr);
// mean_B sum_a pi(a|s) (alpha log pi(a|s) - sg[red_i Q_i(s, a)]). logits: [B, A], q: [2, B, A].
// (CleanRL averages over actions too: a factor 1/|A| smaller.)
torch::Tensor discrete_actor_loss(const torch::Tensor& logits, const torch::Tensor& q, double alpha,
                                  ActorLossInfo* info = nullptr, TwinReduce reduce = TwinReduce::min);

// The gradients of critic_loss and continuous_actor_loss with respect to their inputs, written
// out, for learners that run their networks by hand (SAC's continuous update): the values autograd
// gives through the losses, without building their graphs (which cost more than the arithmetic on
// [2, B]). d critic_loss / dq = 2 (q - y) / B; d actor_loss / d logp = alpha / B,
// d actor_loss / dq_i = -1 / B on the smaller twin, split in half on ties (torch::min's rule).
torch::Tensor critic_loss_gradient(const torch::Tensor& q, const torch::Tensor& target);
struct ActorLossGradient {
  torch::Tensor d_logp, d_q;  // [B], [2, B]
};
ActorLossGradient continuous_actor_loss_gradient(const torch::Tensor& logp, const torch::Tensor& q, double alpha);

struct TemperatureLossInfo {
  double alpha = 0;
  double entropy = 0;  // the entropy estimate the loss compares with the target
};
// Temperature loss on log_alpha (a scalar tensor with gradient):
// continuous: -mean_B exp(log_alpha) sg[log pi + H_target] (gradient pushes alpha up when the
// entropy -log pi is below the target); logp: [B] from a fresh policy sample.
torch::Tensor continuous_temperature_loss(const torch::Tensor& log_alpha, const torch::Tensor& logp,
                                          double target_entropy, TemperatureLossInfo* info = nullptr);
// discrete: -mean_B sum_a sg[pi(a|s)] exp(log_alpha) sg[log pi(a|s) + H_target] (exact expectation).
torch::Tensor discrete_temperature_loss(const torch::Tensor& log_alpha, const torch::Tensor& logits,
                                        double target_entropy, TemperatureLossInfo* info = nullptr);

}  // namespace softrl::sac
