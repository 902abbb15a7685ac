#pragma once
// GRPO and SofT-GRPO losses (Shao et al. 2024, DeepSeekMath, arXiv 2402.03300; Zheng & Lee 2025, SofT-GRPO, arXiv
// 2511.06411). Shapes: N sequences (episodes) x T steps, with a bool `valid` mask [N, T] for sequences of unequal
// length.
#include <optional>

#include <torch/torch.h>

#include "objectives/primitives.h"

namespace softrl::grpo {

enum class Aggregation {
  token_mean,     // sum over all valid steps / number of valid steps (TRL "dapo", verl token-mean)
  sequence_mean,  // mean over each sequence's steps, then over sequences (original GRPO)
  fixed_length,   // sum over all valid steps / (N * T) (Dr. GRPO, T = max length)
};

struct SurrogateOptions {
  double clip_low = 0.2;  // ratio clipped to [1 - clip_low, 1 + clip_high]
  double clip_high = 0.2;
  std::optional<double> dual_clip;  // c > 1: for A < 0 the loss is capped at -A * c (verl 3.0)
  double kl_coef = 0.0;             // beta * k3 KL to the reference (0 = off, TRL default)
  std::optional<double> kl_clamp;   // clamp k3 to [-c, c] (verl low_var_kl: 10)
  Aggregation aggregation = Aggregation::token_mean;
};

struct SurrogateInfo {
  double clip_fraction = 0;  // fraction of valid steps where the clipped branch was taken
  double kl = 0;             // mean k3 KL to the reference (if given)
  double approx_kl_old = 0;  // mean k3 KL to the behaviour policy
  double ratio_mean = 0;
};

// Clipped surrogate: -min(rho A, clip(rho) A) (+ dual clip) + kl_coef * k3(logp, logp_ref),
// rho = exp(logp - logp_old). advantages: [N] (broadcast over steps) or [N, T].
// logp_ref may be undefined when kl_coef = 0.
torch::Tensor surrogate_loss(const torch::Tensor& logp, const torch::Tensor& logp_old, const torch::Tensor& advantages,
                             const torch::Tensor& valid, const SurrogateOptions& opt = {},
                             const torch::Tensor& logp_ref = {}, SurrogateInfo* info = nullptr);

// The number of items the loss is a mean over under `mode` (valid steps; sequences with a valid
// step; every padded position): the weight of this batch's gradient when data-parallel ranks
// average theirs. valid: the bool mask passed to surrogate_loss.
double aggregation_count(const torch::Tensor& valid, Aggregation mode);

// Group-relative advantages for outcome rewards [num_groups, G] (see softrl::group_normalize).
inline GroupStats group_advantages(const torch::Tensor& rewards, const GroupOptions& opt = {}) {
  return group_normalize(rewards, opt);
}

struct SoftDensityOptions {
  double temperature = 1.0;                   // policy temperature T in p = softmax(z / T)
  double noise_min = -1.5, noise_max = 3.0;   // clamp of the recovered noise (zero gradient outside)
  double prob_eps = 1e-6;                     // log(p_hat + eps), as SofT-GRPO's code
  std::optional<double> min_log_prob = -3.0;  // keep entries with log p_hat > this (SofT-GRPO's M)
  bool mean_over_entries = true;              // SofT-GRPO averages; false = exact sum of independent terms
  // Score the executed entry k* = argmax g' by its categorical log-probability log softmax(z / T)_k*
  // instead of g''s Gumbel density (the other fields then unused). SofT-GRPO's code keeps the
  // categorical log-probability for the answer tokens, which earn the reward, and applies the
  // Gumbel density to the thinking tokens only; argmax g' is an exact Categorical(p) sample
  // (Gumbel-max) when the noise is unclamped, so this is the ordinary policy-gradient score.
  bool categorical = false;
};

// SofT-GRPO: log-likelihood of stored perturbed logits g' [.., K] at the stored action ids [.., K]
// under the current policy logits [.., A]. p_hat = the policy renormalized over the K ids
// (= softmax of the gathered logits); eps_hat = clamp(g' - log(p_hat + prob_eps)); per entry the
// Gumbel(log p_hat, 1) log-density -eps_hat - exp(-eps_hat); reduced over the kept entries.
// With opt.categorical: log softmax(z_ids / T) at argmax g' (the executed entry) instead.
// Returns [..] (one value per position), ready for surrogate_loss as logp.
torch::Tensor soft_action_log_density(const torch::Tensor& logits, const torch::Tensor& ids,
                                      const torch::Tensor& perturbed, const SoftDensityOptions& opt = {});

}  // namespace softrl::grpo
