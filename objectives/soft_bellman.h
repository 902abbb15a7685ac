#pragma once
// OREO's soft-Bellman losses (Wang, Hao et al. 2024, OREO, arXiv 2412.16145) on padded batches of episodes.
// Shapes: [B, T] with a bool `valid` mask marking each episode's steps (a prefix of its row;
// episodes may be of any length, including 0). Per-step inputs:
//   logp     log pi_theta(a_t | s_t) (with gradient for the policy loss)
//   logp_ref log pi_ref(a_t | s_t)   (constant)
//   values   V_phi(s_t)              (with gradient for the value loss)
//   rewards  r_t
// With discount gamma (1 = OREO) the telescoped soft Bellman target of OREO's value loss reads
//   V(s_t) = R_t - beta * sum_{i>=t} gamma^(i-t) (logp_i - logp_ref_i),
//   R_t    = sum_{i>=t} gamma^(i-t) r_i  (+ gamma^(T-t) sg[V(s_T)] when the episode was truncated).
#include <optional>

#include <torch/torch.h>

namespace softrl::oreo {

enum class KlMode {
  none,   // no regularizer
  exact,  // sum_v pi(v) (log pi(v) - log pi_ref(v)) from full logits (OREO's --unbiased_kl)
  k3,     // the k3 estimator on the taken actions: expm1(l_ref - l) - (l_ref - l)
};

struct SoftBellmanOptions {
  double beta = 0.03;
  double gamma = 1.0;
  std::optional<double> clip_log;  // clamp accumulated log-ratios to [-c, c] (OREO's clip_log)
  double kl_coef = 0.01;           // alpha in L_pi + alpha L_reg
  KlMode kl_mode = KlMode::exact;
};

struct SoftBellmanBatch {
  torch::Tensor logp, logp_ref, values, rewards;  // [B, T]
  torch::Tensor valid;                            // [B, T] bool
  torch::Tensor truncated;                        // [B] bool, optional: bootstrap from bootstrap_value
  torch::Tensor bootstrap_value;                  // [B] V(s_T) after the last step, optional (used under no_grad)
  torch::Tensor logits, logits_ref;               // [B, T, A], for KlMode::exact (discrete policies)
  // [B, T], for KlMode::exact when `logits` is not given: the exact KL of each step (with gradient),
  // e.g. the closed-form Gaussian KL of continuous policies, or a chunk's mean over its steps.
  torch::Tensor kl_per_step;
};

struct SoftBellmanInfo {
  double value_loss = 0, policy_loss = 0, kl = 0;
  double mean_abs_residual = 0;  // |V - target| averaged like the loss
  double mean_accumulated_log_ratio = 0;
  int64_t episodes = 0;  // episodes with at least one step
};

// R_t (discounted reward-to-go plus the truncation bootstrap), [B, T], zero on padding.
torch::Tensor returns_to_go(const SoftBellmanBatch& b, double gamma);

// sum_{i>=t} gamma^(i-t) x_i over the valid steps of each row, [B, T]; padding contributes 0.
torch::Tensor reverse_discounted_cumsum(const torch::Tensor& x, const torch::Tensor& valid, double gamma);

// L_V = mean_episodes mean_t (V(s_t) - R_t + beta * sg[sum_{i>=t} gamma^(i-t) log ratio_i])^2.
torch::Tensor value_loss(const SoftBellmanBatch& b, const SoftBellmanOptions& opt, SoftBellmanInfo* info = nullptr);

// L_pi = mean_episodes mean_t (sg[V(s_t)] - R_t + beta log ratio_t
//         + sg[beta sum_{i>t} gamma^(i-t) log ratio_i])^2 + kl_coef * L_reg,
// only the current step's log-ratio carries gradient. L_reg = mean over valid steps of the KL.
torch::Tensor policy_loss(const SoftBellmanBatch& b, const SoftBellmanOptions& opt, SoftBellmanInfo* info = nullptr);

}  // namespace softrl::oreo
