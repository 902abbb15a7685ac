#include "apps/algos/offline_keys.h"

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"

namespace softrl::apps {
namespace {

using Recipe = agents::ReferenceRecipe;

const Schema<Recipe>& bc_schema() {
  static const Schema<Recipe> s = {
      integer<Recipe>(
          "bc_steps", [](auto& c) -> auto& { return c.bc_steps; }, 1, int64_t{1} << 40,
          "behaviour-cloning budget in samples")
          .required("expected the behaviour-cloning budget in samples", [](const SchemaContext&) { return "200000"; }),
      widths<Recipe>(
          "net_arch", [](auto& c) -> auto& { return c.bc_net_arch; }, "hidden layers of the reference"),
      real<Recipe>(
          "learning_rate", [](auto& c) -> auto& { return c.bc_learning_rate; }, 0, 1, "Adam step size", true),
      integer<Recipe>(
          "batch_size", [](auto& c) -> auto& { return c.bc_batch_size; }, 1, 1 << 20, "samples per step"),
  };
  return s;
}

}  // namespace

std::string example_dataset(const SchemaContext& ctx) {
  return ctx.discrete_actions ? "datasets/lunarlander_mixed.hdf5" : "datasets/lunarlander_continuous_mixed.hdf5";
}

void read_reference(const ConfigReader& r, const YAML::Node& n, const std::string& path, ReferenceKeys& out) {
  out = ReferenceKeys{};
  if (n.IsScalar()) {
    out.path = r.text(n, path, "a run directory or checkpoint, or a mapping {bc_steps, ...}");
    return;
  }
  if (!n.IsMap()) r.fail_msg(path, "expected a run directory or checkpoint, or a mapping {bc_steps, ...}");
  bc_schema().read(r, n, path, out.bc);
}

YAML::Node reference_value(const ReferenceKeys& k) {
  return k.path.empty() ? bc_schema().to_node(k.bc) : YAML::Node(k.path);
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
