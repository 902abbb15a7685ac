#include "apps/algos/preference_algo.h"

#include "agents/offline_loop.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Learner = agents::PreferenceLearnerSettings;
using View = data::PreferenceSettings;

template <class E>
E choice(const ConfigReader& r, const YAML::Node& n, const std::string& path,
         std::initializer_list<std::pair<const char*, E>> options) {
  std::string expected;
  for (const auto& [name, value] : options) expected += (expected.empty() ? "" : ", ") + std::string(name);
  const std::string v = r.text(n, path, expected.c_str());
  for (const auto& [name, value] : options)
    if (v == name) return value;
  r.fail_msg(path, "expected one of " + expected + ", got '" + v + "'");
}

template <class E>
const char* name_of(E value, std::initializer_list<std::pair<const char*, E>> options) {
  for (const auto& [name, v] : options)
    if (v == value) return name;
  return "?";
}

const std::initializer_list<std::pair<const char*, View::Label>> kLabels = {{"hard", View::Label::hard},
                                                                            {"soft", View::Label::soft}};
const std::initializer_list<std::pair<const char*, View::Noise>> kNoise = {
    {"none", View::Noise::none}, {"flip", View::Noise::flip}, {"gaussian", View::Noise::gaussian}, {"cauchy", View::Noise::cauchy}};
const std::initializer_list<std::pair<const char*, preference::DpoVariant>> kLossTypes = {
    {"sigmoid", preference::DpoVariant::sigmoid}, {"robust", preference::DpoVariant::robust}, {"ipo", preference::DpoVariant::ipo}};
const std::initializer_list<std::pair<const char*, Learner::Objective>> kForms = {
    {"pairwise", Learner::Objective::adpo_pairwise}, {"listwise", Learner::Objective::adpo_listwise},
    {"plackett_luce", Learner::Objective::plackett_luce}};
const std::initializer_list<std::pair<const char*, Learner::Anchor>> kAnchors = {
    {"fixed", Learner::Anchor::fixed}, {"ema", Learner::Anchor::ema}, {"dynamic", Learner::Anchor::dynamic}};

void parse_view(const ConfigReader& r, const YAML::Node& n, const std::string& path, PreferenceAlgoSettings& o) {
  View& v = o.view;
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsMap()) r.fail_msg(path, "expected a mapping {label, noise, holdout_fraction, ...}");
  r.check_keys(n, path, {"segment_steps", "label", "pair_temperature", "list_temperature", "noise", "flip_probability",
                         "noise_scale", "outlier_fraction", "outlier_scale", "holdout_fraction", "seed"});
  if (n["segment_steps"].IsDefined()) v.segment_steps = r.integer(n["segment_steps"], path + ".segment_steps", 0, 1 << 20);
  if (n["label"].IsDefined()) v.label = choice(r, n["label"], path + ".label", kLabels);
  if (n["pair_temperature"].IsDefined())
    v.pair_temperature = r.real(n["pair_temperature"], path + ".pair_temperature", 0.0, 1e12, true);
  if (n["list_temperature"].IsDefined())
    v.list_temperature = r.real(n["list_temperature"], path + ".list_temperature", 0.0, 1e12, true);
  if (n["noise"].IsDefined()) v.noise = choice(r, n["noise"], path + ".noise", kNoise);
  if (n["flip_probability"].IsDefined())
    v.flip_probability = r.real(n["flip_probability"], path + ".flip_probability", 0.0, 1.0);
  if (n["noise_scale"].IsDefined()) v.noise_scale = r.real(n["noise_scale"], path + ".noise_scale", 0.0, 1e12);
  if (n["outlier_fraction"].IsDefined())
    v.outlier_fraction = r.real(n["outlier_fraction"], path + ".outlier_fraction", 0.0, 1.0);
  if (n["outlier_scale"].IsDefined()) v.outlier_scale = r.real(n["outlier_scale"], path + ".outlier_scale", 0.0, 1e12);
  if (n["holdout_fraction"].IsDefined())
    v.holdout_fraction = r.real(n["holdout_fraction"], path + ".holdout_fraction", 0.0, 1.0);
  if (n["seed"].IsDefined()) {
    v.seed = static_cast<uint64_t>(r.integer(n["seed"], path + ".seed", 0));
    o.view_seed_given = true;
  }
  if (v.noise == View::Noise::flip && !n["flip_probability"].IsDefined())
    r.fail_msg(path + ".flip_probability", "missing; noise: flip needs the probability of reversing a comparison");
  if ((v.noise == View::Noise::gaussian || v.noise == View::Noise::cauchy) && !n["noise_scale"].IsDefined())
    r.fail_msg(path + ".noise_scale", "missing; noise: gaussian and cauchy need the scale of the noise on returns");
}

