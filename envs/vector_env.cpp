#include "envs/vector_env.h"

#include <cstring>

namespace softrl::envs {

VectorEnv::VectorEnv(const std::string& id, int num_envs, const EnvOptions& options, int threads)
    : pool_(std::make_unique<ForkJoinPool>(std::max(1, threads))) {
  if (num_envs < 1) throw EnvError("VectorEnv: num_envs must be >= 1, got " + std::to_string(num_envs));
  for (int i = 0; i < num_envs; ++i) envs_.push_back(make_env(id, options));
  slots_.resize(static_cast<size_t>(num_envs));
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

void VectorEnv::throw_slot_errors() const {
  for (size_t i = 0; i < slots_.size(); ++i)
    if (!slots_[i].error.empty()) throw EnvError("env " + std::to_string(i) + ": " + slots_[i].error);
}

torch::Tensor VectorEnv::reset_all() {
  const int64_t n = num_envs(), d = spec().observation_space.dim();
  torch::Tensor obs = torch::empty({n, d});
  float* po = obs.data_ptr<float>();
  for (Slot& s : slots_) s = Slot{};
  pool_->run(n, [&](int64_t i) {
    try {
      const std::vector<float> o = envs_[i]->reset(episode_seed(i));
      std::memcpy(po + i * d, o.data(), sizeof(float) * d);
    } catch (const std::exception& e) {
      slots_[static_cast<size_t>(i)].error = e.what();
    }
  });
  throw_slot_errors();
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
    throw EnvError("VectorEnv.step: " + std::to_string(active.size()) + " activity flags for " + std::to_string(n) +
                   " envs");
  out.obs = active.empty() ? torch::empty({n, d}) : torch::zeros({n, d});
  out.final_obs = torch::zeros({n, d});
  const float* pa = actions.data_ptr<float>();
  float* po = out.obs.data_ptr<float>();
  float* pf = out.final_obs.data_ptr<float>();
  pool_->run(n, [&](int64_t i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    s.reward = 0, s.terminated = false, s.truncated = false, s.error.clear();
    if (!active.empty() && !active[i]) return;
    try {
      StepResult r = envs_[i]->step(std::span<const float>(pa + i * a, a));
      s.episode_actions.insert(s.episode_actions.end(), pa + i * a, pa + (i + 1) * a);
      s.reward = r.reward;
      s.terminated = r.terminated;
      s.truncated = r.truncated;
      s.episode_return += r.reward;
      s.episode_length += 1;
      if (r.terminated || r.truncated) {
        std::memcpy(pf + i * d, r.obs.data(), sizeof(float) * d);
        ++s.episode_index;
        s.episode_actions.clear();
        const std::vector<float> first = envs_[i]->reset(episode_seed(i));
        std::memcpy(po + i * d, first.data(), sizeof(float) * d);
      } else {
        std::memcpy(po + i * d, r.obs.data(), sizeof(float) * d);
      }
    } catch (const std::exception& e) {
      s.error = e.what();
    }
  });
  throw_slot_errors();
  out.reward = torch::empty({n}, torch::kFloat64);
  out.terminated = torch::empty({n}, torch::kBool);
  out.truncated = torch::empty({n}, torch::kBool);
  double* pr = out.reward.data_ptr<double>();
  bool* pt = out.terminated.data_ptr<bool>();
  bool* pu = out.truncated.data_ptr<bool>();
  for (int64_t i = 0; i < n; ++i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    pr[i] = s.reward, pt[i] = s.terminated, pu[i] = s.truncated;
    if (!s.terminated && !s.truncated) continue;
    out.finished_returns.push_back(s.episode_return);
    out.finished_lengths.push_back(s.episode_length);
    s.episode_return = 0.0;
    s.episode_length = 0;
  }
  return out;
}

}  // namespace softrl::envs

namespace softrl::envs {

VectorEnvSnapshot VectorEnv::snapshot() const {
  VectorEnvSnapshot snap;
  snap.first_seeds = first_seed_;
  for (const Slot& s : slots_) {
    snap.episode_index.push_back(s.episode_index);
    snap.episode_actions.push_back(s.episode_actions);
    snap.returns.push_back(s.episode_return);
    snap.lengths.push_back(s.episode_length);
  }
  return snap;
}

torch::Tensor VectorEnv::restore(const VectorEnvSnapshot& snap) {
  const int64_t n = num_envs(), d = spec().observation_space.dim(), a = spec().action_space.dim();
  if (static_cast<int64_t>(snap.episode_index.size()) != n || static_cast<int64_t>(snap.episode_actions.size()) != n ||
      static_cast<int64_t>(snap.first_seeds.size()) != n || static_cast<int64_t>(snap.returns.size()) != n ||
      static_cast<int64_t>(snap.lengths.size()) != n)
    throw EnvError("VectorEnv::restore: snapshot is for " + std::to_string(snap.episode_index.size()) + " envs, not " +
                   std::to_string(n));
  first_seed_ = snap.first_seeds;
  for (int64_t i = 0; i < n; ++i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    s = Slot{};
    s.episode_index = snap.episode_index[i];
    s.episode_actions = snap.episode_actions[i];
    s.episode_return = snap.returns[i];
    s.episode_length = snap.lengths[i];
  }
  torch::Tensor obs = torch::empty({n, d});
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> o = envs_[i]->reset(episode_seed(i));
    const auto& acts = slots_[static_cast<size_t>(i)].episode_actions;
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
