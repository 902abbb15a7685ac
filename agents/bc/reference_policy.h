#pragma once
// What the learners that start from, and stay close to, a reference policy share (OREO, DPO, ADPO;
// TRL's ref_model): the per-step inputs of a policy's likelihood on a dataset, the policy's
// per-step log-probs and distribution parameters there, the exact per-step KL between two such
// evaluations, and a reference obtained by behaviour cloning of the same dataset (the SFT step of
// Rafailov et al. 2023 when no SFT model exists).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "agents/core/policy.h"
#include "data/dataset.h"
#include "objectives/grpo.h"

namespace softrl::agents {

// A dataset's steps as a policy's likelihood needs them: observations (float32), actions, and for
// tanh-Gaussian policies the pre-tanh action u where the behaviour recorded it, else atanh of the
// action clamped as PolicyHead::log_prob does (a float32 tanh saturates).
// Soft actions (SofT-GRPO, agents/soft_actions.h): `perturbed` holds each step's g', obs the
// policy's input, and the log-prob is g''s Gumbel log-density under `soft` (logits in `a`).
struct PolicySteps {
  torch::Tensor obs, actions, u;
  torch::Tensor perturbed;
  grpo::SoftDensityOptions soft;
};
PolicySteps policy_steps(const data::Dataset& d);

// A policy at a set of steps: log pi(a_t | s_t) and its distribution (categorical: logits in `a`;
// Gaussian before tanh: mean in `a`, log-std in `b`). Continuous log-probs are pre-tanh Gaussian
// log-densities at u: two tanh-Gaussian policies' log-ratio is exact without the shared Jacobian.
struct StepScores {
  torch::Tensor logp, a, b;
  StepScores index_select(const torch::Tensor& index) const;
};
// With gradient when the caller records one; `index` selects steps of `steps` (all when undefined).
StepScores score_steps(PolicyHead& policy, const PolicySteps& steps, const torch::Tensor& index = {});
// Every step, without gradient, in slices (datasets of millions of steps).
StepScores score_all_steps(PolicyHead& policy, const PolicySteps& steps);
// The exact KL(p || q) per step of two evaluations of policies of one kind.
torch::Tensor step_kl(const StepScores& p, const StepScores& q, bool discrete);

// How a reference policy comes about: a trained one, or behaviour cloning of the learner's
// dataset in the run's first moments (the learner's begin()).
struct ReferenceRecipe {
  std::shared_ptr<PolicyHead> policy;  // given
  int64_t bc_steps = 0;                // else: BC for this many samples
  std::vector<int64_t> bc_net_arch = {256, 256};
  double bc_learning_rate = 1e-3;
  int64_t bc_batch_size = 256;
  PolicySpec spec(const envs::EnvSpec& env) const;
};

void copy_parameters(PolicyHead& to, PolicyHead& from);
// An exponential moving average: to <- (1 - rate) to + rate from (an EMA anchor following a policy).
void follow(PolicyHead& to, PolicyHead& from, double rate);
// Behaviour cloning of `steps` into `policy` for recipe.bc_steps samples; one line on stderr
// (prefixed by `who`) with the final loss and the time taken.
void clone_behaviour(PolicyHead& policy, const PolicySteps& steps, const ReferenceRecipe& recipe, uint64_t seed,
                     const std::string& who);

}  // namespace softrl::agents
