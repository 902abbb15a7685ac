#include "apps/algos/grpo_algo.h"

#include "agents/loops/group_rollout_loop.h"
#include "apps/algos/offline_keys.h"

namespace softrl::apps {
namespace {

using Aggregation = grpo::Aggregation;
using Advantage = agents::GrpoSettings::Advantage;

using S = GrpoAlgoSettings;
using Soft = agents::SoftActionSettings;

// TRL's and verl's names where they exist: epsilon as clip_range, beta as kl_coef, num_generations
// as group_size, scale_rewards.
Schema<S> grpo_schema() {
  return {
      widths<S>(
          "net_arch", [](auto& s) -> auto& { return s.net_arch; }, "hidden layers of the policy"),
      text<S>(
          "init", [](auto& s) -> auto& { return s.init; }, "a run directory or checkpoint",
          "a policy to start from (null: fresh weights)", true),
      text<S>(
          "reference", [](auto& s) -> auto& { return s.reference; }, "a run directory or checkpoint",
          "the KL anchor (null: the initial policy)", true),
      integer<S>(
          "groups", [](auto& s) -> auto& { return s.groups; }, 1, 1 << 20, "start states per iteration"),
      integer<S>(
          "group_size", [](auto& s) -> auto& { return s.group_size; }, 2, 1 << 16, "episodes per start state (G)"),
      integer<S>(
          "epochs", [](auto& s) -> auto& { return s.grpo.epochs; }, 1, 1000, "passes over each iteration's episodes"),
      integer<S>(
          "minibatch_episodes", [](auto& s) -> auto& { return s.grpo.minibatch_episodes; }, 1, 1 << 20,
          "episodes per gradient step"),
      schedule<S>(
          "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, "Adam step size"),
      custom<S>(
          "clip_range", "number in (0, 1]", "PPO clip epsilon (both sides, unless clip_range_high is given)",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& o) {
            o.grpo.surrogate.clip_low = o.grpo.surrogate.clip_high = r.real(n, p, 0.0, 1.0, true);
          },
          [](const S& o) { return YAML::Node(format_double(o.grpo.surrogate.clip_low)); }),
      real<S>(
          "clip_range_high", [](auto& s) -> auto& { return s.grpo.surrogate.clip_high; }, 0, 10,
          "upper clip epsilon (DAPO's clip-higher)", true),
      optional_real<S>(
          "dual_clip", [](auto& s) -> auto& { return s.grpo.surrogate.dual_clip; }, 1, 1e6,
          "dual-clip bound c on negative advantages (Ye et al. 2020)", true),
      real<S>(
          "kl_coef", [](auto& s) -> auto& { return s.grpo.surrogate.kl_coef; }, 0, 1e6,
          "weight of the k3 KL to the reference"),
      choice<S, Aggregation>(
          "aggregation", [](auto& s) -> auto& { return s.grpo.surrogate.aggregation; },
          {{"token_mean", Aggregation::token_mean},
           {"sequence_mean", Aggregation::sequence_mean},
           {"fixed_length", Aggregation::fixed_length}},
          "how per-step losses are averaged (DAPO token mean, GRPO sequence mean, Dr. GRPO)"),
      choice<S, Advantage>(
          "advantage", [](auto& s) -> auto& { return s.grpo.advantage; },
          {{"outcome", Advantage::outcome}, {"process", Advantage::process}},
          "episode return for every step, or the return-to-go"),
      boolean<S>(
          "scale_rewards", [](auto& s) -> auto& { return s.grpo.scale_by_std; },
          "divide advantages by the group's std"),
      real<S>(
          "advantage_eps", [](auto& s) -> auto& { return s.grpo.advantage_eps; }, 0, 1e6, "added to the std"),
      real<S>(
          "max_grad_norm", [](auto& s) -> auto& { return s.grpo.max_grad_norm; }, 0, 1e12, "gradient-norm clip", true),
  };
}

Schema<S> soft_grpo_schema() {
  return grpo_schema().extended({
      real<S>(
          "temperature", [](auto& s) -> auto& { return s.grpo.soft->temperature; }, 1e-3, 1e3,
          "temperature of the policy's logits", true),
      real<S>(
          "gumbel_temperature", [](auto& s) -> auto& { return s.grpo.soft->gumbel_temperature; }, 1e-3, 1e3,
          "Gumbel-softmax temperature of the soft action", true),
      choice<S, Soft::Score>(
          "density", [](auto& s) -> auto& { return s.grpo.soft->score; },
          {{"exact", Soft::Score::gumbel_exact}, {"reference", Soft::Score::gumbel_reference}},
          "read, never written: configs from before `score` (exact = gumbel_exact, reference = gumbel_reference)")
          .when([](const S&, const SchemaContext&) { return false; }),
      choice<S, Soft::Score>(
          "score", [](auto& s) -> auto& { return s.grpo.soft->score; },
          {{"categorical", Soft::Score::categorical},
           {"gumbel_exact", Soft::Score::gumbel_exact},
           {"gumbel_reference", Soft::Score::gumbel_reference}},
          "each step's log-likelihood: the executed action's log-softmax (the paper's answer tokens), the exact "
          "Gumbel density of g', or the authors' clamped reference form"),
      boolean<S>(
          "feedback", [](auto& s) -> auto& { return s.grpo.soft->feedback; },
          "feed y back as the next step's extra inputs (false: held at zero)"),
  });
}

void finish_grpo(const ConfigReader&, const YAML::Node&, S& s, const RunConfig&) {
  s.grpo.learning_rate = s.learning_rate.initial;
}

// SofT-GRPO's execution follows the task: argmax + feedback on LunarLander-v3, the prototype
// mixture on LunarLanderContinuous-v3.
void finish_soft_grpo(const ConfigReader& r, const YAML::Node& n, S& s, const RunConfig& run) {
  finish_grpo(r, n, s, run);
  Soft& soft = *s.grpo.soft;
  if (run.env_id == "LunarLander-v3") {
    soft.execution = Soft::Execution::argmax_feedback;
  } else if (run.env_id == "LunarLanderContinuous-v3") {
    soft.execution = Soft::Execution::prototype_mixture;
    soft.prototypes = agents::lunar_lander_prototypes();
  } else {
    r.fail_msg("env.id",
               "soft_grpo runs on LunarLander-v3 (argmax + fed-back soft action) or LunarLanderContinuous-v3 "
               "(mixture of the four discrete actions' prototypes), got '" +
                   run.env_id + "'");
  }
}

S soft_grpo_defaults() {
  S s;
  s.grpo.soft = Soft{};
  return s;
}

// A saved policy to start from or stay close to; it must take the run's inputs and give its actions.
// The policy a run starts from is the one it trains, so its hidden layers must be net_arch's too
// (else config.yaml would record widths the run never had); a reference only has to agree on the
// spaces.
std::shared_ptr<agents::PolicyHead> policy_at(const std::string& path, const agents::PolicySpec& spec,
                                              const std::string& key, const envs::EnvSpec& env, bool same_widths) {
  if (path.empty()) return nullptr;
  auto p = reference_recipe({.path = path}, env).policy;
  const agents::PolicySpec& got = p->spec();
  if (got.kind != spec.kind || got.obs_dim != spec.obs_dim || got.act_dim != spec.act_dim ||
      got.num_actions != spec.num_actions)
    throw InputError(key + ": " + path + " holds a " + got.describe() + " policy; this run needs " + spec.describe() +
                     (same_widths ? "" : " (hidden layers may differ)"));
  if (same_widths && got.hidden != spec.hidden)
    throw InputError(key + ": " + path + " holds a " + got.describe() + " policy; this run's net_arch gives " +
                     spec.describe() + ": set net_arch to the saved policy's hidden layers");
  return p;
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<GrpoAlgoSettings>();
  const agents::PolicySpec spec = s.grpo.soft ? agents::soft_policy_spec(*s.grpo.soft, env, s.net_arch)
                                              : agents::PolicySpec::for_env(env, s.net_arch);
  const std::string section = run.algo + ".";
  auto learner =
      std::make_unique<agents::Grpo>(spec, s.grpo, run.seed, policy_at(s.init, spec, section + "init", env, true),
                                     policy_at(s.reference, spec, section + "reference", env, false));
  auto loop =
      std::make_unique<agents::GroupRolloutLoop>(*learner,
                                                 agents::GroupRolloutSettings{.env_id = run.env_id,
                                                                              .env_options = run.env_options,
                                                                              .groups = s.groups,
                                                                              .group_size = s.group_size,
                                                                              .n_envs = static_cast<int>(run.n_envs),
                                                                              .threads = run.threads,
                                                                              .total_steps = run.total_steps,
                                                                              .learning_rate = s.learning_rate,
                                                                              .soft = s.grpo.soft},
                                                 run.seed);
  return {std::move(learner), std::move(loop)};
}

std::unique_ptr<envs::Policy> soft_actor(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                         uint64_t seed) {
  return std::make_unique<agents::SoftPolicyActor>(policy, *run.settings<GrpoAlgoSettings>().grpo.soft, deterministic,
                                                   seed);
}
}  // namespace

AlgoEntry grpo_algo() {
  return {.name = "grpo",
          .summary = "GRPO: group-relative clipped policy updates from G episodes per start state, no critic",
          .section = algo_section<S>(grpo_schema(), finish_grpo),
          .build = build,
          .data_parallel = true};
}

AlgoEntry soft_grpo_algo() {
  return {.name = "soft_grpo",
          .summary = "SofT-GRPO: GRPO on Gumbel-perturbed soft actions fed back as inputs, scored categorically or by Gumbel density",
          .section = algo_section<S>(soft_grpo_schema(), finish_soft_grpo, soft_grpo_defaults),
          .build = build,
          .actor = soft_actor,
          .soft_actions = [](const RunConfig& run) { return run.settings<S>().grpo.soft; },
          .data_parallel = true};
}

}  // namespace softrl::apps
