#include "apps/algos/oreo_algo.h"

#include <algorithm>

#include "agents/core/checkpoint.h"
#include "agents/loops/collector.h"
#include "agents/loops/offline_loop.h"
#include "agents/oreo/value_guided.h"
#include "apps/algos/offline_keys.h"
#include "common/distributed.h"
#include "common/interrupts.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Reward = agents::OreoSettings::Reward;

using S = OreoAlgoSettings;

// The soft-Bellman loss and the data it reads.
Schema<S> loss_schema() {
  return {
      dataset_field<S>("an HDF5 dataset of the run's task (episodes; groups not needed)"),
      reference_field<S>(),
      temperature<S>(
          "beta", [](auto& s) -> auto& { return s.oreo.loss.beta; }, 1e6,
          "KL-regularisation temperature of the soft Bellman target"),
      real<S>(
          "gamma", [](auto& s) -> auto& { return s.oreo.loss.gamma; }, 0, 1, "discount factor", true),
      optional_real<S>(
          "clip_log", [](auto& s) -> auto& { return s.oreo.loss.clip_log; }, 0, 1e12,
          "clip of |log pi - log pi_ref| per step", true),
      real<S>(
          "kl_coef", [](auto& s) -> auto& { return s.oreo.loss.kl_coef; }, 0, 1e6, "weight of the policy's KL penalty"),
      choice<S, oreo::KlMode>(
          "kl", [](auto& s) -> auto& { return s.oreo.loss.kl_mode; },
          {{"exact", oreo::KlMode::exact}, {"k3", oreo::KlMode::k3}, {"none", oreo::KlMode::none}},
          "the KL estimator: exact over the action set, k3 (Schulman) on the taken action, or none"),
      integer<S>(
          "chunk", [](auto& s) -> auto& { return s.oreo.chunk; }, 1, 1000,
          "env steps per value target (a 'reasoning step')"),
      choice<S, Reward>(
          "reward", [](auto& s) -> auto& { return s.oreo.reward; },
          {{"dense", Reward::dense}, {"sparse", Reward::sparse}},
          "the env's per-step rewards, or success only at the episode's end"),
      real<S>(
          "reward_scale", [](auto& s) -> auto& { return s.oreo.reward_scale; }, 0, 1e12, "rewards multiplied by this",
          true),
      real<S>(
          "success_return", [](auto& s) -> auto& { return s.oreo.success_return; }, -1e12, 1e12,
          "sparse reward: an episode succeeds at this return"),
      boolean<S>(
          "time_feature", [](auto& s) -> auto& { return s.oreo.time_feature; },
          "the value net also sees the remaining time"),
  };
}