// The keys dpo and adpo share; `o` starts with the algorithm's defaults.
void parse_common(const ConfigReader& r, const YAML::Node& s, const std::string& sec, PreferenceAlgoSettings& o) {
  if (!s.IsDefined() || s.IsNull() || !s["dataset"].IsDefined())
    r.fail_msg(sec + ".dataset", "missing; expected the path of a grouped dataset written by softrl collect");
  o.dataset = r.text(s["dataset"], sec + ".dataset", "a dataset path");
  o.reference = parse_reference(r, s["reference"], sec);
  parse_view(r, s["preferences"], sec + ".preferences", o);
  if (s["holdout_dataset"].IsDefined() && !s["holdout_dataset"].IsNull())
    o.holdout_dataset = r.text(s["holdout_dataset"], sec + ".holdout_dataset", "a dataset path");
  auto& c = o.learner;
  if (s["length_normalize"].IsDefined()) c.length_normalize = r.boolean(s["length_normalize"], sec + ".length_normalize");
  if (s["learning_rate"].IsDefined())
    o.learning_rate = parse_learning_rate(r, s["learning_rate"], sec + ".learning_rate", &o.learning_rate_text);
  c.learning_rate = o.learning_rate.initial;
  if (s["max_grad_norm"].IsDefined()) c.max_grad_norm = r.real(s["max_grad_norm"], sec + ".max_grad_norm", 0.0, 1e12, true);
  if (s["batch_groups"].IsDefined()) o.batch_groups = r.integer(s["batch_groups"], sec + ".batch_groups", 1, 1 << 20);
  if (s["holdout_every"].IsDefined()) c.holdout_every = r.integer(s["holdout_every"], sec + ".holdout_every", 1, 1 << 30);
}

void write_common(YAML::Emitter& e, const PreferenceAlgoSettings& s) {
  const View& v = s.view;
  e << YAML::Key << "dataset" << YAML::Value << s.dataset;
  write_reference(e, s.reference);
  e << YAML::Key << "preferences" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "segment_steps" << YAML::Value << v.segment_steps;
  e << YAML::Key << "label" << YAML::Value << name_of(v.label, kLabels);
  e << YAML::Key << "pair_temperature" << YAML::Value << v.pair_temperature;
  e << YAML::Key << "list_temperature" << YAML::Value << v.list_temperature;
  e << YAML::Key << "noise" << YAML::Value << name_of(v.noise, kNoise);
  e << YAML::Key << "flip_probability" << YAML::Value << v.flip_probability;
  e << YAML::Key << "noise_scale" << YAML::Value << v.noise_scale;
  e << YAML::Key << "outlier_fraction" << YAML::Value << v.outlier_fraction;
  e << YAML::Key << "outlier_scale" << YAML::Value << v.outlier_scale;
  e << YAML::Key << "holdout_fraction" << YAML::Value << v.holdout_fraction;
  if (s.view_seed_given) e << YAML::Key << "seed" << YAML::Value << v.seed;
  e << YAML::EndMap;
  if (!s.holdout_dataset.empty()) e << YAML::Key << "holdout_dataset" << YAML::Value << s.holdout_dataset;
  e << YAML::Key << "length_normalize" << YAML::Value << s.learner.length_normalize;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  e << YAML::Key << "max_grad_norm" << YAML::Value << s.learner.max_grad_norm;
  e << YAML::Key << "batch_groups" << YAML::Value << s.batch_groups;
  e << YAML::Key << "holdout_every" << YAML::Value << s.learner.holdout_every;
}

