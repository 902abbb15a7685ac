#include "apps/commands/collect_config.h"

#include "agents/core/checkpoint.h"
#include "apps/algos/registry.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/config/config_reader.h"
#include "apps/config/env_section.h"
#include "apps/config/schema.h"
#include "common/runtime.h"

namespace softrl::apps {
namespace {

using Kind = agents::BehaviourSource::Kind;
using Source = agents::BehaviourSource;
using C = agents::CollectSettings;

Field<Source> weight() {
  return real<Source>(
      "weight", [](auto& s) -> auto& { return s.weight; }, 0, 1e9, "share of the episodes (normalised)", true);
}
Field<Source> kind_field() {
  return custom<Source>(
      "kind", "heuristic, policy or random", "the behaviour", [](auto&...) {},
      [](const Source& s) { return YAML::Node(s.kind_name()); });
}

// The keys of each kind of behaviour source.
const Schema<Source>& source_schema(Kind kind) {
  static const Schema<Source> heuristic = {
      kind_field(), weight(),
      real<Source>(
          "epsilon", [](auto& s) -> auto& { return s.epsilon; }, 0, 1, "probability of a uniform random action"),
      real<Source>(
          "noise_std", [](auto& s) -> auto& { return s.noise_std; }, 0, 100,
          "continuous actions: Gaussian noise on the heuristic's action, clipped to the bounds")
          .when([](const Source& s, const SchemaContext& ctx) { return !ctx.discrete_actions && s.noise_std > 0; })};
  static const Schema<Source> policy = {
      kind_field(), weight(),
      text<Source>(
          "path", [](auto& s) -> auto& { return s.policy_path; }, "a run directory or a checkpoint file",
          "the saved policy")
          .required("expected a run directory or a checkpoint file", [](const SchemaContext&) { return "runs/sac"; }),
      boolean<Source>(
          "deterministic", [](auto& s) -> auto& { return s.deterministic; }, "act with the policy's mode"),
      temperature<Source>(
          "temperature", [](auto& s) -> auto& { return s.temperature; }, 100,
          "sampling temperature (logits / T, or the Gaussian's std * T)")};
  static const Schema<Source> random = {kind_field(), weight()};
  return kind == Kind::heuristic ? heuristic : kind == Kind::policy ? policy : random;
}

// Loads a policy source's policy and checks it against the task.
void load_source_policy(const ConfigReader& r, const std::string& path, Source& s, const envs::EnvSpec& env) {
  const std::string ckpt = agents::checkpoint_of(s.policy_path).string();
  try {
    agents::LoadedPolicy loaded = agents::load_policy(ckpt);
    agents::check_compatible(loaded.header, ckpt, env);
    s.policy = loaded.policy;
    // A policy that acts with soft actions (its inputs include the fed-back ones) is replayed so.
    const RunConfig run = parse_config(loaded.header.config_yaml, ckpt + " (embedded config)");
    if (const AlgoEntry* a = find_algo(run.algo); a && a->soft_actions) s.soft = a->soft_actions(run);
  } catch (const InputError& e) {
    r.fail_msg(path + ".path", e.what());
  }
}

Source parse_source(const ConfigReader& r, const YAML::Node& n, const std::string& path, const envs::EnvSpec& env) {
  if (!n.IsMap()) r.fail(path, "a mapping with a kind (heuristic, policy or random)", n);
  Source s;
  const std::string kind = r.text(n["kind"], path + ".kind", "heuristic, policy or random");
  if (kind == "heuristic") s.kind = Kind::heuristic;
  else if (kind == "policy") s.kind = Kind::policy;
  else if (kind == "random") s.kind = Kind::random;
  else r.fail(path + ".kind", "heuristic, policy or random", n["kind"]);
  source_schema(s.kind).read(r, n, path, s);
  if (s.kind == Kind::heuristic && n["noise_std"].IsDefined() && env.action_space.kind == envs::Space::Kind::discrete)
    r.fail_msg(path + ".noise_std", "applies to continuous actions only; " + env.id + " is discrete");
  if (s.kind == Kind::policy) load_source_policy(r, path, s, env);
  return s;
}

const Schema<C>& schema() {
  static const Schema<C> s = {
      env_field<C>(),
      integer<C>(
          "seed", [](auto& c) -> auto& { return c.seed; }, 0, INT64_MAX, "seed of the behaviours' random streams"),
      custom<C>(
          "threads", "integer in [0, 64]", "threads stepping the envs (0: every core); the data do not depend on it",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, C& c) {
            c.threads = static_cast<int>(r.integer(n, p, 0, 64));
          },
          [](const C& c) { return YAML::Node(c.threads); }),
      integer<C>(
          "n_envs", [](auto& c) -> auto& { return c.n_envs; }, 1, 1024, "environments stepped together"),
      integer<C>(
          "start_seeds", [](auto& c) -> auto& { return c.start_seeds; }, 1, 100000000, "groups (start states)"),
      integer<C>(
          "group_size", [](auto& c) -> auto& { return c.group_size; }, 1, 100000, "episodes per start state"),
      integer<C>(
          "first_start_seed", [](auto& c) -> auto& { return c.first_start_seed; }, 0, INT64_MAX,
          "group g resets with first_start_seed + g"),
      text<C>(
          "dataset_id", [](auto& c) -> auto& { return c.dataset_id; }, "a name",
          "the dataset's id (default: <env id>-collect-seed<seed>)"),
      custom<C>(
          "sources", "list of {kind: heuristic | policy | random, weight, ...}", "the behaviour mixture",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, C& c) {
            if (!n.IsSequence() || n.size() == 0)
              r.fail(p, "a non-empty list of behaviour sources ({kind: heuristic | policy | random, weight, ...})", n);
            const envs::EnvSpec env = envs::make_env(c.env_id, c.env_options)->spec();
            for (size_t i = 0; i < n.size(); ++i)
              c.sources.push_back(parse_source(r, n[i], p + "[" + std::to_string(i) + "]", env));
          },
          [](const C& c) {
            YAML::Node list(YAML::NodeType::Sequence);
            const SchemaContext ctx = context_for_env(c.env_id);
            for (const Source& src : c.sources) list.push_back(source_schema(src.kind).to_node(src, ctx));
            return list;
          })
          .required("expected a non-empty list of behaviour sources ({kind: heuristic | policy | random, weight, ...})",
                    [](const SchemaContext&) { return std::string("[{kind: heuristic, epsilon: 0.1}]"); }),
  };
  return s;
}

// A collection's defaults: every core (threads 0); the data do not depend on the thread count.
agents::CollectSettings defaults() {
  agents::CollectSettings s;
  s.threads = 0;
  return s;
}

agents::CollectSettings from_node(const YAML::Node& root, const ConfigReader& r) {
  agents::CollectSettings s = defaults();
  schema().read(r, root, "", s);
  s.threads = resolve_threads(s.threads);
  if (s.dataset_id.empty()) s.dataset_id = s.env_id + "-collect-seed" + std::to_string(s.seed);
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
  schema().write(e, s, context_for_env(s.env_id));
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

void document_collect_keys(std::vector<KeyDoc>& out) {
  schema().document(defaults(), "", out);
  for (const Kind k : {Kind::heuristic, Kind::policy, Kind::random}) {
    Source s;
    s.kind = k;
    source_schema(k).document(s, "sources[]." + s.kind_name(), out);
  }
}

}  // namespace softrl::apps
