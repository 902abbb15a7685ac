#pragma once
// OREO (Wang, Hao et al. 2024, "Offline Reinforcement Learning for LLM Multi-Step Reasoning",
// arXiv 2412.16145) on control tasks: a policy pi_theta and a value V_phi learned jointly from
// logged episodes through the soft Bellman equation (objectives/soft_bellman.h), with the policy
// initialised from, and KL-regularised towards, a behaviour-cloning reference pi_ref.
//
// One update takes B whole episodes (the loop's items): a critic step on the value loss (policy
// log-ratios detached), then an actor step on the policy loss with the values from before the
// critic step, as OREO's trainer orders them. Step-level OREO treats `chunk` consecutive steps as
// one action (log-probs and rewards summed, V at the chunk's first state). Continuous policies use
// the pre-tanh Gaussian log-density at the stored pre-tanh action (the tanh Jacobian cancels in
// log pi_theta - log pi_ref) and the closed-form Gaussian KL.
#include <functional>
#include <memory>
#include <optional>

#include "agents/bc/reference_policy.h"
#include "agents/core/learner.h"
#include "agents/core/networks.h"
#include "agents/oreo/value_function.h"
#include "data/dataset.h"
#include "objectives/soft_bellman.h"

namespace softrl::agents {

struct OreoSettings {
  oreo::SoftBellmanOptions loss;  // beta, gamma, clip_log, kl_coef, kl_mode
  std::vector<int64_t> value_arch = {256, 256};
  double policy_learning_rate = 1e-4, value_learning_rate = 3e-4;
  double max_grad_norm = 1.0;  // OREO's --max_norm
  int64_t chunk = 1;           // steps per action (step-level OREO)
  bool time_feature = true;    // V sees the fraction of the time limit left
  enum class Reward { sparse, dense } reward = Reward::dense;
  double reward_scale = 100.0;    // dense: r / reward_scale
  double success_return = 200.0;  // sparse: R = 1 at the end of episodes with at least this return
};

class Oreo : public OfflineLearner {
 public:
  // `collect_round(policy, round)` gathers a round's episodes with the current policy (rounds > 1).
  using RoundCollector = std::function<data::Dataset(PolicyHead& policy, int round)>;
  Oreo(const data::Dataset& dataset, const OreoSettings& settings, ReferenceRecipe reference, uint64_t seed,
       RoundCollector collect_round = {});
  ~Oreo() override;

  PolicyHead& policy() override { return *policy_; }
  std::vector<std::string> metric_names() const override;
  std::vector<torch::Tensor> trained_parameters() override;  // the value network's and the policy's
  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;

  void begin() override;
  int64_t num_items() const override;
  Metrics update_items(const torch::Tensor& episodes, at::Generator& gen, int64_t* steps) override;
  void set_learning_rate(double lr) override;
  void next_round(int round) override;

  const ValueFunction& value() const { return value_; }
  PolicyHead& reference() { return *reference_; }

 public:
  struct Table;  // the prepared episodes (oreo.cpp)

 private:
  OreoSettings cfg_;
  ReferenceRecipe recipe_;
  uint64_t seed_;
  RoundCollector collect_round_;
  std::unique_ptr<Table> data_;  // the dataset's episodes, prepared
  int64_t base_episodes_ = 0;    // episodes of the input dataset (later rounds' are saved)
  std::shared_ptr<PolicyHead> reference_, policy_;
  ValueFunction value_;
  std::unique_ptr<torch::optim::Adam> policy_opt_, value_opt_;
};

}  // namespace softrl::agents
