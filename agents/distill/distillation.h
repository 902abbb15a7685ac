#pragma once
// Policy distillation over sampled candidate actions, the control analogue of ADPO's distillation
// experiment (Wang Zixian 2025, arXiv 2510.18913: KD = teacher pi_T^(1/T) targets, uniform anchor,
// tau T). For every state of the teacher's rollouts, K candidate actions are drawn once from the
// teacher; the target is q = softmax(log pi_T(a_k | s) / T) over them. The student fits q either
// directly (plain KD: cross-entropy of softmax(l) with l_k = log pi_S(a_k | s)) or through ADPO's
// anchored scores softmax((l - l_anchor) / tau_anc), whose optimum is pi_S ∝ pi_anchor q^tau_anc on
// the candidates (ADPO's closed form): a uniform anchor with tau 1 is KD; `fixed` anchors to the
// student's initial weights; `ema` to an EMA of the student. Tanh-Gaussian policies only;
// log-densities are of the squashed actions.
#include <memory>

#include "agents/bc/reference_policy.h"
#include "agents/core/learner.h"

namespace softrl::agents {

struct DistillationSettings {
  enum class Objective { kd, adpo };
  Objective objective = Objective::kd;
  int64_t candidates = 8;            // K actions per state
  double teacher_temperature = 1.0;  // T in q = softmax(log pi_T / T)
  double tau_anchor = 1.0;
  enum class Anchor { uniform, fixed, ema };
  Anchor anchor = Anchor::fixed;  // ema: anchor <- (1 - rate) anchor + rate student after each update
  double ema_rate = 0.01;
  double learning_rate = 3e-4, max_grad_norm = 10.0;
};

class Distillation : public OfflineLearner {
 public:
  // `states` [N, obs_dim] (the teacher's rollouts); the student gets `student` architecture.
  Distillation(const torch::Tensor& states, std::shared_ptr<PolicyHead> teacher, const PolicySpec& student,
               const DistillationSettings& settings, uint64_t seed);
  ~Distillation() override;

  PolicyHead& policy() override { return *student_; }
  std::vector<std::string> metric_names() const override;
  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;

  int64_t num_items() const override { return states_.size(0); }
  Metrics update_items(const torch::Tensor& states, at::Generator& gen, int64_t* steps) override;
  void set_learning_rate(double lr) override;

  // Mean KL(teacher || student) over every state (exact: Gaussians before the shared tanh).
  double teacher_kl();

 private:
  DistillationSettings cfg_;
  torch::Tensor states_, u_, target_;  // [N, obs], [N, K, act] pre-tanh candidates, [N, K] q
  std::shared_ptr<PolicyHead> teacher_, student_, anchor_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace softrl::agents