std::shared_ptr<PreferenceAlgoSettings> with_defaults(Learner::Objective objective, View::Label label) {
  auto o = std::make_shared<PreferenceAlgoSettings>();
  o->learner.objective = objective;
  o->view.label = label;
  o->view.holdout_fraction = 0.1;
  return o;
}

std::shared_ptr<const AlgoSettings> parse_dpo(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = with_defaults(Learner::Objective::dpo, View::Label::hard);
  parse_common(r, s, "dpo", *o);
  auto& d = o->learner.dpo;
  if (s["beta"].IsDefined()) d.beta = r.real(s["beta"], "dpo.beta", 0.0, 1e6, true);
  if (s["loss_type"].IsDefined()) d.variant = choice(r, s["loss_type"], "dpo.loss_type", kLossTypes);
  if (s["label_smoothing"].IsDefined()) d.label_noise = r.real(s["label_smoothing"], "dpo.label_smoothing", 0.0, 0.5);
  if (d.label_noise >= 0.5) r.fail_msg("dpo.label_smoothing", "expected a value in [0, 0.5)");
  // TRL: sigmoid with label_smoothing > 0 is conservative DPO (Mitchell 2023).
  if (d.variant == preference::DpoVariant::sigmoid && d.label_noise > 0) d.variant = preference::DpoVariant::conservative;
  return o;
}

void write_dpo(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const PreferenceAlgoSettings&>(settings);
  write_common(e, s);
  const auto& d = s.learner.dpo;
  e << YAML::Key << "beta" << YAML::Value << d.beta;
  const auto variant = d.variant == preference::DpoVariant::conservative ? preference::DpoVariant::sigmoid : d.variant;
  e << YAML::Key << "loss_type" << YAML::Value << name_of(variant, kLossTypes);
  e << YAML::Key << "label_smoothing" << YAML::Value << d.label_noise;
}

std::shared_ptr<const AlgoSettings> parse_adpo(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = with_defaults(Learner::Objective::adpo_listwise, View::Label::soft);
  parse_common(r, s, "adpo", *o);
  auto& c = o->learner;
  if (s["form"].IsDefined()) c.objective = choice(r, s["form"], "adpo.form", kForms);
  if (s["tau_anc"].IsDefined()) c.tau_anchor = r.real(s["tau_anc"], "adpo.tau_anc", 0.0, 1e6, true);
  if (const YAML::Node a = s["adaptive_tau"]; a.IsDefined() && !a.IsNull()) {
    if (!a.IsMap()) r.fail_msg("adpo.adaptive_tau", "expected a mapping {alpha, min, max} or null (off)");
    r.check_keys(a, "adpo.adaptive_tau", {"alpha", "min", "max"});
    c.adaptive_tau = true;
    if (a["alpha"].IsDefined()) c.tau_alpha = r.real(a["alpha"], "adpo.adaptive_tau.alpha", 0.0, 1e6);
    if (a["min"].IsDefined()) c.tau_min = r.real(a["min"], "adpo.adaptive_tau.min", 0.0, 1e6, true);
    if (a["max"].IsDefined()) c.tau_max = r.real(a["max"], "adpo.adaptive_tau.max", 0.0, 1e6, true);
    if (c.tau_min > c.tau_max) r.fail_msg("adpo.adaptive_tau", "expected min <= max");
  }
  if (s["anchor"].IsDefined()) c.anchor = choice(r, s["anchor"], "adpo.anchor", kAnchors);
  if (s["ema_rate"].IsDefined()) c.ema_rate = r.real(s["ema_rate"], "adpo.ema_rate", 0.0, 1.0, true);
  if (s["anchor_refresh"].IsDefined()) c.refresh_every = r.integer(s["anchor_refresh"], "adpo.anchor_refresh", 1, 1 << 30);
  return o;
}

