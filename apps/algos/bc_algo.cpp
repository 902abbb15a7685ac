#include "apps/algos/bc_algo.h"

#include "agents/bc/behaviour_cloning.h"
#include "agents/loops/offline_loop.h"
#include "apps/algos/offline_keys.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

Schema<BcSettings> schema() {
  using S = BcSettings;
  return {
      dataset_field<S>("an HDF5 dataset of the run's task"),
      widths<S>(
          "net_arch", [](auto& s) -> auto& { return s.net_arch; }, "hidden layers of the policy"),
      integer<S>(
          "batch_size", [](auto& s) -> auto& { return s.batch_size; }, 1, 1 << 20, "transitions per gradient step"),
      schedule<S>(
          "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, "Adam step size"),
      section<S>("filter",
                 {optional_real<S>(
                      "top_fraction", [](auto& s) -> auto& { return s.top_fraction; }, 0, 1,
                      "keep the best fraction of the episodes by return (filtered BC)", true),
                  optional_real<S>(
                      "min_return", [](auto& s) -> auto& { return s.min_return; }, -1e12, 1e12,
                      "keep the episodes with at least this return")},
                 "filtered BC: one of top_fraction, min_return"),
  };
}

void check(const ConfigReader& r, const YAML::Node&, BcSettings& s, const RunConfig&) {
  if (s.top_fraction && s.min_return) r.fail_msg("bc.filter", "give top_fraction or min_return, not both");
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
      agents::OfflineSettings{
          .total_steps = run.total_steps, .batch_size = s.batch_size, .learning_rate = s.learning_rate},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry bc_algo() {
  return {.name = "bc",
          .summary = "behaviour cloning from a dataset (optionally filtered by return: filtered BC)",
          .section = algo_section<BcSettings>(schema(), check),
          .build = build,
          .data_parallel = true};
}

}  // namespace softrl::apps
