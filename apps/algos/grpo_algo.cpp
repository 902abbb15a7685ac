#include "apps/algos/grpo_algo.h"

#include "agents/group_rollout_loop.h"
#include "apps/algos/reference_keys.h"

namespace softrl::apps {
namespace {

using Aggregation = grpo::Aggregation;
using Advantage = agents::GrpoSettings::Advantage;

void parse_common(const ConfigReader& r, const YAML::Node& s, const std::string& P, GrpoAlgoSettings* o) {
  auto& g = o->grpo;
  if (s["net_arch"].IsDefined()) o->net_arch = parse_net_arch(r, s["net_arch"], P + "net_arch");
  if (s["init"].IsDefined() && !s["init"].IsNull()) o->init = r.text(s["init"], P + "init", "a run directory or checkpoint");
  if (s["reference"].IsDefined() && !s["reference"].IsNull())
    o->reference = r.text(s["reference"], P + "reference", "a run directory or checkpoint");
  if (s["groups"].IsDefined()) o->groups = r.integer(s["groups"], P + "groups", 1, 1 << 20);
  if (s["group_size"].IsDefined()) o->group_size = r.integer(s["group_size"], P + "group_size", 2, 1 << 16);
  if (s["epochs"].IsDefined()) g.epochs = r.integer(s["epochs"], P + "epochs", 1, 1000);
  if (s["minibatch_episodes"].IsDefined())
    g.minibatch_episodes = r.integer(s["minibatch_episodes"], P + "minibatch_episodes", 1, 1 << 20);
  if (s["learning_rate"].IsDefined())
    o->learning_rate = parse_learning_rate(r, s["learning_rate"], P + "learning_rate", &o->learning_rate_text);
  g.learning_rate = o->learning_rate.initial;
  if (s["clip_range"].IsDefined())
    g.surrogate.clip_low = g.surrogate.clip_high = r.real(s["clip_range"], P + "clip_range", 0.0, 1.0, true);
  if (s["clip_range_high"].IsDefined())
    g.surrogate.clip_high = r.real(s["clip_range_high"], P + "clip_range_high", 0.0, 10.0, true);
  if (s["dual_clip"].IsDefined() && !s["dual_clip"].IsNull()) {
    g.surrogate.dual_clip = r.real(s["dual_clip"], P + "dual_clip", 1.0, 1e6, true);
  }
  if (s["kl_coef"].IsDefined()) g.surrogate.kl_coef = r.real(s["kl_coef"], P + "kl_coef", 0.0, 1e6);
  if (s["aggregation"].IsDefined()) {
    const std::string v = r.text(s["aggregation"], P + "aggregation", "token_mean, sequence_mean or fixed_length");
    if (v == "token_mean") g.surrogate.aggregation = Aggregation::token_mean;
    else if (v == "sequence_mean") g.surrogate.aggregation = Aggregation::sequence_mean;
    else if (v == "fixed_length") g.surrogate.aggregation = Aggregation::fixed_length;
    else r.fail_msg(P + "aggregation", "expected token_mean, sequence_mean or fixed_length, got '" + v + "'");
  }
  if (s["advantage"].IsDefined()) {
    const std::string v = r.text(s["advantage"], P + "advantage", "outcome or process");
    if (v == "outcome") g.advantage = Advantage::outcome;
    else if (v == "process") g.advantage = Advantage::process;
    else r.fail_msg(P + "advantage", "expected outcome or process, got '" + v + "'");
  }
  if (s["scale_rewards"].IsDefined()) g.scale_by_std = r.boolean(s["scale_rewards"], P + "scale_rewards");
  if (s["advantage_eps"].IsDefined()) g.advantage_eps = r.real(s["advantage_eps"], P + "advantage_eps", 0.0, 1e6);
  if (s["max_grad_norm"].IsDefined()) g.max_grad_norm = r.real(s["max_grad_norm"], P + "max_grad_norm", 0.0, 1e12, true);
}

std::shared_ptr<const AlgoSettings> parse_grpo(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = std::make_shared<GrpoAlgoSettings>();
  if (s.IsDefined() && !s.IsNull()) parse_common(r, s, "grpo.", o.get());
  return o;
}

// SofT-GRPO's execution follows the task (the spec's Box2D mapping): argmax + feedback on
// LunarLander-v3, the prototype mixture on LunarLanderContinuous-v3.
std::shared_ptr<const AlgoSettings> parse_soft_grpo(const ConfigReader& r, const YAML::Node& s, const RunConfig& run) {
  auto o = std::make_shared<GrpoAlgoSettings>();
  agents::SoftActionSettings soft;
  if (run.env_id == "LunarLander-v3") {
    soft.execution = agents::SoftActionSettings::Execution::argmax_feedback;
  } else if (run.env_id == "LunarLanderContinuous-v3") {
    soft.execution = agents::SoftActionSettings::Execution::prototype_mixture;
    soft.prototypes = agents::lunar_lander_prototypes();
  } else {
    r.fail_msg("env.id", "soft_grpo runs on LunarLander-v3 (argmax + fed-back soft action) or LunarLanderContinuous-v3 "
                         "(mixture of the four discrete actions' prototypes), got '" + run.env_id + "'");
  }
  if (s.IsDefined() && !s.IsNull()) {
    parse_common(r, s, "soft_grpo.", o.get());
    if (s["temperature"].IsDefined())
      soft.temperature = r.real(s["temperature"], "soft_grpo.temperature", 1e-3, 1e3, true);
    if (s["gumbel_temperature"].IsDefined())
      soft.gumbel_temperature = r.real(s["gumbel_temperature"], "soft_grpo.gumbel_temperature", 1e-3, 1e3, true);
    if (s["density"].IsDefined()) {
      const std::string v = r.text(s["density"], "soft_grpo.density", "exact or reference");
      if (v == "exact") soft.density = agents::SoftActionSettings::Density::exact;
      else if (v == "reference") soft.density = agents::SoftActionSettings::Density::reference;
      else r.fail_msg("soft_grpo.density", "expected exact or reference, got '" + v + "'");
    }
  }
  o->grpo.soft = soft;
  return o;
}

void write(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const GrpoAlgoSettings&>(settings);
  const auto& g = s.grpo;
  e << YAML::Key << "net_arch" << YAML::Value << YAML::Flow << s.net_arch;
  e << YAML::Key << "init" << YAML::Value;
  if (s.init.empty()) e << YAML::Null; else e << s.init;
  e << YAML::Key << "reference" << YAML::Value;
  if (s.reference.empty()) e << YAML::Null; else e << s.reference;
  e << YAML::Key << "groups" << YAML::Value << s.groups;
  e << YAML::Key << "group_size" << YAML::Value << s.group_size;
  e << YAML::Key << "epochs" << YAML::Value << g.epochs;
  e << YAML::Key << "minibatch_episodes" << YAML::Value << g.minibatch_episodes;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  e << YAML::Key << "clip_range" << YAML::Value << g.surrogate.clip_low;
  e << YAML::Key << "clip_range_high" << YAML::Value << g.surrogate.clip_high;
  e << YAML::Key << "dual_clip" << YAML::Value;
  if (g.surrogate.dual_clip) e << *g.surrogate.dual_clip; else e << YAML::Null;
  e << YAML::Key << "kl_coef" << YAML::Value << g.surrogate.kl_coef;
  const auto agg = g.surrogate.aggregation;
  e << YAML::Key << "aggregation" << YAML::Value
    << (agg == Aggregation::token_mean ? "token_mean" : agg == Aggregation::sequence_mean ? "sequence_mean" : "fixed_length");
  e << YAML::Key << "advantage" << YAML::Value << (g.advantage == Advantage::outcome ? "outcome" : "process");
  e << YAML::Key << "scale_rewards" << YAML::Value << g.scale_by_std;
  e << YAML::Key << "advantage_eps" << YAML::Value << g.advantage_eps;
  e << YAML::Key << "max_grad_norm" << YAML::Value << g.max_grad_norm;
  if (g.soft) {
    e << YAML::Key << "temperature" << YAML::Value << g.soft->temperature;
    e << YAML::Key << "gumbel_temperature" << YAML::Value << g.soft->gumbel_temperature;
    e << YAML::Key << "density" << YAML::Value
      << (g.soft->density == agents::SoftActionSettings::Density::exact ? "exact" : "reference");
  }
}

// A saved policy to start from or stay close to; it must take the run's inputs and give its actions.
std::shared_ptr<agents::PolicyHead> policy_at(const std::string& path, const agents::PolicySpec& spec,
                                              const std::string& key, const envs::EnvSpec& env) {
  if (path.empty()) return nullptr;
  auto p = reference_recipe({.path = path}, env).policy;
  const agents::PolicySpec& got = p->spec();
  if (got.kind != spec.kind || got.obs_dim != spec.obs_dim || got.act_dim != spec.act_dim ||
      got.num_actions != spec.num_actions)
    throw InputError(key + ": " + path + " holds a " + got.describe() + " policy; this run needs " + spec.describe() +
                     " (hidden layers may differ)");
  return p;
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<GrpoAlgoSettings>();
  const agents::PolicySpec spec = s.grpo.soft ? agents::soft_policy_spec(*s.grpo.soft, env, s.net_arch)
                                              : agents::PolicySpec::for_env(env, s.net_arch);
  const std::string section = run.algo + ".";
  auto learner = std::make_unique<agents::Grpo>(spec, s.grpo, run.seed, policy_at(s.init, spec, section + "init", env),
                                                policy_at(s.reference, spec, section + "reference", env));
  auto loop = std::make_unique<agents::GroupRolloutLoop>(
      *learner,
      agents::GroupRolloutSettings{.env_id = run.env_id, .env_options = run.env_options, .groups = s.groups,
                                   .group_size = s.group_size, .n_envs = static_cast<int>(run.n_envs),
                                   .threads = run.threads, .total_steps = run.total_steps,
                                   .learning_rate = s.learning_rate, .soft = s.grpo.soft},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

const std::set<std::string> kGrpoKeys = {"net_arch", "init", "reference", "groups", "group_size", "epochs",
                                         "minibatch_episodes", "learning_rate", "clip_range", "clip_range_high",
                                         "dual_clip", "kl_coef", "aggregation", "advantage", "scale_rewards",
                                         "advantage_eps", "max_grad_norm"};

std::unique_ptr<envs::Policy> soft_actor(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                         uint64_t seed) {
  return std::make_unique<agents::SoftPolicyActor>(policy, *run.settings<GrpoAlgoSettings>().grpo.soft, deterministic,
                                                   seed);
}
}  // namespace

AlgoEntry grpo_algo() {
  return {.name = "grpo",
          .summary = "GRPO: group-relative clipped policy updates from G episodes per start state, no critic",
          .keys = kGrpoKeys,
          .parse = parse_grpo,
          .write = write,
          .build = build};
}

AlgoEntry soft_grpo_algo() {
  std::set<std::string> keys = kGrpoKeys;
  keys.insert({"temperature", "gumbel_temperature", "density"});
  return {.name = "soft_grpo",
          .summary = "SofT-GRPO: GRPO on Gumbel-perturbed soft actions scored by their Gumbel log-density",
          .keys = keys,
          .parse = parse_soft_grpo,
          .write = write,
          .build = build,
          .actor = soft_actor};
}

}  // namespace softrl::apps
