#include "apps/algos/distill_algo.h"

#include "agents/offline_loop.h"
#include "apps/algos/reference_keys.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Objective = agents::DistillationSettings::Objective;

std::shared_ptr<const AlgoSettings> parse(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = std::make_shared<DistillAlgoSettings>();
  if (!s.IsDefined() || s.IsNull() || !s["dataset"].IsDefined())
    r.fail_msg("distill.dataset", "missing; expected a dataset of the teacher's rollouts (softrl collect, policy source)");
  o->dataset = r.text(s["dataset"], "distill.dataset", "a dataset path");
  if (!s["teacher"].IsDefined()) r.fail_msg("distill.teacher", "missing; expected the teacher's run directory or checkpoint");
  o->teacher = r.text(s["teacher"], "distill.teacher", "a run directory or checkpoint");
  auto& c = o->distill;
  if (s["objective"].IsDefined()) {
    const std::string v = r.text(s["objective"], "distill.objective", "kd or adpo");
    if (v == "kd") c.objective = Objective::kd;
    else if (v == "adpo") c.objective = Objective::adpo;
    else r.fail_msg("distill.objective", "expected kd or adpo, got '" + v + "'");
  }
  if (s["candidates"].IsDefined()) c.candidates = r.integer(s["candidates"], "distill.candidates", 2, 4096);
  if (s["temperature"].IsDefined()) c.teacher_temperature = r.real(s["temperature"], "distill.temperature", 0.0, 1e6, true);
  if (s["tau_anc"].IsDefined()) c.tau_anchor = r.real(s["tau_anc"], "distill.tau_anc", 0.0, 1e6, true);
  if (s["anchor"].IsDefined()) {
    const std::string v = r.text(s["anchor"], "distill.anchor", "uniform, fixed or ema");
    if (v == "uniform") c.anchor = agents::DistillationSettings::Anchor::uniform;
    else if (v == "fixed") c.anchor = agents::DistillationSettings::Anchor::fixed;
    else if (v == "ema") c.anchor = agents::DistillationSettings::Anchor::ema;
    else r.fail_msg("distill.anchor", "expected uniform, fixed or ema, got '" + v + "'");
  }
  if (s["ema_rate"].IsDefined()) c.ema_rate = r.real(s["ema_rate"], "distill.ema_rate", 0.0, 1.0, true);
  if (c.objective == Objective::kd && (s["anchor"].IsDefined() || s["tau_anc"].IsDefined()))
    r.fail_msg("distill.anchor", "plain KD has no anchor; set objective: adpo to use anchor / tau_anc");
  if (s["net_arch"].IsDefined()) o->net_arch = parse_net_arch(r, s["net_arch"], "distill.net_arch");
  if (s["learning_rate"].IsDefined())
    o->learning_rate = parse_learning_rate(r, s["learning_rate"], "distill.learning_rate", &o->learning_rate_text);
  c.learning_rate = o->learning_rate.initial;
  if (s["batch_size"].IsDefined()) o->batch_size = r.integer(s["batch_size"], "distill.batch_size", 1, 1 << 20);
  if (s["max_grad_norm"].IsDefined()) c.max_grad_norm = r.real(s["max_grad_norm"], "distill.max_grad_norm", 0.0, 1e12, true);
  return o;
}

void write(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const DistillAlgoSettings&>(settings);
  const auto& c = s.distill;
  e << YAML::Key << "dataset" << YAML::Value << s.dataset;
  e << YAML::Key << "teacher" << YAML::Value << s.teacher;
  e << YAML::Key << "objective" << YAML::Value << (c.objective == Objective::kd ? "kd" : "adpo");
  e << YAML::Key << "candidates" << YAML::Value << c.candidates;
  e << YAML::Key << "temperature" << YAML::Value << c.teacher_temperature;
  if (c.objective == Objective::adpo) {
    e << YAML::Key << "tau_anc" << YAML::Value << c.tau_anchor;
    using A = agents::DistillationSettings::Anchor;
    e << YAML::Key << "anchor" << YAML::Value
      << (c.anchor == A::uniform ? "uniform" : c.anchor == A::fixed ? "fixed" : "ema");
  }
  e << YAML::Key << "ema_rate" << YAML::Value << c.ema_rate;
  e << YAML::Key << "net_arch" << YAML::Value << YAML::Flow << s.net_arch;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  e << YAML::Key << "batch_size" << YAML::Value << s.batch_size;
  e << YAML::Key << "max_grad_norm" << YAML::Value << c.max_grad_norm;
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<DistillAlgoSettings>();
  if (env.action_space.kind == envs::Space::Kind::discrete)
    throw InputError("algo distill: " + run.env_id + " has discrete actions; distillation over sampled candidate "
                     "actions is for continuous tasks (BipedalWalker, LunarLanderContinuous)");
  const data::Dataset d = data::read_dataset(s.dataset, env);
  const agents::ReferenceRecipe teacher = reference_recipe({.path = s.teacher}, env);
  auto learner = std::make_unique<agents::Distillation>(d.observations, teacher.policy,
                                                        agents::PolicySpec::for_env(env, s.net_arch), s.distill, run.seed);
  auto loop = std::make_unique<agents::OfflineLoop>(
      *learner,
      agents::OfflineSettings{.total_steps = run.total_steps, .batch_size = s.batch_size, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry distill_algo() {
  return {.name = "distill",
          .summary = "policy distillation over sampled candidate actions: plain KD or ADPO with a fixed / EMA anchor",
          .keys = {"dataset", "teacher", "objective", "candidates", "temperature", "tau_anc", "anchor", "ema_rate",
                   "net_arch", "learning_rate", "batch_size", "max_grad_norm"},
          .parse = parse,
          .write = write,
          .build = build};
}

}  // namespace softrl::apps
