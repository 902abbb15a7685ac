#pragma once
// A learner owns its networks and optimizers, exposes its policy and its update; a loop (loop.h)
// owns how data reaches it, and the random generator. The split follows Stable-Baselines3
// (OffPolicyAlgorithm.collect_rollouts vs SAC.train): the learner holds only the update math.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/metrics.h"
#include "agents/policy.h"
#include "agents/replay_buffer.h"

namespace softrl::agents {

class Learner {
 public:
  virtual ~Learner() = default;
  virtual PolicyHead& policy() = 0;
  // The names update() reports, in the order of the log's columns.
  virtual std::vector<std::string> metric_names() const = 0;
  // False once any parameter is NaN or infinite (a diverged run). By default: the policy's.
  virtual bool finite();
  // Everything but the policy, which the run saves in its own checkpoint section.
  virtual void save(torch::serialize::OutputArchive& ar) const = 0;
  virtual void load(torch::serialize::InputArchive& ar) = 0;
};

// Learns from batches of transitions: the off-policy loop samples them from its replay buffer,
// the offline loop from a dataset (SAC; behaviour cloning; DQN-like learners would fit too).
class TransitionLearner : public Learner {
 public:
  virtual Metrics update(const Batch& batch, at::Generator& gen) = 0;
  virtual void set_learning_rate(double lr) = 0;
};

}  // namespace softrl::agents
