#pragma once
// What an algorithm is to softrl (RL Zoo's ALGOS entry): its YAML section's schema, how to build its
// learner and loop, and what the driver and `eval` need to know of it (data parallelism, its
// evaluation actor, value-guided selection, how a collection replays its policy). Each algorithm's
// own apps/algos file makes one; the registry (registry.h) lists them.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agents/core/loop.h"
#include "agents/core/policy.h"
#include "agents/grpo/soft_actions.h"
#include "apps/config/run_config.h"
#include "apps/config/schema.h"
#include "envs/env.h"

namespace softrl::apps {

// An algorithm's section (`sac:`), its type erased: what the run config, its writer, `softrl
// config` and the key reference need. Made from a Schema by algo_section.
struct AlgoSection {
  std::set<std::string> keys;
  // Reads the section (undefined or null: every default) and checks it against the run's generic
  // keys; errors go through `r` so they name the file and the key path.
  std::function<std::shared_ptr<const AlgoSettings>(const ConfigReader& r, const YAML::Node& section,
                                                    const RunConfig& run)>
      parse;
  // Writes the keys that apply (inside a mapping the caller opened); parse reads them back.
  std::function<void(YAML::Emitter& e, const AlgoSettings& settings, const SchemaContext& ctx, bool comments)> write;
  // The defaults with every required key at its example (`softrl config`).
  std::function<std::shared_ptr<const AlgoSettings>(const ConfigReader& r, const SchemaContext& ctx)> example;
  // The key reference, paths under `prefix` (the section's name).
  std::function<std::vector<KeyDoc>(const std::string& prefix)> document;
};

// Cross-key rules of a section, run after its keys are read (the section's node, for "given" checks).
template <class T>
using SectionCheck =
    std::function<void(const ConfigReader& r, const YAML::Node& section, T& out, const RunConfig& run)>;

template <class T>
AlgoSection algo_section(
    Schema<T> schema, SectionCheck<T> check = {}, std::function<T()> defaults = [] { return T{}; }) {
  auto sc = std::make_shared<const Schema<T>>(std::move(schema));
  AlgoSection s;
  s.keys = sc->keys();
  s.parse = [=](const ConfigReader& r, const YAML::Node& n, const RunConfig& run) {
    auto out = std::make_shared<T>(defaults());
    sc->read(r, n, run.algo, *out);
    if (check) check(r, n, *out, run);
    return std::shared_ptr<const AlgoSettings>(out);
  };
  s.write = [=](YAML::Emitter& e, const AlgoSettings& settings, const SchemaContext& ctx, bool comments) {
    sc->write(e, dynamic_cast<const T&>(settings), ctx, comments);
  };
  s.example = [=](const ConfigReader& r, const SchemaContext& ctx) {
    auto out = std::make_shared<T>(defaults());
    sc->fill_examples(r, *out, ctx, "");
    return std::shared_ptr<const AlgoSettings>(out);
  };
  s.document = [=](const std::string& prefix) {
    std::vector<KeyDoc> docs;
    sc->document(defaults(), prefix, docs);
    return docs;
  };
  return s;
}

// A policy acting by value-guided selection (OREO's value function choosing among sampled
// actions), with what keeps it alive and its counters for the evaluation report.
struct GuidedActor {
  std::unique_ptr<envs::Policy> actor;
  std::function<double()> env_steps_per_decision;  // simulated + executed steps per decision
  std::shared_ptr<void> keep_alive;                // e.g. the value function the actor reads
};

struct AlgoEntry {
  std::string name;     // the value of `algo:` and the name of its YAML section
  std::string summary;  // one line for help texts
  AlgoSection section;
  std::string example_env = "LunarLander-v3";  // the task `softrl config` prints a config for
  // The learner and its loop for a run; throws InputError when the run cannot be set up.
  std::function<agents::Training(const RunConfig& run, const envs::EnvSpec& env)> build;
  // How the run's policy acts in evaluation; empty: agents::PolicyActor (sampled or its mode).
  std::function<std::unique_ptr<envs::Policy>(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                              uint64_t seed)>
      actor;
  // How its policy acts when a collection replays it: soft actions (agents/soft_actions.h), or
  // empty / nullopt for the policy's own actions.
  std::function<std::optional<agents::SoftActionSettings>(const RunConfig& run)> soft_actions;
  // Whether its updates average their gradients over ranks (distributed::sync_gradients).
  bool data_parallel = false;
  // `softrl eval --value-guided K`: empty when the algorithm has no value function to guide with.
  std::function<GuidedActor(const RunConfig& run, const std::string& checkpoint, agents::PolicyHead& policy,
                            envs::Env& env, int candidates, uint64_t seed)>
      value_guided;
};

}  // namespace softrl::apps
