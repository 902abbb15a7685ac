#pragma once
// Soft Actor-Critic with automatic temperature (spec algorithms.md §1): continuous
// (tanh-Gaussian) and discrete (softmax policy). The learner knows nothing of YAML or files
// beyond (de)serializing its own state into an archive.
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/networks.h"
#include "agents/replay_buffer.h"

namespace softrl::agents {

// Learning rate: constant, or linear from `initial` to 0 over training (RL Zoo's lin_X).
struct Schedule {
  double initial = 3e-4;
  bool linear = false;
  double at(double progress_remaining) const { return linear ? initial * progress_remaining : initial; }
};

struct SacConfig {
  std::vector<int64_t> net_arch = {256, 256};
  int64_t batch_size = 256;
  int64_t buffer_size = 1000000;
  double gamma = 0.99;
  double tau = 0.005;
  int64_t train_freq = 1;
  int64_t gradient_steps = 1;
  int64_t learning_starts = 100;
  Schedule learning_rate;
  bool auto_ent_coef = true;
  double ent_coef_init = 1.0;                // auto_X starts at X; a fixed float is the value
  std::optional<double> target_entropy;      // default: -dim(A) / scale * log|A|
  double target_entropy_scale = 0.89;        // discrete only
};

struct SacMetrics {
  double critic_loss = 0, actor_loss = 0, alpha_loss = 0, alpha = 0, entropy = 0, q1 = 0, q2 = 0, target_q = 0;
};

class Sac {
 public:
  // discrete: num_actions > 0; continuous: act_dim actions in [-1, 1].
  Sac(const SacConfig& cfg, int64_t obs_dim, int64_t act_dim, int64_t num_actions, uint64_t seed);

  bool discrete() const { return num_actions_ > 0; }
  // Actions for a batch of observations: [N, act_dim] float (continuous) or [N] int64.
  torch::Tensor act(const torch::Tensor& obs, bool deterministic);
  SacMetrics update(const Batch& batch);
  void set_learning_rate(double lr);
  double target_entropy() const { return target_entropy_; }
  double alpha() const;

  at::Generator& generator() { return gen_; }
  void save(torch::serialize::OutputArchive& ar) const;
  void load(torch::serialize::InputArchive& ar);
  std::vector<torch::Tensor> policy_parameters() const;
  std::vector<torch::Tensor> all_parameters() const;

 private:
  torch::Tensor critic_target(const Batch& b, double alpha);  // y, under no_grad
  torch::Tensor critic_at(const torch::Tensor& obs, const torch::Tensor& actions);  // [2, B]

  SacConfig cfg_;
  int64_t obs_dim_, act_dim_, num_actions_;
  double target_entropy_;
  GaussianPolicy gaussian_{nullptr};
  CategoricalPolicy categorical_{nullptr};
  EnsembleMlp critic_{nullptr}, critic_target_{nullptr};
  torch::Tensor log_alpha_;
  std::unique_ptr<torch::optim::Adam> actor_opt_, critic_opt_, alpha_opt_;
  at::Generator gen_;
};

}  // namespace softrl::agents
