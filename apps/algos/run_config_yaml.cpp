#include "apps/algos/run_config_yaml.h"

#include <yaml-cpp/yaml.h>

#include "apps/algos/registry.h"
#include "apps/config/config_reader.h"
#include "apps/config/env_section.h"
#include "apps/config/schema.h"

namespace softrl::apps {

namespace {

using C = RunConfig;

void read_algo(const ConfigReader& r, const YAML::Node& n, const std::string& path, C& c) {
  c.algo = r.text(n, path, "an algorithm name");
  if (!find_algo(c.algo)) r.fail(path, "one of " + join_names(algo_names()), n);
}

const Schema<C>& schema() {
  static const Schema<C> s = {
      env_field<C>(),
      custom<C>("algo", "an algorithm name", "which learner runs (its own section holds its keys)", read_algo,
                [](const C& c) { return YAML::Node(c.algo); }),
      integer<C>(
          "seed", [](auto& c) -> auto& { return c.seed; }, 0, INT64_MAX, "seed of everything random in the run"),
      integer<C>(
          "total_steps", [](auto& c) -> auto& { return c.total_steps; }, 1, INT64_MAX,
          "budget: env steps (online) or samples consumed (offline)"),
      integer<C>(
          "n_envs", [](auto& c) -> auto& { return c.n_envs; }, 1, 256, "environments stepped together"),
      integer<C>(
          "threads", [](auto& c) -> auto& { return c.threads; }, 1, 64, "compute threads"),
      section<C>("eval",
                 {integer<C>(
                      "every", [](auto& c) -> auto& { return c.eval_every; }, 0, INT64_MAX,
                      "steps between evaluations (0: only at the end)"),
                  integer<C>(
                      "episodes", [](auto& c) -> auto& { return c.eval_episodes; }, 1, 100000,
                      "episodes per evaluation, from held-out start states")},
                 "evaluation during training"),
      section<C>("checkpoint",
                 {integer<C>(
                      "every", [](auto& c) -> auto& { return c.checkpoint_every; }, 0, INT64_MAX,
                      "steps between checkpoints (0: only at the end)"),
                  boolean<C>(
                      "save_replay_buffer", [](auto& c) -> auto& { return c.save_replay_buffer; },
                      "latest.pt also holds the loop's data (exact resume of off-policy runs)")},
                 "checkpoints/latest.pt and best.pt"),
      section<C>("log",
                 {integer<C>(
                     "every", [](auto& c) -> auto& { return c.log_every; }, 1, INT64_MAX,
                     "steps between rows of metrics.csv")},
                 "training logs"),
  };
  return s;
}

RunConfig from_node(const YAML::Node& root, const std::string& source) {
  const ConfigReader r(source);
  RunConfig c;
  if (!root.IsMap()) r.fail("(top level)", "a mapping", root);
  c.algo = default_algo().name;
  if (root["algo"].IsDefined()) read_algo(r, root["algo"], "algo", c);
  const AlgoEntry& algo = *find_algo(c.algo);
  std::set<std::string> keys = schema().keys();
  keys.insert(algo.name);
  r.check_keys(root, "", keys);
  schema().read(r, root, "", c, {algo.name});
  c.algo_settings = algo.section.parse(r, root[algo.name], c);
  return c;
}

}  // namespace

void document_run_keys(std::vector<KeyDoc>& out) {
  RunConfig defaults;
  defaults.algo = default_algo().name;
  schema().document(defaults, "", out);
}

RunConfig parse_config(const std::string& text, const std::string& source, const std::vector<std::string>& overrides) {
  const YAML::Node root = parse_config_root(text, source, overrides);
  try {
    return from_node(root, source);
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": " + e.msg);
  }
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_config_file(path), path, overrides);
}

std::string to_yaml(const RunConfig& c, bool comments) {
  const SchemaContext ctx = context_for_env(c.env_id);
  YAML::Emitter e;
  e << YAML::BeginMap;
  schema().write(e, c, ctx, comments);
  e << YAML::Key << c.algo << YAML::Value << YAML::BeginMap;
  find_algo(c.algo)->section.write(e, *c.algo_settings, ctx, comments);
  e << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace softrl::apps
