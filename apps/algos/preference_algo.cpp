#include "apps/algos/preference_algo.h"

#include "agents/loops/offline_loop.h"
#include "apps/algos/offline_keys.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Learner = agents::PreferenceLearnerSettings;
using View = data::PreferenceSettings;

using S = PreferenceAlgoSettings;

S with_defaults(Learner::Objective objective, View::Label label) {
  S o;
  o.learner.objective = objective;
  o.view.label = label;
  o.view.holdout_fraction = 0.1;
  return o;
}

using Noise = View::Noise;
using Variant = preference::DpoVariant;

bool flip_noise(const S& s, const SchemaContext&) { return s.view.noise == Noise::flip; }
bool return_noise(const S& s, const SchemaContext&) {
  return s.view.noise == Noise::gaussian || s.view.noise == Noise::cauchy;
}

Schema<S> view_schema() {
  return {
      integer<S>(
          "segment_steps", [](auto& s) -> auto& { return s.view.segment_steps; }, 0, 1 << 20,
          "candidates are the first N steps of each episode (0: whole episodes)"),
      choice<S, View::Label>(
          "label", [](auto& s) -> auto& { return s.view.label; },
          {{"hard", View::Label::hard}, {"soft", View::Label::soft}},
          "hard: the higher return wins; soft: probabilities from the returns"),
      temperature<S>(
          "pair_temperature", [](auto& s) -> auto& { return s.view.pair_temperature; }, 1e12,
          "soft pairwise labels: sigmoid((R_i - R_j) / T)"),
      temperature<S>(
          "list_temperature", [](auto& s) -> auto& { return s.view.list_temperature; }, 1e12,
          "soft listwise labels: softmax(z(R) / T)"),
      choice<S, Noise>(
          "noise", [](auto& s) -> auto& { return s.view.noise; },
          {{"none", Noise::none}, {"flip", Noise::flip}, {"gaussian", Noise::gaussian}, {"cauchy", Noise::cauchy}},
          "label noise: flipped comparisons, or noise on the returns"),
      real<S>(
          "flip_probability", [](auto& s) -> auto& { return s.view.flip_probability; }, 0, 1,
          "noise: flip - probability of reversing a comparison")
          .when(flip_noise),
      real<S>(
          "noise_scale", [](auto& s) -> auto& { return s.view.noise_scale; }, 0, 1e12,
          "noise: gaussian / cauchy - scale of the noise on returns")
          .when(return_noise),
      real<S>(
          "outlier_fraction", [](auto& s) -> auto& { return s.view.outlier_fraction; }, 0, 1,
          "gaussian: share of candidates that also get N(0, outlier_scale^2)")
          .when(return_noise),
      real<S>(
          "outlier_scale", [](auto& s) -> auto& { return s.view.outlier_scale; }, 0, 1e12, "sd of the outliers' noise")
          .when(return_noise),
      real<S>(
          "holdout_fraction", [](auto& s) -> auto& { return s.view.holdout_fraction; }, 0, 1,
          "share of the groups held out for accuracy and WinMass"),
      custom<S>(
          "seed", "integer in [0, inf] or null (the run's seed)", "seed of the noise and the held-out split",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& o) {
            o.view_seed_given = !n.IsNull();
            if (o.view_seed_given) o.view.seed = static_cast<uint64_t>(r.integer(n, p, 0));
          },
          [](const S& o) { return o.view_seed_given ? YAML::Node(o.view.seed) : YAML::Node(YAML::NodeType::Null); }),
  };
}

