#pragma once
// N environments stepped as a batch on a small thread pool, with auto-reset. Results are the
// same for any thread count: episode e of env i is reset with seed first_seed[i] + N * e (after
// reset(base): first_seed[i] = base + i), so every episode is reproducible on its own and the whole
// vector env can be restored from its seeds and the actions of the running episodes (see Snapshot).
// reset(seeds) starts each env on a seed of its own: G envs on one seed play G episodes from the
// same start state (same terrain, initial push and wind), GRPO's groups.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/fork_join_pool.h"
#include "envs/registry.h"

namespace softrl::envs {

struct VectorStep {
  torch::Tensor obs;                     // [N, obs_dim] float32: the next observation (after auto-reset)
  torch::Tensor reward;                  // [N] float64
  torch::Tensor terminated;              // [N] bool
  torch::Tensor truncated;               // [N] bool
  torch::Tensor final_obs;               // [N, obs_dim]: the last observation of episodes that ended this step
  std::vector<double> finished_returns;  // returns of episodes that ended this step (env order)
  std::vector<int> finished_lengths;
};

// What it takes to rebuild a VectorEnv exactly: replaying each env's running episode.
struct VectorEnvSnapshot {
  std::vector<uint64_t> first_seeds;
  std::vector<int64_t> episode_index;
  std::vector<std::vector<float>> episode_actions;  // flattened actions of the running episodes
  std::vector<double> returns;
  std::vector<int> lengths;
};

class VectorEnv {
 public:
  VectorEnv(const std::string& id, int num_envs, const EnvOptions& options = {}, int threads = 1);

  int num_envs() const { return static_cast<int>(envs_.size()); }
  const EnvSpec& spec() const { return envs_.front()->spec(); }
  void set_threads(int threads);
  // How long the threads waited for each other at the end of steps and resets (since the pool
  // was made, i.e. since construction or the last set_threads that changed the count).
  ForkJoinPool::JoinStats join_stats() const { return pool_->join_stats(); }

  torch::Tensor reset(uint64_t base_seed);                  // [N, obs_dim]
  torch::Tensor reset(const std::vector<uint64_t>& seeds);  // one seed per env
  // Episode e of env i is reset with rule(i, e) (data collection: groups of episodes on one start
  // state). A snapshot does not hold the rule: restore() then needs the same rule set again.
  using SeedRule = std::function<uint64_t(int64_t env, int64_t episode)>;
  torch::Tensor reset(SeedRule rule);
  // actions: [N, act_dim] float (continuous) or [N] / [N, 1] integers or floats (discrete).
  VectorStep step(const torch::Tensor& actions);
  // Steps only the envs whose `active` entry is nonzero (size num_envs); the others stay where
  // they are and report reward 0, no termination and a zero observation. Collectors use it to stop
  // stepping envs that have no episode left to play.
  VectorStep step(const torch::Tensor& actions, const std::vector<char>& active);

  VectorEnvSnapshot snapshot() const;
  // Returns the current observations after replaying the running episodes.
  torch::Tensor restore(const VectorEnvSnapshot& snap);

 private:
  torch::Tensor reset_all();
  // Everything one env's step writes, on cache lines of its own: the two threads step neighbouring
  // envs at once, and per-field arrays (16 bools in one line) bounced that line between the cores
  // (~1-2 % of a 16-env LunarLander step). The step's tensors are filled from the slots after the join.
  struct alignas(64) Slot {
    int64_t episode_index = 0;
    std::vector<float> episode_actions;  // flattened actions of the running episode
    double episode_return = 0;
    int episode_length = 0;
    double reward = 0;
    bool terminated = false, truncated = false;
    std::string error;
  };
  uint64_t episode_seed(int64_t i) const {
    const int64_t e = slots_[static_cast<size_t>(i)].episode_index;
    if (seed_rule_) return seed_rule_(i, e);
    return first_seed_[i] + static_cast<uint64_t>(envs_.size()) * static_cast<uint64_t>(e);
  }
  void throw_slot_errors() const;

  std::vector<uint64_t> first_seed_;
  SeedRule seed_rule_;
  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<Slot> slots_;
  std::unique_ptr<ForkJoinPool> pool_;
};

}  // namespace softrl::envs
