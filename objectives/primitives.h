#pragma once
// Primitives built on the softmax core.
// Same conventions as softmax.h: last dimension, optional bool mask (true = included),
// temperature tau applied as x / tau, excluded entries contribute exactly 0, fully excluded
// rows give finite results (documented per function) and zero gradients.
#include <torch/torch.h>

#include "objectives/softmax.h"

namespace softrl {

// log_softmax(x)[index]: x_idx / tau - LSE(x / tau). `index` has x's shape without the last
// dimension (int64). An excluded index gives -inf. Gradient (onehot(idx) - softmax) / tau.
torch::Tensor selective_log_softmax(const torch::Tensor& x, const torch::Tensor& index, const SoftmaxOptions& opt = {});

// softplus(x) = LSE(0, x) = log(1 + e^x) and log_sigmoid(x) = -softplus(-x), elementwise,
// accurate for tiny results (log1p form); gradients sigmoid(x) and sigmoid(-x).
torch::Tensor softplus(const torch::Tensor& x);
torch::Tensor log_sigmoid(const torch::Tensor& x);

// Entropy of softmax(x / tau) in nats: -sum_i p_i log p_i with 0 log 0 = 0. A fully excluded
// row has entropy 0.
torch::Tensor entropy(const torch::Tensor& x, const SoftmaxOptions& opt = {});

// KL(softmax(x_p) || softmax(x_q)) from logits, 0 log 0 = 0; +inf where q excludes an entry
// that p includes. The mask and temperature apply to both. Fully excluded rows give 0.
torch::Tensor kl(const torch::Tensor& x_p, const torch::Tensor& x_q, const SoftmaxOptions& opt = {});

// Cross-entropy of target distribution q against softmax(u / tau): -sum_i q_i log_softmax(u)_i.
// q must be a distribution over the included entries (q on excluded entries is ignored).
// Gradient w.r.t. u: (softmax(u / tau) * sum q - q) / tau. No gradient flows to q.
torch::Tensor soft_cross_entropy(const torch::Tensor& u, const torch::Tensor& q, const SoftmaxOptions& opt = {});

// out[..., k] = LSE(x[..., k:] / tau) over the included entries (suffix log-sum-exp, as in the
// Plackett-Luce likelihood). Computed through the core on an [n, n] triangular mask, so memory
// is O(rows * n^2): meant for list lengths up to a few hundred.
torch::Tensor reverse_cumulative_logsumexp(const torch::Tensor& x, const SoftmaxOptions& opt = {});

// StableMax (Prieto et al. 2025): s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0), normalized over the
// row; not shift-invariant. Excluded entries have s = 0; a fully excluded row gives 0 / -inf.
torch::Tensor stablemax(const torch::Tensor& x, const SoftmaxOptions& opt = {});
torch::Tensor log_stablemax(const torch::Tensor& x, const SoftmaxOptions& opt = {});

// Log-density of a = scale * tanh(u) + bias where u ~ N(mu, exp(log_sigma)), summed over the
// last dimension; uses log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) (no 1e-6 fudge).
// `action_scale` broadcasts against the last dimension (a scalar tensor or one per action).
torch::Tensor squashed_gaussian_log_prob(const torch::Tensor& u, const torch::Tensor& mu,
                                         const torch::Tensor& log_sigma, const torch::Tensor& action_scale);

// Log-density of u ~ N(mu, exp(log_sigma)) summed over the last dimension. Two tanh-Gaussian
// policies evaluated at the same action differ by exactly this much (the tanh Jacobian is shared).
torch::Tensor gaussian_log_prob(const torch::Tensor& u, const torch::Tensor& mu, const torch::Tensor& log_sigma);

// KL(N(mu_p, sigma_p) || N(mu_q, sigma_q)) of diagonal Gaussians, summed over the last dimension:
// log(sigma_q / sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2 per dimension. It is
// also the KL of the two tanh-squashed policies (a shared bijection leaves the KL unchanged).
torch::Tensor gaussian_kl(const torch::Tensor& mu_p, const torch::Tensor& log_sigma_p, const torch::Tensor& mu_q,
                          const torch::Tensor& log_sigma_q);

// The k3 estimator of KL(pi || pi_ref) from log-probs of samples of pi:
// exp(l_ref - l) - (l_ref - l) - 1, computed with expm1. Elementwise, >= 0.
torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& logp_ref);

// Group-relative statistics over the last dimension (one group per row), under no_grad.
struct GroupStats {
  torch::Tensor advantages;  // (r - mean) / (std + eps), 0 for excluded entries
  torch::Tensor mean;        // per group
  torch::Tensor std;         // Bessel-corrected, per group; 0 for groups of size <= 1
  torch::Tensor count;       // included entries per group
  torch::Tensor zero_std;    // bool per group: all included rewards equal (advantages exactly 0)
};
struct GroupOptions {
  torch::Tensor mask = {};   // bool, true = member of the group
  double eps = 1e-6;         // verl's default; TRL uses 1e-4
  bool scale_by_std = true;  // false: advantages are r - mean (Dr. GRPO / TRL scale_rewards=none)
};
// Singleton and zero-variance groups get advantage exactly 0; an empty group gives mean 0.
GroupStats group_normalize(const torch::Tensor& rewards, const GroupOptions& opt = {});

}  // namespace softrl
