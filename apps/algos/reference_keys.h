#pragma once
// The `reference` key of the learners that start from a reference policy (oreo, dpo, adpo): a run
// directory or checkpoint of a trained policy, or {bc_steps, net_arch, learning_rate, batch_size}
// for behaviour cloning of the run's dataset before the learner starts.
#include <string>

#include <yaml-cpp/yaml.h>

#include "agents/reference_policy.h"
#include "apps/config_reader.h"
#include "envs/env.h"

namespace softrl::apps {

struct ReferenceKeys {
  std::string path;          // a run directory or checkpoint; "" = behaviour cloning first
  agents::ReferenceRecipe bc;  // bc_steps, net_arch, learning rate, batch size when path == ""
};

// `n` is the section's `reference` node; `section` names the section ("oreo") in error messages.
ReferenceKeys parse_reference(const ConfigReader& r, const YAML::Node& n, const std::string& section);
void write_reference(YAML::Emitter& e, const ReferenceKeys& k);
// The recipe with the checkpoint's policy loaded and checked against the run's task.
agents::ReferenceRecipe reference_recipe(const ReferenceKeys& k, const envs::EnvSpec& env);

}  // namespace softrl::apps
