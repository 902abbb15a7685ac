#pragma once
// Preference objectives (Rafailov et al. 2023, arXiv 2305.18290; Wang 2025, ADPO, arXiv 2510.18913): DPO and its
// noisy-label variants, IPO, ADPO (pairwise and listwise), Plackett-Luce. Inputs are sequence log-probabilities l = log
// pi_theta(y|x) (summed over steps) and the reference's l_ref (treated as constants).
#include <torch/torch.h>

namespace softrl::preference {

enum class DpoVariant {
  sigmoid,       // -log sigma(beta h)
  conservative,  // -(1-eps) log sigma(beta h) - eps log sigma(-beta h)   (cDPO, label smoothing)
  robust,        // (-(1-eps) log sigma(beta h) + eps log sigma(-beta h)) / (1 - 2 eps)  (rDPO)
  ipo,           // (h - 1/(2 beta))^2
};

struct DpoOptions {
  double beta = 0.1;
  DpoVariant variant = DpoVariant::sigmoid;
  double label_noise = 0.0;  // eps for conservative / robust, in [0, 0.5)
};

struct PreferenceInfo {
  double reward_chosen = 0, reward_rejected = 0;  // mean implicit rewards beta (l - l_ref)
  double margin = 0;                              // mean of their difference
  double accuracy = 0;                            // fraction with reward_chosen > reward_rejected
};

// h = (l_w - l_w_ref) - (l_l - l_l_ref); loss averaged over the batch.
torch::Tensor dpo_loss(const torch::Tensor& chosen, const torch::Tensor& rejected, const torch::Tensor& chosen_ref,
                       const torch::Tensor& rejected_ref, const DpoOptions& opt = {}, PreferenceInfo* info = nullptr);

// ADPO pairwise: -q log sigma(D / tau) - (1 - q) log sigma(-D / tau), D = (l_i - l_i_ref) -
// (l_j - l_j_ref), q = P(i preferred over j) in [0, 1] (1 for hard labels). With q = 1 and
// tau = 1 / beta this is exactly DPO.
torch::Tensor adpo_pairwise_loss(const torch::Tensor& l_i, const torch::Tensor& l_j, const torch::Tensor& l_i_ref,
                                 const torch::Tensor& l_j_ref, const torch::Tensor& q, double tau_anchor,
                                 PreferenceInfo* info = nullptr);

struct ListwiseInfo {
  double anchored_entropy = 0;  // mean entropy of p~ = softmax((l - l_ref) / tau)
  double win_mass = 0;          // mean p~ on each group's best candidate (largest q)
  double kl_to_target = 0;      // mean KL(q || p~)
};

// ADPO listwise: mean over groups of KL(q || softmax((l - l_ref) / tau)) up to q's entropy, i.e.
// the soft cross-entropy -sum_i q_i log softmax(u)_i. l, l_ref, q: [G, P]; mask [G, P] marks the
// candidates of groups of unequal size. Gradient (p~ - q) / tau per candidate.
torch::Tensor adpo_listwise_loss(const torch::Tensor& l, const torch::Tensor& l_ref, const torch::Tensor& q,
                                 double tau_anchor, const torch::Tensor& mask = {}, ListwiseInfo* info = nullptr);

enum class TargetMode {
  soft_zscore,    // q = softmax(z(R) / beta_r), z = group z-score (Bessel std + 1e-6)
  soft_centered,  // q = softmax((R - mean) / beta_r)  (TRL-ADPO)
  hard,           // one-hot on the best candidate (first on ties)
};
// Targets q from rewards R: [G, P], no gradient. Excluded candidates get q = 0.
torch::Tensor adpo_targets(const torch::Tensor& rewards, double beta_r, TargetMode mode,
                           const torch::Tensor& mask = {});

// Plackett-Luce (DPO App. A.3): -sum_k [s_{tau(k)} - LSE_{j>=k} s_{tau(j)}] with
// s = beta (l - l_ref) and tau the candidates ordered by decreasing reward; averaged over groups.
// Candidates excluded by `mask` are dropped from the ranking.
torch::Tensor plackett_luce_loss(const torch::Tensor& l, const torch::Tensor& l_ref, const torch::Tensor& rewards,
                                 double beta, const torch::Tensor& mask = {});

}  // namespace softrl::preference
