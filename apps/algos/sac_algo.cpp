#include "apps/algos/sac_algo.h"


#include <unistd.h>

#include <cmath>

#include "agents/off_policy_loop.h"

namespace softrl::apps {
namespace {

void parse_ent_coef(const ConfigReader& r, const YAML::Node& n, const std::string& path, agents::SacConfig& sac,
                    std::string* text) {
  const char* expected = "auto, auto_<initial value> or a positive number";
  const std::string s = r.text(n, path, expected);
  *text = s;
  std::string num = s;
  sac.auto_ent_coef = s.rfind("auto", 0) == 0;
  if (s == "auto") {
    sac.ent_coef_init = 1.0;
    return;
  }
  if (sac.auto_ent_coef) {
    if (s.rfind("auto_", 0) != 0) r.fail(path, expected, n);
    num = s.substr(5);
  }
  const std::optional<double> v = parse_whole_double(num);
  if (!v) r.fail(path, expected, n);
  sac.ent_coef_init = *v;
  if (!(sac.ent_coef_init > 0 && std::isfinite(sac.ent_coef_init))) r.fail(path, expected, n);
}

void parse_network_keys(const ConfigReader& r, const YAML::Node& s, agents::SacConfig& a) {
  if (s["net_arch"].IsDefined()) a.net_arch = parse_net_arch(r, s["net_arch"], "sac.net_arch");
  if (s["batch_size"].IsDefined()) a.batch_size = r.integer(s["batch_size"], "sac.batch_size", 1, 1 << 20);
  if (s["buffer_size"].IsDefined()) a.buffer_size = r.integer(s["buffer_size"], "sac.buffer_size", 1, 100000000);
  if (s["gamma"].IsDefined()) a.gamma = r.real(s["gamma"], "sac.gamma", 0.0, 1.0);
  if (s["tau"].IsDefined()) a.tau = r.real(s["tau"], "sac.tau", 0.0, 1.0, true);
  if (s["train_freq"].IsDefined()) a.train_freq = r.integer(s["train_freq"], "sac.train_freq", 1);
  if (s["gradient_steps"].IsDefined()) a.gradient_steps = r.integer(s["gradient_steps"], "sac.gradient_steps", 0);
  if (s["learning_starts"].IsDefined()) a.learning_starts = r.integer(s["learning_starts"], "sac.learning_starts", 0);
}

std::shared_ptr<const AlgoSettings> parse(const ConfigReader& r, const YAML::Node& s, const RunConfig& run) {
  auto out = std::make_shared<SacSettings>();
  agents::SacConfig& a = out->sac;
  if (s.IsDefined() && !s.IsNull()) {
    parse_network_keys(r, s, a);
    if (s["learning_rate"].IsDefined())
      a.learning_rate = parse_learning_rate(r, s["learning_rate"], "sac.learning_rate", &out->learning_rate_text);
    if (s["ent_coef"].IsDefined()) parse_ent_coef(r, s["ent_coef"], "sac.ent_coef", a, &out->ent_coef_text);
    if (const YAML::Node t = s["target_entropy"]; t.IsDefined() && !(t.IsScalar() && t.Scalar() == "auto"))
      a.target_entropy = r.real(t, "sac.target_entropy", -1e6, 1e6);
    if (s["target_entropy_scale"].IsDefined())
      a.target_entropy_scale = r.real(s["target_entropy_scale"], "sac.target_entropy_scale", 0.0, 1.0, true);
    if (s["twin_q"].IsDefined()) {
      const std::string v = r.text(s["twin_q"], "sac.twin_q", "min or mean");
      if (v == "min") a.twin_q = sac::TwinReduce::min;
      else if (v == "mean") a.twin_q = sac::TwinReduce::mean;
      else r.fail_msg("sac.twin_q", "expected min or mean, got '" + v + "'");
    }
  }
  if (a.batch_size > a.buffer_size)
    r.fail_msg("sac.batch_size", "must not exceed sac.buffer_size (" + std::to_string(a.buffer_size) + ")");
  if (run.n_envs > a.buffer_size) r.fail_msg("n_envs", "must not exceed sac.buffer_size");
  return out;
}

void write(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const SacSettings&>(settings);
  const agents::SacConfig& a = s.sac;
  e << YAML::Key << "net_arch" << YAML::Value << YAML::Flow << a.net_arch;
  e << YAML::Key << "batch_size" << YAML::Value << a.batch_size;
  e << YAML::Key << "buffer_size" << YAML::Value << a.buffer_size;
  e << YAML::Key << "gamma" << YAML::Value << a.gamma;
  e << YAML::Key << "tau" << YAML::Value << a.tau;
  e << YAML::Key << "train_freq" << YAML::Value << a.train_freq;
  e << YAML::Key << "gradient_steps" << YAML::Value << a.gradient_steps;
  e << YAML::Key << "learning_starts" << YAML::Value << a.learning_starts;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  e << YAML::Key << "ent_coef" << YAML::Value << s.ent_coef_text;
  if (a.target_entropy) e << YAML::Key << "target_entropy" << YAML::Value << *a.target_entropy;
  else e << YAML::Key << "target_entropy" << YAML::Value << "auto";
  e << YAML::Key << "target_entropy_scale" << YAML::Value << a.target_entropy_scale;
  e << YAML::Key << "twin_q" << YAML::Value << (a.twin_q == sac::TwinReduce::min ? "min" : "mean");
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
          .keys = {"net_arch", "batch_size", "buffer_size", "gamma", "tau", "train_freq", "gradient_steps",
                   "learning_starts", "learning_rate", "ent_coef", "target_entropy", "target_entropy_scale",
                   "twin_q"},
          .parse = parse,
          .write = write,
          .build = build};
}

}  // namespace softrl::apps
