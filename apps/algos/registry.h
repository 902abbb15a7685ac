#pragma once
// The algorithm registry (RL Zoo's ALGOS): one entry per algorithm with its YAML section's parser
// and writer and how to build its learner and loop. Adding an algorithm = its own files plus one
// line in registry.cpp; the run driver, the config, the checkpoints, the logs and `eval` stay as
// they are.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "agents/loop.h"
#include "agents/schedule.h"
#include "apps/config_reader.h"
#include "apps/run_config.h"
#include "envs/env.h"

namespace softrl::apps {

struct AlgoEntry {
  std::string name;             // the value of `algo:` and the name of its YAML section
  std::string summary;          // one line for help texts
  std::set<std::string> keys;   // the section's valid keys
  // Reads the section (`section` undefined or null: every default) and checks it against the run's
  // generic keys; errors go through `r` so they name the file and the key path.
  std::function<std::shared_ptr<const AlgoSettings>(const ConfigReader& r, const YAML::Node& section,
                                                    const RunConfig& run)>
      parse;
  // Writes the section's keys (inside a mapping the caller opened); parse reads them back.
  std::function<void(YAML::Emitter& e, const AlgoSettings& settings)> write;
  // The learner and its loop for a run; throws InputError when the run cannot be set up.
  std::function<agents::Training(const RunConfig& run, const envs::EnvSpec& env)> build;
  // How the run's policy acts in evaluation; empty: agents::PolicyActor (sampled or its mode).
  std::function<std::unique_ptr<envs::Policy>(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                              uint64_t seed)>
      actor;
};

// Keys several algorithms share, parsed the same way everywhere:
// a learning rate "3e-4" or a linear decay to 0 "lin_7.3e-4" (RL Zoo); `text` keeps it as written.
agents::Schedule parse_learning_rate(const ConfigReader& r, const YAML::Node& n, const std::string& path, std::string* text);
// A non-empty list of hidden layer widths.
std::vector<int64_t> parse_net_arch(const ConfigReader& r, const YAML::Node& n, const std::string& path);

// The actor of a run's policy: its algorithm's, else a PolicyActor.
std::unique_ptr<envs::Policy> make_actor(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                         uint64_t seed = 0);

// nullptr when no algorithm has that name.
const AlgoEntry* find_algo(const std::string& name);
std::set<std::string> algo_names();
// Adds an entry at run time (tests, embedding applications). Throws if the name is taken.
void register_algo(AlgoEntry entry);

}  // namespace softrl::apps
