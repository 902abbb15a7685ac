#pragma once
// SofT-GRPO's "soft actions" (Zheng & Lee 2025, arXiv 2511.06411) for a K-way categorical policy:
// p = softmax(z / T); Gumbel-perturbed logits g' = log p + eps (eps ~ Gumbel(0, 1), drawn as
// -log E with E ~ Exp(1)); soft weights y = softmax(g' / tau_g). Two ways to execute them (the
// mapping of the LLM's soft token onto a control task):
//  - argmax_feedback (LunarLander-v3): the env takes argmax g', an exact Categorical(p) sample when
//    the noise is not clamped (Gumbel-max), and y is fed back as K extra policy inputs at the next
//    step (zeros at an episode's first step), as the soft token shapes the next forward pass;
//  - prototype_mixture (LunarLanderContinuous-v3): the env takes sum_k y_k c_k, a mixture of K
//    continuous action prototypes, as the soft token is a mixture of embeddings.
// The learner scores each step under the current policy by `score`: the executed entry's
// categorical log-probability (the paper's treatment of answer tokens), or g''s Gumbel log-density.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/bc/reference_policy.h"
#include "agents/core/policy.h"
#include "envs/env.h"
#include "envs/rng.h"
#include "objectives/grpo.h"

namespace softrl::agents {

struct SoftActionSettings {
  enum class Execution { argmax_feedback, prototype_mixture };
  // categorical: the executed entry argmax g' scored by log softmax(z / T) (noise unclamped, so it
  // is an exact sample of p); the soft inputs y stay the "thinking" channel and the Gumbel noise
  // still drives exploration.
  // gumbel_exact: the sum of the K independent Gumbel(log p_k, 1) log-densities of g', noise never
  // clamped (the density of what was sampled, so the ratio is a true importance weight);
  // gumbel_reference: SofT-GRPO's code: noise clamped to [-1.5, 3] at sampling and when recovered,
  // log(p + 1e-6), entries with log p <= -3 dropped, the mean over the kept entries.
  enum class Score { categorical, gumbel_exact, gumbel_reference };

  Execution execution = Execution::argmax_feedback;
  Score score = Score::categorical;
  // false: the K fed-back inputs are held at zero (a categorical policy with the soft policy's
  // inputs, isolating what the fed-back y adds).
  bool feedback = true;
  double temperature = 1.0;                    // T of p = softmax(z / T)
  double gumbel_temperature = 0.1;             // tau_g of y = softmax(g' / tau_g) (the script's 0.1)
  std::vector<std::vector<float>> prototypes;  // prototype_mixture: K actions of the env's box

  int64_t num_actions() const;  // K
  int64_t extra_inputs() const { return execution == Execution::argmax_feedback ? num_actions() : 0; }
  grpo::SoftDensityOptions density_options() const;
  // Noise bounds at sampling time (infinite for the exact density).
  double noise_min() const;
  double noise_max() const;
  std::string describe() const;  // e.g. "soft actions (argmax + feedback, T 1, tau_g 0.1, categorical score)"
};

// The four prototypes of LunarLanderContinuous-v3 with the discrete actions' meaning (Gymnasium's
// LunarLander.step: the main engine fires for a_0 > 0, a side engine for |a_1| > 0.5 in the
// direction of sign(a_1)): noop (-1, 0), left (-1, -1), main (+1, 0), right (-1, +1).
std::vector<std::vector<float>> lunar_lander_prototypes();

// The policy's spec for soft actions on `env`: categorical over K, with the fed-back inputs.
PolicySpec soft_policy_spec(const SoftActionSettings& s, const envs::EnvSpec& env, std::vector<int64_t> hidden);

// One Gumbel(0, 1) draw from a uniform stream: -log(-log u), u in (0, 1) strictly.
double gumbel_draw(envs::Rng& rng);

// The location of g' for `logits` [N, K]: log softmax(z / T), or log(p + 1e-6) (reference).
torch::Tensor soft_log_probs(const SoftActionSettings& s, const torch::Tensor& logits);

// One soft step for N rows: g' = log p + noise (reference: log(p + 1e-6) + clamped noise), its
// soft weights y and the executed actions ([N] int64 argmax, or [N, act_dim] float32 mixtures).
struct SoftStep {
  torch::Tensor perturbed, weights, actions;
};
// `logits` [N, K] of the policy (before the temperature); `noise` [N, K] Gumbel(0, 1) draws.
SoftStep soft_step(const SoftActionSettings& s, const torch::Tensor& logits, const torch::Tensor& noise);
// The noise-free step: g' = log p, the executed entry argmax z and y its one-hot vector, the limit
// tau_g -> 0 of what training fed back (y is near one-hot at the executed action in training:
// softmax(log p / tau_g) would be a distribution the policy never saw as input).
SoftStep greedy_soft_step(const SoftActionSettings& s, const torch::Tensor& logits);
// Each step's log-likelihood under `logits` by the settings' score: [N] from g' [N, K].
torch::Tensor soft_score(const SoftActionSettings& s, const torch::Tensor& logits, const torch::Tensor& perturbed);

// The policy's input at every step of stored episodes: the observation, then (feedback) y of the
// previous step rebuilt from the stored g' (zeros at each episode's first step). obs [N, d],
// perturbed [N, K], episode_start [E + 1].
torch::Tensor soft_policy_inputs(const SoftActionSettings& s, const torch::Tensor& obs, const torch::Tensor& perturbed,
                                 const torch::Tensor& episode_start);

// A grouped rollout's steps as the learner scores them: inputs as above, g' as `perturbed`.
PolicySteps soft_policy_steps(const SoftActionSettings& s, const data::Dataset& d);

// A soft-action policy acting one observation at a time (evaluation): sampled with Gumbel noise
// from its own stream, or deterministic (greedy_soft_step: argmax of the logits, one-hot y).
class SoftPolicyActor : public envs::Policy {
 public:
  // `policy` must outlive the actor.
  SoftPolicyActor(PolicyHead& policy, SoftActionSettings settings, bool deterministic, uint64_t seed = 0);
  void begin_episode() override;
  std::vector<float> act(std::span<const float> obs) override;

 private:
  PolicyHead& policy_;
  SoftActionSettings s_;
  bool deterministic_;
  envs::Rng rng_;
  std::vector<float> previous_;  // y of the last step
};

}  // namespace softrl::agents
