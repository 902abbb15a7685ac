#pragma once
// The run configuration of `softrl train`: the generic keys every algorithm shares (env, seed,
// budget, evaluation, checkpoints, logs) and the algorithm's own section, parsed by its registry
// entry. This file knows no algorithm.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "envs/registry.h"

namespace softrl::apps {

// An algorithm's own section (`sac:`), as its registry entry parsed it.
struct AlgoSettings {
  virtual ~AlgoSettings() = default;
};

struct RunConfig {
  std::string env_id;
  envs::EnvOptions env_options;
  std::string algo;  // absent from a config: the registry's first entry
  uint64_t seed = 0;
  int64_t total_steps = 100000;
  int64_t n_envs = 1;
  int threads = 1;
  int64_t eval_every = 10000;  // 0 = only at the end
  int64_t eval_episodes = 10;
  int64_t checkpoint_every = 50000;  // 0 = only at the end
  bool save_replay_buffer = false;   // latest.pt also holds the loop's data (replay buffer)
  int64_t log_every = 1000;
  std::shared_ptr<const AlgoSettings> algo_settings;

  template <class T>
  const T& settings() const {
    return dynamic_cast<const T&>(*algo_settings);
  }
};

// A config file's text: a regular file under 1 MiB (devices, FIFOs and huge files are refused).
std::string read_config_file(const std::string& path);
// One YAML document with a mapping at the top, overrides applied ("a.b=value").
YAML::Node parse_config_root(const std::string& text, const std::string& source,
                             const std::vector<std::string>& overrides);

}  // namespace softrl::apps
