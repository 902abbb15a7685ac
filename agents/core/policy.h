#pragma once
// A policy usable without its learner: evaluation, data collection, reference policies (the anchor
// of DPO/ADPO, the reference of OREO/GRPO) and teachers all act through a PolicyHead, and
// load_policy() builds one from any checkpoint without building optimizers or critics.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/core/checkpoint.h"
#include "agents/core/networks.h"
#include "envs/env.h"

namespace softrl::agents {

struct PolicySpec {
  enum class Kind { categorical, tanh_gaussian };
  Kind kind = Kind::tanh_gaussian;
  int64_t obs_dim = 0;
  int64_t act_dim = 0;      // values per action: the box's dimension, or 1 for categorical
  int64_t num_actions = 0;  // categorical only
  std::vector<int64_t> hidden;

  // Categorical for a discrete action space, tanh-Gaussian over [-1, 1]^d for a box.
  static PolicySpec for_env(const envs::EnvSpec& env, std::vector<int64_t> hidden);
  bool operator==(const PolicySpec&) const = default;
  std::string describe() const;  // e.g. "tanh-Gaussian 8 -> [64, 64] -> 2"
};

class PolicyHead {
 public:
  explicit PolicyHead(const PolicySpec& spec);

  const PolicySpec& spec() const { return spec_; }
  bool discrete() const { return spec_.kind == PolicySpec::Kind::categorical; }

  // Actions for a batch of observations [N, obs_dim], without gradient: [N, act_dim] floats in
  // [-1, 1] (tanh-Gaussian) or [N] int64 (categorical). Deterministic: tanh(mean) / argmax.
  torch::Tensor act(const torch::Tensor& obs, bool deterministic, c10::optional<at::Generator> gen = c10::nullopt);
  // The action distribution's parameters for [N, obs_dim] observations, without gradient:
  // categorical: logits [N, A]; tanh-Gaussian: mean and log_std [N, d] of the Gaussian before tanh.
  struct Distribution {
    torch::Tensor logits, mean, log_std;
  };
  Distribution distribution(const torch::Tensor& obs);
  // log pi(a | s) of stored actions, with gradient. Tanh-Gaussian actions are clamped to
  // |a| <= 1 - 1e-6 before atanh (a float32 tanh saturates at +-1).
  torch::Tensor log_prob(const torch::Tensor& obs, const torch::Tensor& actions);
  // Categorical: the exact entropy. Tanh-Gaussian: the entropy of the Gaussian before the squash,
  // an upper bound of the action's entropy (the tanh has no closed form).
  torch::Tensor entropy(const torch::Tensor& obs);

  GaussianPolicy& gaussian() { return gaussian_; }
  CategoricalPolicy& categorical() { return categorical_; }
  torch::nn::Module& module();
  std::vector<torch::Tensor> parameters();

  // The spec and the network weights: enough to rebuild the policy from the archive alone.
  void save(torch::serialize::OutputArchive& ar) const;
  // Loads the weights of an archive written by save(); throws CheckpointError when its spec differs.
  void load(torch::serialize::InputArchive& ar, const std::string& source);
  // Reads the spec that save() wrote.
  static PolicySpec read_spec(torch::serialize::InputArchive& ar);

 private:
  PolicySpec spec_;
  GaussianPolicy gaussian_{nullptr};
  CategoricalPolicy categorical_{nullptr};
};

// True when every element of every tensor is finite; with parts > 1, of part `part` of each tensor
// (its elements [numel part / parts, numel (part + 1) / parts)), so that threads can share the check.
bool all_finite(const std::vector<torch::Tensor>& tensors, int64_t part = 0, int64_t parts = 1);

struct LoadedPolicy {
  std::shared_ptr<PolicyHead> policy;
  CheckpointHeader header;  // algo, env id, spaces, the run's resolved config, env steps
};
// Loads a checkpoint's policy section into `head`; throws CheckpointError when the shapes differ.
void restore_policy(PolicyHead& head, OpenedCheckpoint& checkpoint);
// The policy of any softrl checkpoint (format 1 or 2). Throws CheckpointError naming the file.
LoadedPolicy load_policy(const std::string& checkpoint_path);

// A PolicyHead acting on one observation at a time, as envs::Policy (evaluation and collection).
class PolicyActor : public envs::Policy {
 public:
  // `policy` must outlive the actor.
  PolicyActor(PolicyHead& policy, bool deterministic, uint64_t seed = 0);
  std::vector<float> act(std::span<const float> obs) override;

 private:
  PolicyHead& policy_;
  bool deterministic_;
  at::Generator gen_;
};

// A policy whose initial weights depend only on `seed` (LibTorch's initialisers draw from the
// global generator): the initial weights are part of a run's determinism.
std::shared_ptr<PolicyHead> seeded_policy(const PolicySpec& spec, uint64_t seed);

}  // namespace softrl::agents
