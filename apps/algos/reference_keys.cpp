#include "apps/algos/reference_keys.h"

#include "agents/checkpoint.h"
#include "apps/algos/registry.h"

namespace softrl::apps {

ReferenceKeys parse_reference(const ConfigReader& r, const YAML::Node& n, const std::string& section) {
  const std::string path = section + ".reference";
  ReferenceKeys k;
  if (!n.IsDefined())
    r.fail_msg(path, "missing; expected a run directory or checkpoint of the reference policy, or "
                     "{bc_steps: N} to train it by behaviour cloning first");
  if (n.IsScalar()) {
    k.path = r.text(n, path, "a run directory or checkpoint, or a mapping {bc_steps, ...}");
    return k;
  }
  if (!n.IsMap()) r.fail_msg(path, "expected a run directory or checkpoint, or a mapping {bc_steps, ...}");
  r.check_keys(n, path, {"bc_steps", "net_arch", "learning_rate", "batch_size"});
  if (!n["bc_steps"].IsDefined()) r.fail_msg(path + ".bc_steps", "missing; expected the behaviour-cloning budget in samples");
  k.bc.bc_steps = r.integer(n["bc_steps"], path + ".bc_steps", 1, int64_t{1} << 40);
  if (n["net_arch"].IsDefined()) k.bc.bc_net_arch = parse_net_arch(r, n["net_arch"], path + ".net_arch");
  if (n["learning_rate"].IsDefined())
    k.bc.bc_learning_rate = r.real(n["learning_rate"], path + ".learning_rate", 0.0, 1.0, true);
  if (n["batch_size"].IsDefined()) k.bc.bc_batch_size = r.integer(n["batch_size"], path + ".batch_size", 1, 1 << 20);
  return k;
}

void write_reference(YAML::Emitter& e, const ReferenceKeys& k) {
  e << YAML::Key << "reference" << YAML::Value;
  if (!k.path.empty()) {
    e << k.path;
    return;
  }
  e << YAML::BeginMap << YAML::Key << "bc_steps" << YAML::Value << k.bc.bc_steps << YAML::Key << "net_arch"
    << YAML::Value << YAML::Flow << k.bc.bc_net_arch << YAML::Key << "learning_rate" << YAML::Value
    << k.bc.bc_learning_rate << YAML::Key << "batch_size" << YAML::Value << k.bc.bc_batch_size << YAML::EndMap;
}

agents::ReferenceRecipe reference_recipe(const ReferenceKeys& k, const envs::EnvSpec& env) {
  agents::ReferenceRecipe recipe = k.bc;
  if (!k.path.empty()) {
    const std::string path = agents::checkpoint_of(k.path).string();
    agents::LoadedPolicy p = agents::load_policy(path);
    agents::check_compatible(p.header, path, env);
    recipe.policy = p.policy;
  }
  return recipe;
}

}  // namespace softrl::apps
