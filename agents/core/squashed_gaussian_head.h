#pragma once
// The tanh-squashed Gaussian head of GaussianPolicy as one pass over [B, A], forward and
// backward, without autograd: SAC's update runs the actor by hand (as it runs the critics), and
// the head's two dozen elementwise ops on [B, 2] tensors cost more through LibTorch's dispatcher
// and autograd than the arithmetic (about 0.3 ms per half batch, forward and backward, measured
// against 1.4 ms of matmuls on [400, 300]).
#include <torch/torch.h>

namespace softrl::agents {

// log-std mapped into [kLogStdMin, kLogStdMax] through tanh (CleanRL's SAC).
constexpr double kLogStdMin = -5.0, kLogStdMax = 2.0;

struct HeadSample {
  torch::Tensor action;    // tanh(u), u = mu + sigma * eps: [B, A]
  torch::Tensor log_prob;  // log density of action: [B]
};

// out: the trunk's output [B, 2A] (means, then log-std before the squash); eps: standard normal
// noise [B, A]. The same arithmetic as GaussianPolicy::sample_with_noise, where the
// standardized value (u - mu) / sigma is eps itself.
HeadSample squashed_gaussian_head(const torch::Tensor& out, const torch::Tensor& eps);

// The gradient with respect to out [B, 2A] of sum(d_log_prob * log_prob) + sum(d_action * action),
// from the forward's inputs and its action. Derived by hand: d log_prob / du = 2 tanh(u) (the
// log-determinant's derivative; the Gaussian term depends on eps only), du / d log_std =
// sigma * eps, d log_prob / d log_std = -1 besides.
torch::Tensor squashed_gaussian_head_backward(const torch::Tensor& out, const torch::Tensor& eps,
                                              const torch::Tensor& action, const torch::Tensor& d_log_prob,
                                              const torch::Tensor& d_action);

}  // namespace softrl::agents
