#pragma once
// What the run-level tests share: a small SAC config on LunarLanderContinuous-v3 (400 steps, a
// [32, 32] network) and helpers to write it and train from it through `softrl train`'s code path.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agents/core/checkpoint.h"
#include "agents/sac/sac.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/algos/sac_algo.h"
#include "apps/commands/train_command.h"
#include "apps/config/run_config.h"
#include "envs/registry.h"

namespace softrl::test {
namespace fs = std::filesystem;

inline fs::path fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("softrl_test_" + name);
  fs::remove_all(p);
  return p;
}

inline const char* kBaseConfig = R"(env:
  id: LunarLanderContinuous-v3
algo: sac
seed: 3
total_steps: 400
n_envs: 1
threads: 1
eval:
  every: 0
  episodes: 1
checkpoint:
  every: 0
  save_replay_buffer: true
log:
  every: 100
sac:
  net_arch: [32, 32]
  learning_rate: lin_1e-3
  batch_size: 32
  buffer_size: 5000
  gamma: 0.99
  tau: 0.01
  train_freq: 1
  gradient_steps: 1
  learning_starts: 100
  ent_coef: auto
  target_entropy: auto
)";

inline fs::path write_config(const fs::path& dir, const std::string& text) {
  fs::create_directories(dir);
  const fs::path p = dir / "config.yaml";
  std::ofstream(p) << text;
  return p;
}

inline int train(const fs::path& config, const fs::path& run_dir, std::vector<std::string> overrides = {},
                 int64_t interrupt_at = -1, std::string* output = nullptr) {
  apps::TrainOptions o;
  o.config_path = config.string();
  o.run_dir = run_dir.string();
  o.overrides = std::move(overrides);
  o.progress = false;
  o.interrupt_after_steps = interrupt_at;
  std::ostringstream out, err;
  const int rc = apps::run_train(o, out, err);
  if (output) *output = out.str() + err.str();
  return rc;
}

inline const agents::SacConfig& sac_of(const apps::RunConfig& c) { return c.settings<apps::SacSettings>().sac; }

// Every parameter of the SAC learner in a checkpoint of either format.
inline std::vector<torch::Tensor> checkpoint_parameters(const fs::path& ckpt) {
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  const apps::RunConfig cfg = apps::parse_config(c.header.config_yaml, "embedded");
  const auto env = envs::make_env(cfg.env_id, cfg.env_options);
  agents::Sac agent(sac_of(cfg), agents::PolicySpec::for_env(env->spec(), sac_of(cfg).net_arch), 99);
  agents::restore_policy(agent.policy(), c);
  torch::serialize::InputArchive learner = c.section("learner");
  agent.load(learner);
  std::vector<torch::Tensor> p;
  for (const auto& t : agent.all_parameters()) p.push_back(t.detach().clone());
  return p;
}

// The rows of a CSV file after its header, split into fields.
inline std::vector<std::vector<double>> csv_rows(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<double>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) row.push_back(f.empty() ? std::nan("") : std::stod(f));
    rows.push_back(row);
  }
  return rows;
}

}  // namespace softrl::test
