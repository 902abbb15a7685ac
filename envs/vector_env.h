#pragma once
// N environments stepped as a batch on a small thread pool, with auto-reset. Results are the
// same for any thread count: each env owns its RNG, seeded base_seed + index at the first reset,
// and later episodes continue that env's stream.
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "envs/registry.h"

namespace softrl::envs {

struct VectorStep {
  torch::Tensor obs;          // [N, obs_dim] float32: the next observation (after auto-reset)
  torch::Tensor reward;       // [N] float64
  torch::Tensor terminated;   // [N] bool
  torch::Tensor truncated;    // [N] bool
  torch::Tensor final_obs;    // [N, obs_dim]: the last observation of episodes that ended this step
  std::vector<double> finished_returns;  // returns of episodes that ended this step (env order)
  std::vector<int> finished_lengths;
};

class VectorEnv {
 public:
  VectorEnv(const std::string& id, int num_envs, const EnvOptions& options = {}, int threads = 1);

  int num_envs() const { return static_cast<int>(envs_.size()); }
  const EnvSpec& spec() const { return envs_.front()->spec(); }
  void set_threads(int threads) { threads_ = std::max(1, threads); }

  torch::Tensor reset(uint64_t base_seed);  // [N, obs_dim]
  // actions: [N, act_dim] float (continuous) or [N] / [N, 1] integers or floats (discrete).
  VectorStep step(const torch::Tensor& actions);

 private:
  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<double> returns_;
  std::vector<int> lengths_;
  int threads_;
};

}  // namespace softrl::envs
