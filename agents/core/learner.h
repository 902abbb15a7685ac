#pragma once
// A learner owns its networks and optimizers, exposes its policy and its update; a loop (loop.h)
// owns how data reaches it, and the random generator. The split follows Stable-Baselines3
// (OffPolicyAlgorithm.collect_rollouts vs SAC.train): the learner holds only the update math.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/core/metrics.h"
#include "agents/core/policy.h"
#include "agents/core/replay_buffer.h"
#include "data/dataset.h"

namespace softrl::agents {

class Learner {
 public:
  virtual ~Learner() = default;
  virtual PolicyHead& policy() = 0;
  // The names update() reports, in the order of the log's columns.
  virtual std::vector<std::string> metric_names() const = 0;
  // The parameters its updates train: what data-parallel ranks start from equal (rank 0's,
  // broadcast) and average the gradients of. By default: the policy's.
  virtual std::vector<torch::Tensor> trained_parameters() { return policy().parameters(); }
  // False once any parameter is NaN or infinite (a diverged run). By default: the trained ones.
  virtual bool finite();
  // Everything but the policy, which the run saves in its own checkpoint section.
  virtual void save(torch::serialize::OutputArchive& ar) const = 0;
  virtual void load(torch::serialize::InputArchive& ar) = 0;
};

// Learns from batches of transitions: the off-policy loop samples them from its replay buffer,
// the offline loop from a dataset (SAC; behaviour cloning; DQN-like learners would fit too).
class TransitionLearner : public Learner {
 public:
  virtual DeferredMetrics update(const Batch& batch, at::Generator& gen) = 0;
  virtual void set_learning_rate(double lr) = 0;
};

// Learns from a fixed collection of items (transitions, episodes, groups of episodes) that the
// offline loop visits in shuffled minibatches, one epoch after another. Learners whose data grows
// between rounds (iterative OREO) add items in next_round().
class OfflineLearner : public Learner {
 public:
  // A fresh run starts (not called on resume): e.g. train a reference policy first.
  virtual void begin() {}
  virtual int64_t num_items() const = 0;
  // One update on the given item indices [n]; `steps` receives the transitions they hold.
  virtual Metrics update_items(const torch::Tensor& items, at::Generator& gen, int64_t* steps) = 0;
  virtual void set_learning_rate(double lr) = 0;
  // Round `round` (1, 2, ...) of an iterative learner begins: gather more data.
  virtual void next_round(int /*round*/) {}
};

// Learns from groups of whole episodes that share their start states, collected afresh with the
// current policy before each call (GRPO: the loop samples, the learner runs its epochs).
class GroupLearner : public Learner {
 public:
  // One iteration's learning on `rollouts` (grouped; sampled from policy()); `updates` receives
  // the optimizer steps taken.
  virtual Metrics learn(const data::Dataset& rollouts, at::Generator& gen, int64_t* updates) = 0;
  virtual void set_learning_rate(double lr) = 0;
};

}  // namespace softrl::agents
