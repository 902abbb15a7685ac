#include "agents/bc/reference_policy.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "agents/bc/behaviour_cloning.h"
#include "agents/loops/offline_loop.h"
#include "common/interrupts.h"
#include "objectives/primitives.h"

namespace softrl::agents {

PolicySteps policy_steps(const data::Dataset& d) {
  PolicySteps s{.obs = d.observations.to(torch::kFloat32), .actions = d.actions};
  if (!d.discrete()) {
    const double edge = 1.0 - 1e-6;
    const torch::Tensor from_action = torch::atanh(d.actions.to(torch::kFloat32).clamp(-edge, edge));
    s.u = d.pre_tanh_actions.defined()
              ? torch::where(torch::isfinite(d.pre_tanh_actions), d.pre_tanh_actions, from_action)
              : from_action;
  }
  return s;
}

StepScores StepScores::index_select(const torch::Tensor& index) const {
  StepScores r;
  r.logp = logp.index_select(0, index);
  r.a = a.index_select(0, index);
  if (b.defined()) r.b = b.index_select(0, index);
  return r;
}

StepScores score_steps(PolicyHead& policy, const PolicySteps& steps, const torch::Tensor& index) {
  const auto pick = [&](const torch::Tensor& t) { return index.defined() ? t.index_select(0, index) : t; };
  const torch::Tensor obs = pick(steps.obs);
  StepScores s;
  if (policy.discrete()) {
    s.a = policy.categorical()->logits(obs);
    if (steps.perturbed.defined()) {
      const torch::Tensor g = pick(steps.perturbed);
      const torch::Tensor ids = torch::arange(g.size(1), torch::kLong).expand(g.sizes());
      s.logp = grpo::soft_action_log_density(s.a, ids, g, steps.soft);
    } else {
      s.logp = selective_log_softmax(s.a, pick(steps.actions).to(torch::kLong));
    }
  } else {
    const auto p = policy.gaussian()->params(obs);
    s.a = p.mu, s.b = p.log_std;
    s.logp = gaussian_log_prob(pick(steps.u), p.mu, p.log_std);
  }
  return s;
}

StepScores score_all_steps(PolicyHead& policy, const PolicySteps& steps) {
  torch::NoGradGuard no_grad;
  const int64_t n = steps.obs.size(0), slice = 65536;
  std::vector<torch::Tensor> logp, a, b;
  for (int64_t s = 0; s < n; s += slice) {
    const StepScores part = score_steps(policy, steps, torch::arange(s, std::min(n, s + slice)));
    logp.push_back(part.logp), a.push_back(part.a);
    if (part.b.defined()) b.push_back(part.b);
  }
  StepScores all;
  if (logp.empty()) return all;
  all.logp = torch::cat(logp);
  all.a = torch::cat(a);
  if (!b.empty()) all.b = torch::cat(b);
  return all;
}

torch::Tensor step_kl(const StepScores& p, const StepScores& q, bool discrete) {
  return discrete ? kl(p.a, q.a) : gaussian_kl(p.a, p.b, q.a, q.b);
}

PolicySpec ReferenceRecipe::spec(const envs::EnvSpec& env) const {
  return policy ? policy->spec() : PolicySpec::for_env(env, bc_net_arch);
}

void copy_parameters(PolicyHead& to, PolicyHead& from) {
  torch::NoGradGuard no_grad;
  const auto dst = to.parameters(), src = from.parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
}

void follow(PolicyHead& to, PolicyHead& from, double rate) {
  torch::NoGradGuard no_grad;
  const auto dst = to.parameters(), src = from.parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].lerp_(src[i], rate);
}

void clone_behaviour(PolicyHead& policy, const PolicySteps& steps, const ReferenceRecipe& recipe, uint64_t seed,
                     const std::string& who) {
  const auto t0 = std::chrono::steady_clock::now();
  BehaviourCloning bc(policy.spec(), recipe.bc_learning_rate, seed);
  const torch::Tensor zeros = torch::zeros({steps.obs.size(0)});
  OfflineLoop loop(bc, Batch{steps.obs, steps.actions, zeros, steps.obs, zeros},
                   {.total_steps = recipe.bc_steps,
                    .batch_size = recipe.bc_batch_size,
                    .learning_rate = {.initial = recipe.bc_learning_rate}},
                   seed);
  loop.begin(seed);
  while (loop.steps() < recipe.bc_steps) {
    if (pending_signal()) throw StopRequested{};  // at set-up: nothing to save yet
    loop.iterate();
  }
  copy_parameters(policy, bc.policy());
  std::cerr << who << ": reference policy by behaviour cloning (" << recipe.bc_steps << " samples, final loss "
            << loop.metrics().back().second << ") in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
}

}  // namespace softrl::agents
