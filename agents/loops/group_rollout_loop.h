#pragma once
// The group-rollout loop of GRPO (Shao et al. 2024): each iteration collects `groups` start states
// x `group_size` episodes with the current policy, sampled, all episodes of a group reset with
// the same seed (same terrain, initial push, wind), batched over the vector env by the collector;
// then the learner runs its epochs on them. The budget counts env steps. An iteration is the unit
// of checkpointing: a run stops and resumes between iterations, exactly. Logged besides the
// learner's metrics: the last iteration's seconds spent collecting and learning.
#include <optional>
#include <string>

#include "agents/core/learner.h"
#include "agents/core/loop.h"
#include "agents/core/schedule.h"
#include "agents/grpo/soft_actions.h"
#include "envs/env.h"

namespace softrl::agents {

struct GroupRolloutSettings {
  std::string env_id;
  envs::EnvOptions env_options;
  int64_t groups = 16;     // start states per iteration
  int64_t group_size = 8;  // G episodes per start state
  int n_envs = 16;
  int threads = 1;
  int64_t total_steps = 0;
  Schedule learning_rate;
  std::optional<SoftActionSettings> soft;  // SofT-GRPO: the policy acts with soft actions
};

class GroupRolloutLoop : public Loop {
 public:
  GroupRolloutLoop(GroupLearner& learner, const GroupRolloutSettings& settings, uint64_t seed);

  void begin(uint64_t seed) override;
  void iterate() override;
  int64_t steps() const override { return step_; }
  int64_t updates() const override { return updates_; }
  Metrics metrics() const override;
  std::string progress_text() const override;
  void save(torch::serialize::OutputArchive& ar, bool with_data) const override;
  std::string load(OpenedCheckpoint& checkpoint) override;

  // The first reset seed of iteration i's groups: training start states are disjoint from the
  // evaluation seeds (envs::kEvalSeedBase upwards) and from other run seeds' (for seeds < 1000).
  uint64_t first_start_seed(int64_t iteration) const;

 private:
  GroupLearner& learner_;
  GroupRolloutSettings cfg_;
  uint64_t seed_;
  at::Generator gen_;
  int64_t step_ = 0, updates_ = 0, iteration_ = 0;
  Metrics last_;
  double collect_s_ = 0, learn_s_ = 0;  // the last iteration's wall time: playing, then learning
};

}  // namespace softrl::agents