Schema<S> common_schema() {
  return {
      dataset_field<S>("a grouped dataset (softrl collect with group_size >= 2)"),
      reference_field<S>(),
      section<S>("preferences", view_schema(), "how the groups' returns become preference labels"),
      text<S>(
          "holdout_dataset", [](auto& s) -> auto& { return s.holdout_dataset; }, "a dataset path",
          "distribution shift: held-out groups from this dataset instead", true),
      boolean<S>(
          "length_normalize", [](auto& s) -> auto& { return s.learner.length_normalize; },
          "sequence log-probabilities divided by the episode's length"),
      schedule<S>(
          "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, "Adam step size"),
      real<S>(
          "max_grad_norm", [](auto& s) -> auto& { return s.learner.max_grad_norm; }, 0, 1e12, "gradient-norm clip",
          true),
      integer<S>(
          "batch_groups", [](auto& s) -> auto& { return s.batch_groups; }, 1, 1 << 20, "groups per gradient step"),
      integer<S>(
          "holdout_every", [](auto& s) -> auto& { return s.learner.holdout_every; }, 1, 1 << 30,
          "updates between held-out evaluations"),
  };
}

// TRL's names: sigmoid with label_smoothing > 0 is conservative DPO (Mitchell 2023), written as sigmoid.
Schema<S> dpo_schema() {
  return common_schema().extended({
      temperature<S>(
          "beta", [](auto& s) -> auto& { return s.learner.dpo.beta; }, 1e6,
          "inverse temperature of the implicit reward"),
      choice<S, Variant>(
          "loss_type", [](auto& s) -> auto& { return s.learner.dpo.variant; },
          {{"sigmoid", Variant::sigmoid},
           {"robust", Variant::robust},
           {"ipo", Variant::ipo},
           {"sigmoid", Variant::conservative}},
          "sigmoid (DPO; cDPO with label_smoothing), robust (Chowdhury 2024) or ipo (Azar 2023)"),
      real<S>(
          "label_smoothing", [](auto& s) -> auto& { return s.learner.dpo.label_noise; }, 0, 0.5,
          "assumed label-flip rate, in [0, 0.5)"),
  });
}

using Objective = Learner::Objective;
using Anchor = Learner::Anchor;

Schema<S> adaptive_tau_schema() {
  return {
      real<S>(
          "alpha", [](auto& s) -> auto& { return s.learner.tau_alpha; }, 0, 1e6, "strength of the entropy adaptation"),
      real<S>(
          "min", [](auto& s) -> auto& { return s.learner.tau_min; }, 0, 1e6, "lower bound of tau", true),
      real<S>(
          "max", [](auto& s) -> auto& { return s.learner.tau_max; }, 0, 1e6, "upper bound of tau", true),
  };
}

Schema<S> adpo_schema() {
  return common_schema().extended({
      choice<S, Objective>(
          "form", [](auto& s) -> auto& { return s.learner.objective; },
          {{"pairwise", Objective::adpo_pairwise},
           {"listwise", Objective::adpo_listwise},
           {"plackett_luce", Objective::plackett_luce}},
          "pairwise, listwise (softmax over the group) or Plackett-Luce"),
      temperature<S>(
          "tau_anc", [](auto& s) -> auto& { return s.learner.tau_anchor; }, 1e6, "the anchored temperature tau"),
      custom<S>(
          "adaptive_tau", "{alpha, min, max} or null (off)", "discrete: tau adapted to the anchor's entropy",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& o) {
            o.learner.adaptive_tau = !n.IsNull();
            if (!o.learner.adaptive_tau) return;
            if (!n.IsMap()) r.fail_msg(p, "expected a mapping {alpha, min, max} or null (off)");
            adaptive_tau_schema().read(r, n, p, o);
            if (o.learner.tau_min > o.learner.tau_max) r.fail_msg(p, "expected min <= max");
          },
          [](const S& o) {
            return o.learner.adaptive_tau ? adaptive_tau_schema().to_node(o) : YAML::Node(YAML::NodeType::Null);
          }),
      choice<S, Anchor>(
          "anchor", [](auto& s) -> auto& { return s.learner.anchor; },
          {{"fixed", Anchor::fixed}, {"ema", Anchor::ema}, {"dynamic", Anchor::dynamic}},
          "the anchor: the reference, its EMA, or refreshed every anchor_refresh updates"),
      real<S>(
          "ema_rate", [](auto& s) -> auto& { return s.learner.ema_rate; }, 0, 1, "EMA anchor's rate per update", true),
      integer<S>(
          "anchor_refresh", [](auto& s) -> auto& { return s.learner.refresh_every; }, 1, 1 << 30,
          "dynamic anchor: updates between refreshes"),
  });
}

// Rules across keys, and the learner's copy of the learning rate.
void check_common(const ConfigReader& r, const YAML::Node& n, S& s, const std::string& sec) {
  const YAML::Node prefs = n.IsMap() ? n["preferences"] : YAML::Node();
  const auto given = [&](const char* key) { return prefs.IsMap() && prefs[key].IsDefined(); };
  if (s.view.noise == Noise::flip && !given("flip_probability"))
    r.fail_msg(sec + ".preferences.flip_probability",
               "missing; noise: flip needs the probability of reversing a comparison");
  if (return_noise(s, {}) && !given("noise_scale"))
    r.fail_msg(sec + ".preferences.noise_scale",
               "missing; noise: gaussian and cauchy need the scale of the noise on returns");
  s.learner.learning_rate = s.learning_rate.initial;
}

S dpo_defaults() { return with_defaults(Objective::dpo, View::Label::hard); }
S adpo_defaults() { return with_defaults(Objective::adpo_listwise, View::Label::soft); }

void check_dpo(const ConfigReader& r, const YAML::Node& n, S& s, const RunConfig&) {
  check_common(r, n, s, "dpo");
  auto& d = s.learner.dpo;
  if (d.label_noise >= 0.5) r.fail_msg("dpo.label_smoothing", "expected a value in [0, 0.5)");
  if (d.variant == Variant::sigmoid && d.label_noise > 0) d.variant = Variant::conservative;
}

void check_adpo(const ConfigReader& r, const YAML::Node& n, S& s, const RunConfig&) { check_common(r, n, s, "adpo"); }

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
      agents::OfflineSettings{
          .total_steps = run.total_steps, .batch_size = s.batch_groups, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry dpo_algo() {
  return {.name = "dpo",
          .summary = "DPO / cDPO / robust DPO / IPO on preference pairs within the groups of a dataset",
          .section = algo_section<S>(dpo_schema(), check_dpo, dpo_defaults),
          .build = build,
          .data_parallel = true};
}

AlgoEntry adpo_algo() {
  return {.name = "adpo",
          .summary = "ADPO: anchored pairwise / listwise / Plackett-Luce preference learning on grouped episodes",
          .section = algo_section<S>(adpo_schema(), check_adpo, adpo_defaults),
          .build = build,
          .data_parallel = true};
}

}  // namespace softrl::apps