void write_adpo(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const PreferenceAlgoSettings&>(settings);
  write_common(e, s);
  const auto& c = s.learner;
  e << YAML::Key << "form" << YAML::Value << name_of(c.objective, kForms);
  e << YAML::Key << "tau_anc" << YAML::Value << c.tau_anchor;
  e << YAML::Key << "adaptive_tau" << YAML::Value;
  if (c.adaptive_tau) {
    e << YAML::BeginMap << YAML::Key << "alpha" << YAML::Value << c.tau_alpha << YAML::Key << "min" << YAML::Value
      << c.tau_min << YAML::Key << "max" << YAML::Value << c.tau_max << YAML::EndMap;
  } else {
    e << YAML::Null;
  }
  e << YAML::Key << "anchor" << YAML::Value << name_of(c.anchor, kAnchors);
  e << YAML::Key << "ema_rate" << YAML::Value << c.ema_rate;
  e << YAML::Key << "anchor_refresh" << YAML::Value << c.refresh_every;
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<PreferenceAlgoSettings>();
  const std::string section = s.learner.objective == Learner::Objective::dpo ? "dpo" : "adpo";
  if (s.learner.adaptive_tau && env.action_space.kind != envs::Space::Kind::discrete)
    throw InputError(section + ".adaptive_tau: the entropy-adapted temperature needs a discrete action space (" +
                     run.env_id + "'s is continuous)");
  const data::Dataset d = data::read_dataset(s.dataset, env);
  data::PreferenceSettings view = s.view;
  if (!s.view_seed_given) view.seed = run.seed;
  if (!s.holdout_dataset.empty()) view.holdout_fraction = 0;
  const data::PreferenceView v = data::build_preferences(d, view);
  std::optional<data::Dataset> shifted;
  std::optional<data::PreferenceView> shifted_view;
  if (!s.holdout_dataset.empty()) {
    shifted = data::read_dataset(s.holdout_dataset, env);
    data::PreferenceSettings clean = view;
    clean.noise = View::Noise::none;
    shifted_view = data::build_preferences(*shifted, clean);
  }
  auto learner = std::make_unique<agents::PreferenceLearner>(d, v, s.learner, reference_recipe(s.reference, env),
                                                             run.seed, shifted ? &*shifted : nullptr,
                                                             shifted_view ? &*shifted_view : nullptr);
  auto loop = std::make_unique<agents::OfflineLoop>(
      *learner,
      agents::OfflineSettings{.total_steps = run.total_steps, .batch_size = s.batch_groups, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry dpo_algo() {
  return {.name = "dpo",
          .summary = "DPO / cDPO / robust DPO / IPO on preference pairs within the groups of a dataset",
          .keys = {"dataset", "reference", "preferences", "holdout_dataset", "length_normalize", "learning_rate",
                   "max_grad_norm", "batch_groups", "holdout_every", "beta", "loss_type", "label_smoothing"},
          .parse = parse_dpo,
          .write = write_dpo,
          .build = build};
}

AlgoEntry adpo_algo() {
  return {.name = "adpo",
          .summary = "ADPO: anchored pairwise / listwise / Plackett-Luce preference learning on grouped episodes",
          .keys = {"dataset", "reference", "preferences", "holdout_dataset", "length_normalize", "learning_rate",
                   "max_grad_norm", "batch_groups", "holdout_every", "form", "tau_anc", "adaptive_tau", "anchor",
                   "ema_rate", "anchor_refresh"},
          .parse = parse_adpo,
          .write = write_adpo,
          .build = build};
}

}  // namespace softrl::apps
