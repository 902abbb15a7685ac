#include "envs/vector_env.h"

#include <cstring>

namespace softrl::envs {

VectorEnv::VectorEnv(const std::string& id, int num_envs, const EnvOptions& options, int threads)
    : pool_(std::make_unique<ForkJoinPool>(std::max(1, threads))) {
  if (num_envs < 1) throw EnvError("VectorEnv: num_envs must be >= 1, got " + std::to_string(num_envs));
  for (int i = 0; i < num_envs; ++i) envs_.push_back(make_env(id, options));
  returns_.assign(num_envs, 0.0);
  lengths_.assign(num_envs, 0);
  episode_index_.assign(num_envs, 0);
  episode_actions_.assign(num_envs, {});
}

void VectorEnv::set_threads(int threads) {
  if (std::max(1, threads) != pool_->threads()) pool_ = std::make_unique<ForkJoinPool>(std::max(1, threads));
}

torch::Tensor VectorEnv::reset(uint64_t base_seed) {
  std::vector<uint64_t> seeds(envs_.size());
  for (size_t i = 0; i < seeds.size(); ++i) seeds[i] = base_seed + i;
  return reset(seeds);
}

torch::Tensor VectorEnv::reset(const std::vector<uint64_t>& seeds) {
  const int64_t n = num_envs();
  if (static_cast<int64_t>(seeds.size()) != n)
    throw EnvError("VectorEnv::reset: " + std::to_string(seeds.size()) + " seeds for " + std::to_string(n) + " envs");
  first_seed_ = seeds;
  seed_rule_ = nullptr;
  return reset_all();
}

torch::Tensor VectorEnv::reset(SeedRule rule) {
  first_seed_.assign(envs_.size(), 0);
  seed_rule_ = std::move(rule);
  return reset_all();
}

torch::Tensor VectorEnv::reset_all() {
  const int64_t n = num_envs(), d = spec().observation_space.dim();
  torch::Tensor obs = torch::empty({n, d});
  float* po = obs.data_ptr<float>();
  std::fill(episode_index_.begin(), episode_index_.end(), 0);
  for (auto& a : episode_actions_) a.clear();
  std::vector<std::string> errors(n);
  pool_->run(n, [&](int64_t i) {
    try {
      const std::vector<float> o = envs_[i]->reset(episode_seed(i));
      std::memcpy(po + i * d, o.data(), sizeof(float) * d);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  });
  for (int64_t i = 0; i < n; ++i)
    if (!errors[i].empty()) throw EnvError("env " + std::to_string(i) + ": " + errors[i]);
  std::fill(returns_.begin(), returns_.end(), 0.0);
  std::fill(lengths_.begin(), lengths_.end(), 0);
  return obs;
}

VectorStep VectorEnv::step(const torch::Tensor& actions_in) { return step(actions_in, {}); }

VectorStep VectorEnv::step(const torch::Tensor& actions_in, const std::vector<char>& active) {
  const int64_t n = num_envs(), d = spec().observation_space.dim(), a = spec().action_space.dim();
  const torch::Tensor actions = actions_in.to(torch::kFloat32).contiguous().reshape({n, -1});
  if (actions.size(1) != a) {
    throw EnvError(spec().id + ": VectorEnv.step got actions of shape " + std::to_string(actions_in.dim()) +
                   "-d with " + std::to_string(actions.size(1)) + " values per env, expected " + std::to_string(a));
  }
  VectorStep out;
  if (!active.empty() && static_cast<int64_t>(active.size()) != n)
    throw EnvError("VectorEnv.step: " + std::to_string(active.size()) + " activity flags for " + std::to_string(n) + " envs");
  out.obs = active.empty() ? torch::empty({n, d}) : torch::zeros({n, d});
  out.final_obs = torch::zeros({n, d});
  out.reward = torch::empty({n}, torch::kFloat64);
  out.terminated = torch::empty({n}, torch::kBool);
  out.truncated = torch::empty({n}, torch::kBool);
  const float* pa = actions.data_ptr<float>();
  float* po = out.obs.data_ptr<float>();
  float* pf = out.final_obs.data_ptr<float>();
  double* pr = out.reward.data_ptr<double>();
  bool* pt = out.terminated.data_ptr<bool>();
  bool* pu = out.truncated.data_ptr<bool>();
  std::vector<char> done(n, 0);
  std::vector<std::string> errors(n);
  pool_->run(n, [&](int64_t i) {
    if (!active.empty() && !active[i]) {
      pr[i] = 0, pt[i] = false, pu[i] = false;
      return;
    }
    try {
      StepResult r = envs_[i]->step(std::span<const float>(pa + i * a, a));
      episode_actions_[i].insert(episode_actions_[i].end(), pa + i * a, pa + (i + 1) * a);
      pr[i] = r.reward;
      pt[i] = r.terminated;
      pu[i] = r.truncated;
      returns_[i] += r.reward;
      lengths_[i] += 1;
      if (r.terminated || r.truncated) {
        done[i] = 1;
        std::memcpy(pf + i * d, r.obs.data(), sizeof(float) * d);
        ++episode_index_[i];
        episode_actions_[i].clear();
        const std::vector<float> first = envs_[i]->reset(episode_seed(i));
        std::memcpy(po + i * d, first.data(), sizeof(float) * d);
      } else {
        std::memcpy(po + i * d, r.obs.data(), sizeof(float) * d);
      }
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  });
  for (int64_t i = 0; i < n; ++i)
    if (!errors[i].empty()) throw EnvError("env " + std::to_string(i) + ": " + errors[i]);
  for (int64_t i = 0; i < n; ++i) {
    if (!done[i]) continue;
    out.finished_returns.push_back(returns_[i]);
    out.finished_lengths.push_back(lengths_[i]);
    returns_[i] = 0.0;
    lengths_[i] = 0;
  }
  return out;
}

}  // namespace softrl::envs

namespace softrl::envs {

VectorEnvSnapshot VectorEnv::snapshot() const {
  return {first_seed_, episode_index_, episode_actions_, returns_, lengths_};
}

torch::Tensor VectorEnv::restore(const VectorEnvSnapshot& snap) {
  const int64_t n = num_envs(), d = spec().observation_space.dim(), a = spec().action_space.dim();
  if (static_cast<int64_t>(snap.episode_index.size()) != n || static_cast<int64_t>(snap.episode_actions.size()) != n ||
      static_cast<int64_t>(snap.first_seeds.size()) != n)
    throw EnvError("VectorEnv::restore: snapshot is for " + std::to_string(snap.episode_index.size()) + " envs, not " +
                   std::to_string(n));
  first_seed_ = snap.first_seeds;
  episode_index_ = snap.episode_index;
  episode_actions_ = snap.episode_actions;
  returns_ = snap.returns;
  lengths_ = snap.lengths;
  torch::Tensor obs = torch::empty({n, d});
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> o = envs_[i]->reset(episode_seed(i));
    const auto& acts = episode_actions_[i];
    if (acts.size() % static_cast<size_t>(a) != 0) throw EnvError("VectorEnv::restore: action history has a bad size");
    for (size_t k = 0; k < acts.size(); k += static_cast<size_t>(a)) {
      StepResult r = envs_[i]->step(std::span<const float>(acts.data() + k, static_cast<size_t>(a)));
      if (r.terminated || r.truncated) throw EnvError("VectorEnv::restore: replayed episode ended early");
      o.assign(r.obs.begin(), r.obs.end());
    }
    std::memcpy(obs.data_ptr<float>() + i * d, o.data(), sizeof(float) * d);
  }
  return obs;
}

}  // namespace softrl::envs
