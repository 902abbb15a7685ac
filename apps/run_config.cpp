#include "apps/run_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/algos/registry.h"
#include "apps/config_reader.h"

namespace softrl::apps {
namespace {

std::set<std::string> env_id_set() {
  const auto ids = envs::env_ids();
  return {ids.begin(), ids.end()};
}

}  // namespace

void parse_env_section(const ConfigReader& r, const YAML::Node& env, std::string& env_id, envs::EnvOptions& options) {
  if (!env.IsDefined())
    r.fail_msg("env", "missing; expected a mapping with env.id (one of " + join_names(env_id_set()) + ")");
  r.check_keys(env, "env", {"id", "options"});
  env_id = r.text(env["id"], "env.id", "an environment id");
  try {
    const envs::TaskEntry& task = envs::task(env_id);
    std::set<std::string> names;
    for (const auto& o : task.options) names.insert(o.name);
    const YAML::Node opts = env["options"];
    if (!opts.IsDefined() || opts.IsNull()) return;
    r.check_keys(opts, "env.options", names);
    for (const auto& spec : task.options) {
      const YAML::Node v = opts[spec.name];
      if (!v.IsDefined()) continue;
      const std::string path = "env.options." + spec.name;
      const double value = spec.type == envs::OptionSpec::Type::boolean ? (r.boolean(v, path) ? 1.0 : 0.0)
                                                                         : r.real(v, path, -1e300, 1e300);
      if (!spec.valid(value)) r.fail(path, spec.expected(), v);
      options[spec.name] = value;
    }
  } catch (const envs::EnvError& e) {
    r.fail_msg("env.id", e.what());
  }
}

void write_env_section(YAML::Emitter& e, const std::string& env_id, const envs::EnvOptions& options) {
  e << YAML::Key << "env" << YAML::Value << YAML::BeginMap << YAML::Key << "id" << YAML::Value << env_id;
  if (!options.empty()) {
    e << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
    for (const auto& spec : envs::task(env_id).options) {
      const auto it = options.find(spec.name);
      if (it == options.end()) continue;
      e << YAML::Key << spec.name << YAML::Value;
      if (spec.type == envs::OptionSpec::Type::boolean) e << (it->second != 0.0);
      else e << it->second;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
}

namespace {

void parse_schedule_keys(const ConfigReader& r, const YAML::Node& root, RunConfig& c) {
  if (const YAML::Node e = root["eval"]; e.IsDefined()) {
    r.check_keys(e, "eval", {"every", "episodes"});
    if (e["every"].IsDefined()) c.eval_every = r.integer(e["every"], "eval.every", 0);
    if (e["episodes"].IsDefined()) c.eval_episodes = r.integer(e["episodes"], "eval.episodes", 1, 100000);
  }
  if (const YAML::Node k = root["checkpoint"]; k.IsDefined()) {
    r.check_keys(k, "checkpoint", {"every", "save_replay_buffer"});
    if (k["every"].IsDefined()) c.checkpoint_every = r.integer(k["every"], "checkpoint.every", 0);
    if (k["save_replay_buffer"].IsDefined())
      c.save_replay_buffer = r.boolean(k["save_replay_buffer"], "checkpoint.save_replay_buffer");
  }
  if (const YAML::Node l = root["log"]; l.IsDefined()) {
    r.check_keys(l, "log", {"every"});
    if (l["every"].IsDefined()) c.log_every = r.integer(l["every"], "log.every", 1);
  }
}

RunConfig from_node(const YAML::Node& root, const std::string& source) {
  const ConfigReader r(source);
  RunConfig c;
  if (!root.IsMap()) r.fail("(top level)", "a mapping", root);
  if (root["algo"].IsDefined()) {
    c.algo = r.text(root["algo"], "algo", "an algorithm name");
    if (!find_algo(c.algo)) r.fail("algo", "one of " + join_names(algo_names()), root["algo"]);
  }
  const AlgoEntry& algo = *find_algo(c.algo);
  r.check_keys(root, "", {"env", "algo", "seed", "total_steps", "n_envs", "threads", "eval", "checkpoint", "log", algo.name});
  parse_env_section(r, root["env"], c.env_id, c.env_options);
  if (root["seed"].IsDefined()) c.seed = static_cast<uint64_t>(r.integer(root["seed"], "seed", 0));
  if (root["total_steps"].IsDefined()) c.total_steps = r.integer(root["total_steps"], "total_steps", 1);
  if (root["n_envs"].IsDefined()) c.n_envs = r.integer(root["n_envs"], "n_envs", 1, 256);
  if (root["threads"].IsDefined()) c.threads = static_cast<int>(r.integer(root["threads"], "threads", 1, 64));
  parse_schedule_keys(r, root, c);
  const YAML::Node section = root[algo.name];
  if (section.IsDefined() && !section.IsNull()) r.check_keys(section, algo.name, algo.keys);
  c.algo_settings = algo.parse(r, section, c);
  return c;
}

}  // namespace

YAML::Node parse_config_root(const std::string& text, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    const std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1)
      throw InputError(source + ": holds " + std::to_string(docs.size()) + " YAML documents (---); a config is one");
    if (!docs.empty()) root = docs.front();
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw InputError(source + ": expected a mapping at the top level, got " + describe(root));
  for (const auto& ov : overrides) apply_override(root, source, ov);
  return root;
}

std::string read_config_file(const std::string& path) {
  // A config is a small regular file: refuse devices, FIFOs and anything huge before reading.
  constexpr uintmax_t kMaxBytes = 1 << 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": cannot read the config file (not a regular file)");
  if (std::filesystem::file_size(path, ec) > kMaxBytes) throw InputError(path + ": not a config file (larger than 1 MiB)");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

std::string to_yaml(const RunConfig& c) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  write_env_section(e, c.env_id, c.env_options);
  e << YAML::Key << "algo" << YAML::Value << c.algo;
  e << YAML::Key << "seed" << YAML::Value << c.seed;
  e << YAML::Key << "total_steps" << YAML::Value << c.total_steps;
  e << YAML::Key << "n_envs" << YAML::Value << c.n_envs;
  e << YAML::Key << "threads" << YAML::Value << c.threads;
  e << YAML::Key << "eval" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value << c.eval_every
    << YAML::Key << "episodes" << YAML::Value << c.eval_episodes << YAML::EndMap;
  e << YAML::Key << "checkpoint" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value
    << c.checkpoint_every << YAML::Key << "save_replay_buffer" << YAML::Value << c.save_replay_buffer << YAML::EndMap;
  e << YAML::Key << "log" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value << c.log_every
    << YAML::EndMap;
  e << YAML::Key << c.algo << YAML::Value << YAML::BeginMap;
  find_algo(c.algo)->write(e, *c.algo_settings);
  e << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace softrl::apps
