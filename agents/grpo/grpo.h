#pragma once
// GRPO (Shao et al. 2024, DeepSeekMath, arXiv 2402.03300) on control tasks: no critic; each
// iteration's G episodes per start state are scored against each other, A_i = (R_i - mean) /
// (std + eps) within the group (outcome supervision), or per step from group-normalised step
// rewards summed to the episode's end (process supervision), then `epochs` passes of minibatch
// updates on the clipped surrogate (objectives/grpo.h) with ratios to the policy that sampled the
// episodes, optionally k3-regularised towards a reference. Categorical policies use gathered
// log-softmax; tanh-Gaussian ones the pre-tanh Gaussian density at the stored pre-tanh action;
// SofT-GRPO's soft actions the Gumbel log-density of the stored perturbed logits, in the same
// surrogate.
#include <memory>
#include <optional>

#include "agents/bc/reference_policy.h"
#include "agents/core/learner.h"
#include "agents/grpo/soft_actions.h"
#include "objectives/grpo.h"

namespace softrl::agents {

struct GrpoSettings {
  grpo::SurrogateOptions surrogate;  // clip, dual clip, kl_coef (k3 to the reference), aggregation
  enum class Advantage { outcome, process };
  Advantage advantage = Advantage::outcome;
  bool scale_by_std = true;  // false: A = R - mean (Dr. GRPO)
  double advantage_eps = 1e-6;
  int64_t epochs = 4;
  int64_t minibatch_episodes = 32;
  double learning_rate = 3e-4, max_grad_norm = 0.5;
  // SofT-GRPO (Zheng & Lee 2025): the episodes were played with soft actions; each step's
  // log-likelihood is the Gumbel log-density of its stored g' (agents/soft_actions.h).
  std::optional<SoftActionSettings> soft;
};

class Grpo : public GroupLearner {
 public:
  // `initial`: the policy to start from (copied), e.g. behaviour cloning; null: fresh weights of
  // `spec`. `reference`: the KL anchor when surrogate.kl_coef > 0 (null: the initial policy).
  Grpo(const PolicySpec& spec, const GrpoSettings& settings, uint64_t seed, std::shared_ptr<PolicyHead> initial = {},
       std::shared_ptr<PolicyHead> reference = {});

  PolicyHead& policy() override { return *policy_; }
  std::vector<std::string> metric_names() const override;
  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;
  Metrics learn(const data::Dataset& rollouts, at::Generator& gen, int64_t* updates) override;
  void set_learning_rate(double lr) override;

  // Per-step advantages of a grouped dataset ([steps], float64) and the share of groups whose
  // returns are all equal.
  torch::Tensor advantages(const data::Dataset& d, double* zero_std_share = nullptr) const;

 private:
  GrpoSettings cfg_;
  std::shared_ptr<PolicyHead> policy_, reference_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace softrl::agents
