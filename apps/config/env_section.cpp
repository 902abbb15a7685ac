#include "apps/config/env_section.h"

namespace softrl::apps {

std::string env_id_list() {
  const auto ids = envs::env_ids();
  return join_names({ids.begin(), ids.end()});
}

void parse_env_section(const ConfigReader& r, const YAML::Node& env, std::string& env_id, envs::EnvOptions& options) {
  if (!env.IsDefined()) r.fail_msg("env", "missing; expected a mapping with env.id (one of " + env_id_list() + ")");
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

YAML::Node env_node(const std::string& env_id, const envs::EnvOptions& options) {
  YAML::Node n(YAML::NodeType::Map);
  n["id"] = env_id;
  if (options.empty()) return n;
  YAML::Node opts(YAML::NodeType::Map);
  for (const auto& spec : envs::task(env_id).options) {
    const auto it = options.find(spec.name);
    if (it == options.end()) continue;
    if (spec.type == envs::OptionSpec::Type::boolean) opts[spec.name] = it->second != 0.0;
    else opts[spec.name] = format_double(it->second);
  }
  n["options"] = opts;
  return n;
}

}  // namespace softrl::apps
