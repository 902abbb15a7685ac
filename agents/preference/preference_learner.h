#pragma once
// Preference learners on grouped episodes (data/preferences.h): DPO and its noisy-label variants
// (Rafailov et al. 2023, arXiv 2305.18290; TRL's loss_type / label_smoothing) and ADPO's anchored
// objectives (Wang Zixian 2025, arXiv 2510.18913): pairwise, listwise KL(q || softmax((l - l_a)/tau))
// and Plackett-Luce, with a fixed, EMA or periodically refreshed anchor.
//
// A candidate is an episode (or its first H steps) of a group: all start from the same reset seed,
// as the completions of one prompt do. Its score is l = sum_t log pi(a_t | s_t) (optionally divided
// by its length); continuous policies use the pre-tanh Gaussian density at the stored pre-tanh
// action, whose tanh Jacobian cancels in l - l_ref. The loop's items are the training groups; one
// update takes B groups and every candidate (listwise) or pair (pairwise) in them.
//
// Held-out metrics (accuracy of the implicit reward l - l_ref on the clean pairs, WinMass = mean
// softmax((l - l_ref)/tau) of each group's truly best candidate) are taken against the fixed
// reference, whatever the anchor, so that they compare across updates and anchors; they are
// recomputed over every held-out group every `holdout_every` updates.
#include <memory>

#include "agents/bc/reference_policy.h"
#include "agents/core/learner.h"
#include "data/preferences.h"
#include "objectives/preference.h"

namespace softrl::agents {

struct PreferenceLearnerSettings {
  enum class Objective { dpo, adpo_pairwise, adpo_listwise, plackett_luce };
  Objective objective = Objective::dpo;
  preference::DpoOptions dpo;  // DPO's beta, variant and label smoothing
  double tau_anchor = 1.0;     // ADPO's tau_anc (Plackett-Luce: beta = 1 / tau)
  // ADPO's adaptive temperature without its online reward term (offline, no success rate):
  // tau = clamp(tau_anchor (1 + alpha H), tau_min, tau_max), H = the batch's mean policy entropy
  // over log |A| (categorical policies only).
  bool adaptive_tau = false;
  double tau_alpha = 0.5, tau_min = 0.1, tau_max = 5.0;
  enum class Anchor { fixed, ema, dynamic };
  Anchor anchor = Anchor::fixed;
  double ema_rate = 0.01;       // ema: anchor <- (1 - rate) anchor + rate pi after each update
  int64_t refresh_every = 100;  // dynamic: anchor <- pi every this many updates
  bool length_normalize = false;
  double learning_rate = 1e-4, max_grad_norm = 10.0;
  int64_t holdout_every = 25;
};

class PreferenceLearner : public OfflineLearner {
 public:
  // `view` labels `dataset`'s groups. A distribution-shift study passes the held-out groups of
  // another dataset (`holdout_dataset`, `holdout_view`: all of that view's groups, clean labels);
  // otherwise the held-out split of `view` is used.
  PreferenceLearner(const data::Dataset& dataset, const data::PreferenceView& view,
                    const PreferenceLearnerSettings& settings, ReferenceRecipe reference, uint64_t seed,
                    const data::Dataset* holdout_dataset = nullptr, const data::PreferenceView* holdout_view = nullptr);
  ~PreferenceLearner() override;

  PolicyHead& policy() override { return *policy_; }
  std::vector<std::string> metric_names() const override;
  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;

  void begin() override;
  int64_t num_items() const override;
  Metrics update_items(const torch::Tensor& groups, at::Generator& gen, int64_t* steps) override;
  void set_learning_rate(double lr) override;

  PolicyHead& reference() { return *reference_; }
  // Sequence scores l of the training groups' candidates under the policy ([G, P], with gradient,
  // zero where `mask` is false) and the reference's ([G, P]); exposed for tests.
  struct Scores {
    torch::Tensor l, l_ref, mask, length;
  };
  Scores training_scores(const torch::Tensor& groups);
  // How many times the reference policy has scored the dataset's steps.
  int64_t reference_passes() const { return reference_passes_; }

  struct Pool;  // one split's candidates and steps (preference_learner.cpp)

 private:
  void score_reference();
  void refresh_holdout();
  double temperature(const torch::Tensor& entropy_per_step) const;

  PreferenceLearnerSettings cfg_;
  ReferenceRecipe recipe_;
  uint64_t seed_;
  std::unique_ptr<Pool> train_, holdout_;
  std::shared_ptr<PolicyHead> reference_, policy_, anchor_;  // anchor_: ema / dynamic only
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t updates_ = 0, reference_passes_ = 0;
  double tau_ = 1.0;
  torch::Tensor holdout_metrics_;  // [accuracy, win mass], NaN before the first evaluation
};

}  // namespace softrl::agents
