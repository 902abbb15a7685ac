#include "apps/collect_config.h"

#include "agents/checkpoint.h"
#include "apps/algos/grpo_algo.h"
#include "apps/config_reader.h"
#include "apps/run_config.h"
#include "common/runtime.h"

namespace softrl::apps {
namespace {

using Kind = agents::BehaviourSource::Kind;

agents::BehaviourSource parse_source(const ConfigReader& r, const YAML::Node& n, const std::string& path,
                                     const envs::EnvSpec& env) {
  if (!n.IsMap()) r.fail(path, "a mapping with a kind (heuristic, policy or random)", n);
  agents::BehaviourSource s;
  const std::string kind = r.text(n["kind"], path + ".kind", "heuristic, policy or random");
  if (kind == "heuristic") {
    s.kind = Kind::heuristic;
    r.check_keys(n, path, {"kind", "weight", "epsilon", "noise_std"});
    if (n["epsilon"].IsDefined()) s.epsilon = r.real(n["epsilon"], path + ".epsilon", 0.0, 1.0);
    if (n["noise_std"].IsDefined()) {
      if (env.action_space.kind == envs::Space::Kind::discrete)
        r.fail_msg(path + ".noise_std", "applies to continuous actions only; " + env.id + " is discrete");
      s.noise_std = r.real(n["noise_std"], path + ".noise_std", 0.0, 100.0);
    }
  } else if (kind == "policy") {
    s.kind = Kind::policy;
    r.check_keys(n, path, {"kind", "weight", "path", "deterministic", "temperature"});
    s.policy_path = r.text(n["path"], path + ".path", "a run directory or a checkpoint file");
    if (n["deterministic"].IsDefined()) s.deterministic = r.boolean(n["deterministic"], path + ".deterministic");
    if (n["temperature"].IsDefined()) s.temperature = r.real(n["temperature"], path + ".temperature", 0.0, 100.0, true);
    const std::string ckpt = agents::checkpoint_of(s.policy_path).string();
    try {
      agents::LoadedPolicy loaded = agents::load_policy(ckpt);
      agents::check_compatible(loaded.header, ckpt, env);
      s.policy = loaded.policy;
      // A SofT-GRPO policy acts with its soft actions (its inputs include the fed-back ones).
      const RunConfig run = parse_config(loaded.header.config_yaml, ckpt + " (embedded config)");
      if (const auto* g = dynamic_cast<const GrpoAlgoSettings*>(run.algo_settings.get()); g && g->grpo.soft)
        s.soft = g->grpo.soft;
    } catch (const InputError& e) {
      r.fail_msg(path + ".path", e.what());
    }
  } else if (kind == "random") {
    s.kind = Kind::random;
    r.check_keys(n, path, {"kind", "weight"});
  } else {
    r.fail(path + ".kind", "heuristic, policy or random", n["kind"]);
  }
  if (n["weight"].IsDefined()) s.weight = r.real(n["weight"], path + ".weight", 0.0, 1e9, true);
  return s;
}

agents::CollectSettings from_node(const YAML::Node& root, const ConfigReader& r) {
  agents::CollectSettings s;
  r.check_keys(root, "", {"env", "seed", "threads", "n_envs", "start_seeds", "group_size", "first_start_seed",
                          "dataset_id", "sources"});
  parse_env_section(r, root["env"], s.env_id, s.env_options);
  const envs::EnvSpec env = envs::make_env(s.env_id, s.env_options)->spec();
  if (root["seed"].IsDefined()) s.seed = static_cast<uint64_t>(r.integer(root["seed"], "seed", 0));
  // Default: every core (0). The data do not depend on it for heuristic and random sources.
  s.threads = resolve_threads(root["threads"].IsDefined() ? static_cast<int>(r.integer(root["threads"], "threads", 0, 64)) : 0);
  if (root["n_envs"].IsDefined()) s.n_envs = static_cast<int>(r.integer(root["n_envs"], "n_envs", 1, 1024));
  if (root["start_seeds"].IsDefined()) s.start_seeds = r.integer(root["start_seeds"], "start_seeds", 1, 100000000);
  if (root["group_size"].IsDefined()) s.group_size = r.integer(root["group_size"], "group_size", 1, 100000);
  if (root["first_start_seed"].IsDefined())
    s.first_start_seed = static_cast<uint64_t>(r.integer(root["first_start_seed"], "first_start_seed", 0));
  s.dataset_id = root["dataset_id"].IsDefined() ? r.text(root["dataset_id"], "dataset_id", "a name")
                                                : s.env_id + "-collect-seed" + std::to_string(s.seed);
  const YAML::Node sources = root["sources"];
  if (!sources.IsDefined() || !sources.IsSequence() || sources.size() == 0)
    r.fail("sources", "a non-empty list of behaviour sources ({kind: heuristic | policy | random, weight, ...})",
           sources);
  for (size_t i = 0; i < sources.size(); ++i)
    s.sources.push_back(parse_source(r, sources[i], "sources[" + std::to_string(i) + "]", env));
  return s;
}

}  // namespace

agents::CollectSettings parse_collect_config(const std::string& text, const std::string& source,
                                             const std::vector<std::string>& overrides) {
  const YAML::Node root = parse_config_root(text, source, overrides);
  const ConfigReader r(source);
  try {
    agents::CollectSettings s = from_node(root, r);
    s.config_yaml = collect_config_yaml(s);
    return s;
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": " + e.msg);
  }
}

agents::CollectSettings load_collect_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_collect_config(read_config_file(path), path, overrides);
}

std::string collect_config_yaml(const agents::CollectSettings& s) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  write_env_section(e, s.env_id, s.env_options);
  e << YAML::Key << "seed" << YAML::Value << s.seed;
  e << YAML::Key << "threads" << YAML::Value << s.threads;
  e << YAML::Key << "n_envs" << YAML::Value << s.n_envs;
  e << YAML::Key << "start_seeds" << YAML::Value << s.start_seeds;
  e << YAML::Key << "group_size" << YAML::Value << s.group_size;
  e << YAML::Key << "first_start_seed" << YAML::Value << s.first_start_seed;
  e << YAML::Key << "dataset_id" << YAML::Value << s.dataset_id;
  e << YAML::Key << "sources" << YAML::Value << YAML::BeginSeq;
  for (const auto& src : s.sources) {
    e << YAML::Flow << YAML::BeginMap << YAML::Key << "kind" << YAML::Value << src.kind_name() << YAML::Key << "weight"
      << YAML::Value << src.weight;
    if (src.kind == Kind::heuristic)
      e << YAML::Key << "epsilon" << YAML::Value << src.epsilon;
    if (src.kind == Kind::heuristic && src.noise_std > 0) e << YAML::Key << "noise_std" << YAML::Value << src.noise_std;
    if (src.kind == Kind::policy)
      e << YAML::Key << "path" << YAML::Value << src.policy_path << YAML::Key << "deterministic" << YAML::Value
        << src.deterministic << YAML::Key << "temperature" << YAML::Value << src.temperature;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace softrl::apps
