#pragma once
// Value-guided action selection, OREO's test-time search (Wang, Hao et al. 2024, Sec. 4.4, the
// best-of-K action selection of its ALFWorld experiments): at every step, sample K actions from
// the policy, simulate one step of each from an exact snapshot of the environment, and take the
// action whose outcome scores best by r + gamma * V(s') (0 after a termination). Costs K extra
// environment steps per decision.
#include <cstdint>

#include "agents/core/policy.h"
#include "agents/oreo/value_function.h"
#include "envs/env.h"

namespace softrl::agents {

struct ValueGuidance {
  int candidates = 4;  // K
  double gamma = 1.0;
  double reward_scale = 1.0;  // r / reward_scale, in V's units (dense OREO rewards)
  // Sparse OREO values (R in {0, 1}): a termination scores 1 when the episode's return reaches this.
  std::optional<double> success_return;
};

class ValueGuidedActor : public envs::Policy {
 public:
  // `env` is the environment the actor plays in (it must support snapshots); `policy`, `value`
  // and `env` must outlive the actor.
  ValueGuidedActor(PolicyHead& policy, const ValueFunction& value, envs::Env& env, const ValueGuidance& g,
                   uint64_t seed);
  void begin_episode() override { episode_return_ = 0; }
  std::vector<float> act(std::span<const float> obs) override;
  int64_t simulated_steps() const { return simulated_; }
  int64_t decisions() const { return decisions_; }

 private:
  PolicyHead& policy_;
  const ValueFunction& value_;
  envs::Env& env_;
  ValueGuidance g_;
  at::Generator gen_;
  double episode_return_ = 0;
  int64_t simulated_ = 0, decisions_ = 0;
};

}  // namespace softrl::agents
