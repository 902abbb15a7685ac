#pragma once
// Behaviour cloning: maximum likelihood of the dataset's actions, loss = -mean log pi(a | s)
// (categorical or tanh-Gaussian). The SFT analogue of the preference papers, the reference policy
// of OREO, DPO and ADPO, and with a return filter the rejection-sampling baseline of OREO
// (Wang, Hao et al. 2024, "filtered BC").
#include "agents/core/learner.h"
#include "data/dataset.h"

namespace softrl::agents {

class BehaviourCloning : public TransitionLearner {
 public:
  BehaviourCloning(const PolicySpec& spec, double learning_rate, uint64_t seed);
  PolicyHead& policy() override { return policy_; }
  std::vector<std::string> metric_names() const override { return {"bc_loss"}; }
  DeferredMetrics update(const Batch& batch, at::Generator& gen) override;
  void set_learning_rate(double lr) override;
  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;

 private:
  PolicyHead policy_;
  torch::optim::Adam optimizer_;
};

// Every step of a dataset as a transition (next_obs: the following observation, or the episode's
// final observation at its last step; terminated as float).
Batch transitions_of(const data::Dataset& d);

}  // namespace softrl::agents
