#include "apps/algos/distill_algo.h"

#include "agents/loops/offline_loop.h"
#include "apps/algos/offline_keys.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Objective = agents::DistillationSettings::Objective;

using S = DistillAlgoSettings;
using Anchor = agents::DistillationSettings::Anchor;

bool adpo_objective(const S& s, const SchemaContext&) { return s.distill.objective == Objective::adpo; }

Schema<S> schema() {
  return {
      dataset_field<S>("the teacher's rollouts (softrl collect with the teacher as policy source)"),
      text<S>(
          "teacher", [](auto& s) -> auto& { return s.teacher; }, "a run directory or checkpoint", "the teacher policy")
          .required("expected the teacher's run directory or checkpoint",
                    [](const SchemaContext&) { return std::string("runs/teacher"); }),
      choice<S, Objective>(
          "objective", [](auto& s) -> auto& { return s.distill.objective; },
          {{"kd", Objective::kd}, {"adpo", Objective::adpo}},
          "plain KD over the candidates, or ADPO against an anchor"),
      integer<S>(
          "candidates", [](auto& s) -> auto& { return s.distill.candidates; }, 2, 4096,
          "sampled candidate actions per state"),
      temperature<S>(
          "temperature", [](auto& s) -> auto& { return s.distill.teacher_temperature; }, 1e6,
          "temperature of the teacher's distribution over the candidates"),
      temperature<S>(
          "tau_anc", [](auto& s) -> auto& { return s.distill.tau_anchor; }, 1e6, "ADPO's anchor temperature")
          .when(adpo_objective),
      choice<S, Anchor>(
          "anchor", [](auto& s) -> auto& { return s.distill.anchor; },
          {{"uniform", Anchor::uniform}, {"fixed", Anchor::fixed}, {"ema", Anchor::ema}},
          "ADPO's anchor: uniform, the initial student, or its EMA")
          .when(adpo_objective),
      real<S>(
          "ema_rate", [](auto& s) -> auto& { return s.distill.ema_rate; }, 0, 1, "EMA anchor's rate per step", true),
      widths<S>(
          "net_arch", [](auto& s) -> auto& { return s.net_arch; }, "hidden layers of the student"),
      schedule<S>(
          "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, "Adam step size"),
      integer<S>(
          "batch_size", [](auto& s) -> auto& { return s.batch_size; }, 1, 1 << 20, "states per gradient step"),
      real<S>(
          "max_grad_norm", [](auto& s) -> auto& { return s.distill.max_grad_norm; }, 0, 1e12, "gradient-norm clip",
          true),
  };
}

void check(const ConfigReader& r, const YAML::Node& n, S& s, const RunConfig&) {
  if (s.distill.objective == Objective::kd && (n["anchor"].IsDefined() || n["tau_anc"].IsDefined()))
    r.fail_msg("distill.anchor", "plain KD has no anchor; set objective: adpo to use anchor / tau_anc");
  s.distill.learning_rate = s.learning_rate.initial;
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<DistillAlgoSettings>();
  if (env.action_space.kind == envs::Space::Kind::discrete)
    throw InputError("algo distill: " + run.env_id +
                     " has discrete actions; distillation over sampled candidate "
                     "actions is for continuous tasks (BipedalWalker, LunarLanderContinuous)");
  const data::Dataset d = data::read_dataset(s.dataset, env);
  const agents::ReferenceRecipe teacher = reference_recipe({.path = s.teacher}, env);
  auto learner = std::make_unique<agents::Distillation>(
      d.observations, teacher.policy, agents::PolicySpec::for_env(env, s.net_arch), s.distill, run.seed);
  auto loop = std::make_unique<agents::OfflineLoop>(
      *learner,
      agents::OfflineSettings{
          .total_steps = run.total_steps, .batch_size = s.batch_size, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry distill_algo() {
  return {.name = "distill",
          .summary = "policy distillation over sampled candidate actions: plain KD or ADPO with a fixed / EMA anchor",
          .section = algo_section<S>(schema(), check),
          .example_env = "LunarLanderContinuous-v3",
          .build = build};
}

}  // namespace softrl::apps
