#pragma once
// Soft Actor-Critic with automatic temperature (Haarnoja et al. 2018, "Soft Actor-Critic
// Algorithms and Applications", eqs. 5, 7, 18; discrete: Christodoulou 2019): continuous
// (tanh-Gaussian) and discrete (softmax policy). Only the update math: the off-policy loop brings
// the data and the random generator.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/core/learner.h"
#include "agents/core/networks.h"
#include "agents/core/policy.h"
#include "agents/core/replay_buffer.h"
#include "agents/core/schedule.h"
#include "common/fork_join_pool.h"
#include "objectives/sac.h"

namespace softrl::agents {

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
  double ent_coef_init = 1.0;                     // auto_X starts at X; a fixed float is the value
  std::optional<double> target_entropy;           // default: -dim(A) / scale * log|A|
  double target_entropy_scale = 0.89;             // discrete only
  sac::TwinReduce twin_q = sac::TwinReduce::min;  // discrete only: the twin critics' min or mean
  // Threads of the continuous update: its two critics' forward and backward passes, Adam steps
  // and Polyak averages run side by side (the same arithmetic at any count, so the same run);
  // LibTorch's own intra-op threads must then be 1 (set_compute_threads).
  int threads = 1;
};

// Gives a SAC learner the run's threads: the continuous update splits its own work over them (one
// critic member each) and LibTorch's ops inside then run on one thread (set here, process-wide),
// which also makes a run independent of its thread count. Discrete SAC keeps LibTorch's threads.
void give_threads(SacConfig& cfg, const PolicySpec& policy, int threads);

class Sac : public TransitionLearner {
 public:
  // The policy's spec says discrete or continuous; its hidden layers are cfg.net_arch.
  Sac(const SacConfig& cfg, const PolicySpec& policy, uint64_t seed);

  bool discrete() const { return policy_.discrete(); }
  PolicyHead& policy() override { return policy_; }
  std::vector<std::string> metric_names() const override;
  bool finite() override;
  DeferredMetrics update(const Batch& batch, at::Generator& gen) override;
  void set_learning_rate(double lr) override;
  double target_entropy() const { return target_entropy_; }
  double alpha() const;

  void save(torch::serialize::OutputArchive& ar) const override;
  void load(torch::serialize::InputArchive& ar) override;
  std::vector<torch::Tensor> all_parameters();

 private:
  struct ActorPass;  // sac.cpp
  DeferredMetrics update_continuous(const Batch& b, at::Generator& gen);
  // update_continuous's three stages.
  ActorPass sample_actor(const Batch& b, at::Generator& gen);
  void step_critics(const Batch& b, const ActorPass& a, double alpha, torch::Tensor* q, torch::Tensor* y);
  torch::Tensor step_actor(const Batch& b, const ActorPass& a, double alpha);
  Metrics update_discrete(const Batch& b);
  // Steps the temperature on log pi (continuous) or the logits (discrete); its loss, NaN when fixed.
  double update_temperature(const torch::Tensor& policy_output);
  void fork(const std::function<void(int64_t)>& f);

  SacConfig cfg_;
  PolicyHead policy_;
  double target_entropy_;
  EnsembleMlp critic_{nullptr}, critic_target_{nullptr};
  torch::Tensor log_alpha_;
  std::unique_ptr<torch::optim::Adam> actor_opt_, critic_opt_, alpha_opt_;
  std::unique_ptr<ForkJoinPool> pool_;
  // The actor's second half-batch writes its weight gradients here (the first writes into the
  // parameters' own), shaped and strided like them; added after both halves are done.
  std::vector<DenseView> actor_grad_half_;
};

}  // namespace softrl::agents
