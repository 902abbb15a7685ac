#pragma once
// `softrl train` configuration: YAML -> typed options with defaults, dotted key=value overrides,
// and errors that name the file, the key path and what was expected.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "agents/sac.h"

namespace softrl::apps {

// Bad user input (config, override, checkpoint, CLI): the CLI prints it and exits with code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TrainConfig {
  std::string env_id;
  std::map<std::string, double> env_options;
  std::string algo = "sac";
  uint64_t seed = 0;
  int64_t total_steps = 100000;
  int64_t n_envs = 1;
  int threads = 1;
  int64_t eval_every = 10000;    // 0 = only at the end
  int64_t eval_episodes = 10;
  int64_t checkpoint_every = 50000;  // 0 = only at the end
  bool save_replay_buffer = false;
  int64_t log_every = 1000;
  agents::SacConfig sac;
  std::string learning_rate_text = "0.0003";  // as written (e.g. lin_7.3e-4)
  std::string ent_coef_text = "auto";
};

// Loads `path`, applies overrides ("sac.batch_size=64", values parsed as YAML scalars), validates.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same, from YAML text (`source` names it in errors).
TrainConfig parse_config(const std::string& yaml_text, const std::string& source,
                         const std::vector<std::string>& overrides = {});
// The resolved configuration as YAML (every key, defaults filled in); parse_config reads it back.
std::string to_yaml(const TrainConfig& cfg);

}  // namespace softrl::apps
