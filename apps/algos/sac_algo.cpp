#include "apps/algos/sac_algo.h"

#include <unistd.h>

#include <cmath>

#include "agents/loops/off_policy_loop.h"

namespace softrl::apps {
namespace {

using Sac = SacSettings;

void read_ent_coef(const ConfigReader& r, const YAML::Node& n, const std::string& path, Sac& out) {
  const char* expected = "auto, auto_<initial value> or a positive number";
  const std::string s = r.text(n, path, expected);
  agents::SacConfig& sac = out.sac;
  sac.auto_ent_coef = s.rfind("auto", 0) == 0;
  if (s == "auto") {
    sac.ent_coef_init = 1.0;
    return;
  }
  if (sac.auto_ent_coef && s.rfind("auto_", 0) != 0) r.fail(path, expected, n);
  const std::optional<double> v = parse_whole_double(sac.auto_ent_coef ? s.substr(5) : s);
  if (!v || !(*v > 0 && std::isfinite(*v))) r.fail(path, expected, n);
  sac.ent_coef_init = *v;
}

YAML::Node ent_coef_value(const Sac& s) {
  if (!s.sac.auto_ent_coef) return YAML::Node(format_double(s.sac.ent_coef_init));
  return YAML::Node(s.sac.ent_coef_init == 1.0 ? std::string("auto") : "auto_" + format_double(s.sac.ent_coef_init));
}

void read_target_entropy(const ConfigReader& r, const YAML::Node& n, const std::string& path, Sac& out) {
  if (n.IsScalar() && n.Scalar() == "auto") out.sac.target_entropy.reset();
  else out.sac.target_entropy = r.real(n, path, -1e6, 1e6);
}

YAML::Node target_entropy_value(const Sac& s) {
  return YAML::Node(s.sac.target_entropy ? format_double(*s.sac.target_entropy) : std::string("auto"));
}

bool discrete(const Sac&, const SchemaContext& ctx) { return ctx.discrete_actions; }

Schema<Sac> schema() {
  return {
      widths<Sac>(
          "net_arch", [](auto& s) -> auto& { return s.sac.net_arch; }, "hidden layers of the actor and each critic"),
      integer<Sac>(
          "batch_size", [](auto& s) -> auto& { return s.sac.batch_size; }, 1, 1 << 20, "transitions per gradient step"),
      integer<Sac>(
          "buffer_size", [](auto& s) -> auto& { return s.sac.buffer_size; }, 1, 100000000,
          "replay buffer capacity in transitions"),
      real<Sac>(
          "gamma", [](auto& s) -> auto& { return s.sac.gamma; }, 0, 1, "discount factor"),
      real<Sac>(
          "tau", [](auto& s) -> auto& { return s.sac.tau; }, 0, 1, "Polyak rate of the target critics", true),
      integer<Sac>(
          "train_freq", [](auto& s) -> auto& { return s.sac.train_freq; }, 1, INT64_MAX,
          "env steps (per env) between updates"),
      integer<Sac>(
          "gradient_steps", [](auto& s) -> auto& { return s.sac.gradient_steps; }, 0, INT64_MAX,
          "gradient steps per update"),
      integer<Sac>(
          "learning_starts", [](auto& s) -> auto& { return s.sac.learning_starts; }, 0, INT64_MAX,
          "uniformly random steps before learning"),
      schedule<Sac>(
          "learning_rate", [](auto& s) -> auto& { return s.sac.learning_rate; },
          "Adam step size of actor, critics and temperature"),
      custom<Sac>("ent_coef", "auto, auto_<initial value> or a positive number",
                  "entropy temperature alpha: learned (auto) or fixed (Haarnoja et al. 2018b)", read_ent_coef,
                  ent_coef_value),
      custom<Sac>("target_entropy", "auto or a number",
                  "entropy the learned alpha aims at; auto: -dim(A), or scaled log|A| for discrete",
                  read_target_entropy, target_entropy_value),
      real<Sac>(
          "target_entropy_scale", [](auto& s) -> auto& { return s.sac.target_entropy_scale; }, 0, 1,
          "discrete: target entropy = scale * log|A| (Christodoulou 2019)", true)
          .when(discrete),
      choice<Sac, sac::TwinReduce>(
          "twin_q", [](auto& s) -> auto& { return s.sac.twin_q; },
          {{"min", sac::TwinReduce::min}, {"mean", sac::TwinReduce::mean}},
          "discrete: the twin critics' min or mean in the target")
          .when(discrete),
  };
}

void check(const ConfigReader& r, const YAML::Node&, Sac& s, const RunConfig& run) {
  const agents::SacConfig& a = s.sac;
  if (a.batch_size > a.buffer_size)
    r.fail_msg("sac.batch_size", "must not exceed sac.buffer_size (" + std::to_string(a.buffer_size) + ")");
  if (run.n_envs > a.buffer_size) r.fail_msg("n_envs", "must not exceed sac.buffer_size");
}

// A replay buffer that does not fit is refused before anything is allocated.
void check_buffer_fits(const agents::SacConfig& a, const agents::PolicySpec& p) {
  const double bytes = static_cast<double>(a.buffer_size) * (2 * p.obs_dim + p.act_dim + 2) * 4.0;
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (bytes > 0.8 * ram)
    throw InputError("sac.buffer_size: " + std::to_string(a.buffer_size) + " transitions need " +
                     std::to_string(bytes / (1 << 30)) + " GiB, more than 80% of this machine's " +
                     std::to_string(ram / (1 << 30)) + " GiB");
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  agents::SacConfig a = run.settings<SacSettings>().sac;
  const agents::PolicySpec spec = agents::PolicySpec::for_env(env, a.net_arch);
  check_buffer_fits(a, spec);
  if (spec.kind != agents::PolicySpec::Kind::categorical && a.twin_q != sac::TwinReduce::min)
    throw InputError("sac.twin_q: mean is for discrete actions; " + run.env_id +
                     " has continuous actions (their update takes the min of the twin critics)");
  agents::give_threads(a, spec, run.threads);
  auto learner = std::make_unique<agents::Sac>(a, spec, run.seed);
  agents::OffPolicySettings loop{.env_id = run.env_id,
                                 .env_options = run.env_options,
                                 .n_envs = run.n_envs,
                                 .threads = run.threads,
                                 .total_steps = run.total_steps,
                                 .batch_size = a.batch_size,
                                 .buffer_size = a.buffer_size,
                                 .train_freq = a.train_freq,
                                 .gradient_steps = a.gradient_steps,
                                 .learning_starts = a.learning_starts,
                                 .learning_rate = a.learning_rate};
  auto l = std::make_unique<agents::OffPolicyLoop>(*learner, loop, run.seed);
  return {std::move(learner), std::move(l)};
}

}  // namespace

AlgoEntry sac_algo() {
  return {.name = "sac",
          .summary = "Soft Actor-Critic with automatic temperature (continuous and discrete actions)",
          .section = algo_section<Sac>(schema(), check),
          .example_env = "LunarLanderContinuous-v3",
          .build = build};
}

}  // namespace softrl::apps
