#pragma once
// The `env:` section ({id, options}) of any config (training, collection): the task id and its
// options, validated against the task's option specs (envs/registry.h), and written back.
#include <string>

#include <yaml-cpp/yaml.h>

#include "apps/config/schema.h"
#include "envs/registry.h"

namespace softrl::apps {

void parse_env_section(const ConfigReader& r, const YAML::Node& env, std::string& env_id, envs::EnvOptions& options);
YAML::Node env_node(const std::string& env_id, const envs::EnvOptions& options);
// "LunarLander-v3, ..."
std::string env_id_list();

// The required `env` key of a config whose struct has env_id and env_options.
template <class T>
Field<T> env_field() {
  return custom<T>(
             "env", "{id, options}", "the task and its options (Gymnasium's make kwargs)",
             [](const ConfigReader& r, const YAML::Node& n, const std::string&, T& c) {
               parse_env_section(r, n, c.env_id, c.env_options);
             },
             [](const T& c) { return env_node(c.env_id, c.env_options); })
      .required("expected a mapping with env.id (one of " + env_id_list() + ")",
                [](const SchemaContext& ctx) { return "{id: " + ctx.env_id + "}"; });
}

}  // namespace softrl::apps
