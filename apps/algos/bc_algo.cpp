#include "apps/algos/bc_algo.h"

#include "agents/behaviour_cloning.h"
#include "agents/offline_loop.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

std::shared_ptr<const AlgoSettings> parse(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = std::make_shared<BcSettings>();
  if (!s.IsDefined() || s.IsNull() || !s["dataset"].IsDefined())
    r.fail_msg("bc.dataset", "missing; expected the path of a dataset written by softrl collect");
  o->dataset = r.text(s["dataset"], "bc.dataset", "a dataset path");
  if (s["net_arch"].IsDefined()) o->net_arch = parse_net_arch(r, s["net_arch"], "bc.net_arch");
  if (s["batch_size"].IsDefined()) o->batch_size = r.integer(s["batch_size"], "bc.batch_size", 1, 1 << 20);
  if (s["learning_rate"].IsDefined())
    o->learning_rate = parse_learning_rate(r, s["learning_rate"], "bc.learning_rate", &o->learning_rate_text);
  if (const YAML::Node f = s["filter"]; f.IsDefined() && !f.IsNull()) {
    r.check_keys(f, "bc.filter", {"top_fraction", "min_return"});
    if (f["top_fraction"].IsDefined() && f["min_return"].IsDefined())
      r.fail_msg("bc.filter", "give top_fraction or min_return, not both");
    if (f["top_fraction"].IsDefined()) o->top_fraction = r.real(f["top_fraction"], "bc.filter.top_fraction", 0.0, 1.0, true);
    if (f["min_return"].IsDefined()) o->min_return = r.real(f["min_return"], "bc.filter.min_return", -1e12, 1e12);
  }
  return o;
}

void write(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const BcSettings&>(settings);
  e << YAML::Key << "dataset" << YAML::Value << s.dataset;
  e << YAML::Key << "net_arch" << YAML::Value << YAML::Flow << s.net_arch;
  e << YAML::Key << "batch_size" << YAML::Value << s.batch_size;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  if (s.top_fraction || s.min_return) {
    e << YAML::Key << "filter" << YAML::Value << YAML::BeginMap;
    if (s.top_fraction) e << YAML::Key << "top_fraction" << YAML::Value << *s.top_fraction;
    if (s.min_return) e << YAML::Key << "min_return" << YAML::Value << *s.min_return;
    e << YAML::EndMap;
  }
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<BcSettings>();
  data::Dataset d = data::read_dataset(s.dataset, env);
  if (s.top_fraction || s.min_return) {
    const std::vector<int64_t> kept =
        s.top_fraction ? data::top_episodes(d, *s.top_fraction) : data::episodes_with_return_at_least(d, *s.min_return);
    if (kept.empty())
      throw InputError(s.dataset + ": no episode has a return >= " + std::to_string(*s.min_return) +
                       " (bc.filter.min_return)");
    d = data::select_episodes(d, kept);
  }
  auto learner = std::make_unique<agents::BehaviourCloning>(agents::PolicySpec::for_env(env, s.net_arch),
                                                            s.learning_rate.initial, run.seed);
  auto loop = std::make_unique<agents::OfflineLoop>(
      *learner, agents::transitions_of(d),
      agents::OfflineSettings{.total_steps = run.total_steps, .batch_size = s.batch_size, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry bc_algo() {
  return {.name = "bc",
          .summary = "behaviour cloning from a dataset (optionally filtered by return: filtered BC)",
          .keys = {"dataset", "net_arch", "batch_size", "learning_rate", "filter"},
          .parse = parse,
          .write = write,
          .build = build};
}

}  // namespace softrl::apps