// The networks, the optimizers and iterative OREO's rounds.
Schema<S> schema() {
  return loss_schema().extended({
      widths<S>(
          "value_net_arch", [](auto& s) -> auto& { return s.oreo.value_arch; }, "hidden layers of the value net"),
      schedule<S>(
          "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, "the policy's Adam step size"),
      real<S>(
          "value_learning_rate", [](auto& s) -> auto& { return s.oreo.value_learning_rate; }, 0, 1,
          "the value net's Adam step size", true),
      real<S>(
          "max_grad_norm", [](auto& s) -> auto& { return s.oreo.max_grad_norm; }, 0, 1e12, "gradient-norm clip", true),
      integer<S>(
          "batch_episodes", [](auto& s) -> auto& { return s.batch_episodes; }, 1, 1 << 20,
          "episodes per gradient step"),
      integer<S>(
          "rounds", [](auto& s) -> auto& { return s.rounds; }, 1, 100,
          "iterative OREO: rounds after the first collect fresh data with the current policy"),
      section<S>("round_collection",
                 {integer<S>(
                      "start_seeds", [](auto& s) -> auto& { return s.round_start_seeds; }, 0, 1 << 24,
                      "start states per later round (0: as many as the dataset has)"),
                  integer<S>(
                      "group_size", [](auto& s) -> auto& { return s.round_group_size; }, 0, 1 << 16,
                      "episodes per start state (0: the dataset's)"),
                  temperature<S>(
                      "temperature", [](auto& s) -> auto& { return s.round_temperature; }, 100,
                      "sampling temperature of the collection")},
                 "each later round's collection"),
  });
}

void finish(const ConfigReader&, const YAML::Node&, S& s, const RunConfig&) {
  s.oreo.policy_learning_rate = s.learning_rate.initial;
}

// Round r's data: the current policy, sampled, on start states no earlier round nor the dataset used.
agents::Oreo::RoundCollector round_collector(const RunConfig& run, const OreoAlgoSettings& s, const data::Dataset& d) {
  const int64_t groups = s.round_start_seeds > 0 ? s.round_start_seeds : std::max<int64_t>(1, d.num_groups());
  const int64_t size = s.round_group_size > 0 ? s.round_group_size : d.group_size;
  int64_t next_seed = 0;
  for (int64_t g : d.group_seeds) next_seed = std::max(next_seed, g + 1);
  return [=, env_id = run.env_id, options = run.env_options, seed = run.seed](agents::PolicyHead& policy, int round) {
    agents::CollectSettings c;
    c.env_id = env_id;
    c.env_options = options;
    agents::BehaviourSource src;
    src.kind = agents::BehaviourSource::Kind::policy;
    src.policy_path = "oreo round " + std::to_string(round);
    // The collector batches its own forward passes; it shares the learner's weights (no copy).
    src.policy = std::shared_ptr<agents::PolicyHead>(&policy, [](agents::PolicyHead*) {});
    src.temperature = s.round_temperature;
    c.sources = {src};
    c.start_seeds = groups;
    c.group_size = size;
    c.first_start_seed = static_cast<uint64_t>(next_seed + (round - 1) * groups);
    c.seed = seed * 1000003 + static_cast<uint64_t>(round);
    c.n_envs = 16;
    c.threads = 1;
    c.dataset_id = "oreo-round-" + std::to_string(round);
    // A signal stops a long round collection (single process); the round starts again on resume.
    const auto keep_going = [](const agents::CollectProgress&) {
      return distributed::active() || pending_signal() == 0;
    };
    data::Dataset d = agents::collect(c, keep_going);
    if (!distributed::active() && pending_signal()) throw StopRequested{};
    return d;
  };
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<OreoAlgoSettings>();
  const data::Dataset d = data::read_dataset(s.dataset, env);
  const agents::ReferenceRecipe ref = reference_recipe(s.reference, env);
  auto learner = std::make_unique<agents::Oreo>(
      d, s.oreo, ref, run.seed, s.rounds > 1 ? round_collector(run, s, d) : agents::Oreo::RoundCollector{});
  auto loop = std::make_unique<agents::OfflineLoop>(*learner,
                                                    agents::OfflineSettings{.total_steps = run.total_steps,
                                                                            .batch_size = s.batch_episodes,
                                                                            .learning_rate = s.learning_rate,
                                                                            .rounds = s.rounds},
                                                    run.seed);
  return {std::move(learner), std::move(loop)};
}

// The policy with the run's value function choosing among K sampled actions by a one-step
// lookahead (OREO's value-guided search, Wang et al. 2024).
GuidedActor value_guided(const RunConfig& run, const std::string& ckpt, agents::PolicyHead& policy, envs::Env& env,
                         int candidates, uint64_t seed) {
  const auto& s = run.settings<S>();
  const envs::EnvSpec& spec = env.spec();
  auto value = std::make_shared<agents::ValueFunction>(spec.observation_space.dim(), s.oreo.value_arch,
                                                       s.oreo.time_feature, spec.max_episode_steps);
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt);
  torch::serialize::InputArchive learner = c.section("learner"), archive;
  learner.read("value", archive);
  agents::load_module_checked(*value->net, archive, ckpt + " (value function)");
  agents::ValueGuidance g{.candidates = candidates, .gamma = s.oreo.loss.gamma, .reward_scale = s.oreo.reward_scale};
  if (s.oreo.reward == Reward::sparse) g.success_return = s.oreo.success_return;
  auto actor = std::make_unique<agents::ValueGuidedActor>(policy, *value, env, g, seed);
  const agents::ValueGuidedActor* guided = actor.get();
  return {.actor = std::move(actor),
          .env_steps_per_decision =
              [guided] {
                return 1.0 + static_cast<double>(guided->simulated_steps()) /
                                 static_cast<double>(std::max<int64_t>(1, guided->decisions()));
              },
          .keep_alive = value};
}

}  // namespace

AlgoEntry oreo_algo() {
  return {.name = "oreo",
          .summary = "OREO: soft-Bellman policy and value from a dataset, from a behaviour-cloning reference",
          .section = algo_section<S>(schema(), finish),
          .build = build,
          .data_parallel = true,
          .value_guided = value_guided};
}

}  // namespace softrl::apps
