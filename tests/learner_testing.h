#pragma once
// What the learner test suites share: a metric by name, a policy stored in a checkpoint's learner
// section (reference, anchor), and the resume check (a run trained whole vs interrupted and
// resumed must end with identical tensors).
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "agents/core/learner.h"
#include "agents/core/metrics.h"
#include "agents/core/policy.h"
#include "apps/commands/train_command.h"

namespace softrl::testing {

inline double metric(const agents::Metrics& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  FAIL("no metric " << name);
  return 0;
}

// The parameters of the policy saved under `key` in a checkpoint's learner section.
inline std::vector<torch::Tensor> learner_policy(const std::filesystem::path& ckpt, const std::string& key) {
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  torch::serialize::InputArchive learner = c.section("learner"), saved;
  learner.read(key, saved);
  agents::PolicyHead p(agents::PolicyHead::read_spec(saved));
  p.load(saved, ckpt.string());
  std::vector<torch::Tensor> out;
  for (const auto& t : p.parameters()) out.push_back(t.detach().clone());
  return out;
}

// The policy's parameters, then those of the policy saved under `key` in the learner section.
inline std::vector<torch::Tensor> policy_and_learner_policy(const std::filesystem::path& ckpt, const std::string& key) {
  std::vector<torch::Tensor> out;
  for (const auto& t : agents::load_policy(ckpt.string()).policy->parameters()) out.push_back(t.detach().clone());
  for (const auto& t : learner_policy(ckpt, key)) out.push_back(t);
  return out;
}

// A small run of a group learner (`algo`: grpo or soft_grpo) on LunarLander-v3: 3000 steps, 2 start
// states x 3 episodes per iteration, 2 epochs, KL to the initial policy; `extra` adds section keys.
inline std::filesystem::path write_group_run_config(const std::filesystem::path& dir, const std::string& algo,
                                                    const std::string& extra = "") {
  const std::filesystem::path cfg = dir / (algo + ".yaml");
  std::ofstream(cfg) << "env: {id: LunarLander-v3}\nalgo: " << algo << "\nseed: 2\ntotal_steps: 3000\nn_envs: 4\n"
                     << "eval: {every: 0, episodes: 2}\ncheckpoint: {every: 0}\nlog: {every: 500}\n"
                     << algo
                     << ": {net_arch: [16], groups: 2, group_size: 3, epochs: 2, minibatch_episodes: 4, kl_coef: 0.01"
                     << extra << "}\n";
  return cfg;
}

// Adam's first step from `before` to `after` (parameters, in order) along `grad`: every weight whose
// gradient is well above Adam's epsilon moved by exactly -lr * sign(gradient).
inline void check_adam_first_step(const std::vector<torch::Tensor>& before, const std::vector<torch::Tensor>& after,
                                  const std::vector<torch::Tensor>& grad, double lr) {
  int64_t agree = 0, counted = 0;
  for (size_t k = 0; k < grad.size(); ++k) {
    const torch::Tensor step = after[k].detach() - before[k];
    const torch::Tensor big = grad[k].abs() > 1e-5;
    agree += ((step * grad[k] < 0) & big).sum().item<int64_t>();
    counted += big.sum().item<int64_t>();
    CHECK(((step.abs() - lr).abs() < 1e-2 * lr | ~big).all().item<bool>());
  }
  REQUIRE(counted > 100);
  CHECK(agree == counted);
}

// One learn() of a group learner on `d` that must be one Adam step of size `lr` along the gradient
// of `expected_loss()` (the surrogate at ratio 1, written independently and evaluated on the
// policy before the step). Returns the learner's metrics.
inline agents::Metrics check_update_follows_gradient(agents::GroupLearner& g, const data::Dataset& d,
                                                     const std::function<torch::Tensor()>& expected_loss, double lr) {
  std::vector<torch::Tensor> before, grad;
  for (const auto& p : g.policy().parameters()) before.push_back(p.detach().clone());
  for (auto& p : g.policy().parameters()) p.mutable_grad() = torch::Tensor();
  expected_loss().backward();
  for (const auto& p : g.policy().parameters()) grad.push_back(p.grad().clone());
  at::Generator gen = at::detail::createCPUGenerator(0);
  int64_t updates = 0;
  const agents::Metrics m = g.learn(d, gen, &updates);
  CHECK(updates == 1);
  check_adam_first_step(before, g.policy().parameters(), grad, lr);
  return m;
}

// Trains `config` whole into dir/full and, into dir/split, stopped after `interrupt_after` steps
// (exit 130) then resumed; the two final checkpoints' `tensors` must be equal.
inline void check_resume_exact(const std::filesystem::path& config, const std::filesystem::path& dir,
                               int64_t interrupt_after,
                               const std::function<std::vector<torch::Tensor>(const std::filesystem::path&)>& tensors) {
  std::ostringstream out, err;
  REQUIRE(apps::run_train({.config_path = config.string(), .run_dir = (dir / "full").string(), .progress = false}, out,
                          err) == 0);
  REQUIRE(apps::run_train({.config_path = config.string(),
                           .run_dir = (dir / "split").string(),
                           .progress = false,
                           .interrupt_after_steps = interrupt_after},
                          out, err) == 130);
  REQUIRE(apps::run_train({.resume_dir = (dir / "split").string(), .progress = false}, out, err) == 0);
  const auto a = tensors(dir / "full" / "checkpoints" / "latest.pt");
  const auto b = tensors(dir / "split" / "checkpoints" / "latest.pt");
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

}  // namespace softrl::testing
