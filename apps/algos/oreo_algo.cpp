#include "apps/algos/oreo_algo.h"

#include <algorithm>

#include "agents/collector.h"
#include "agents/offline_loop.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

using Reward = agents::OreoSettings::Reward;

std::shared_ptr<const AlgoSettings> parse(const ConfigReader& r, const YAML::Node& s, const RunConfig&) {
  auto o = std::make_shared<OreoAlgoSettings>();
  if (!s.IsDefined() || s.IsNull() || !s["dataset"].IsDefined())
    r.fail_msg("oreo.dataset", "missing; expected the path of a dataset written by softrl collect");
  o->dataset = r.text(s["dataset"], "oreo.dataset", "a dataset path");
  o->reference = parse_reference(r, s["reference"], "oreo");
  auto& c = o->oreo;
  if (s["beta"].IsDefined()) c.loss.beta = r.real(s["beta"], "oreo.beta", 0.0, 1e6, true);
  if (s["gamma"].IsDefined()) c.loss.gamma = r.real(s["gamma"], "oreo.gamma", 0.0, 1.0, true);
  if (s["clip_log"].IsDefined() && !s["clip_log"].IsNull()) c.loss.clip_log = r.real(s["clip_log"], "oreo.clip_log", 0.0, 1e12, true);
  if (s["kl_coef"].IsDefined()) c.loss.kl_coef = r.real(s["kl_coef"], "oreo.kl_coef", 0.0, 1e6);
  if (s["kl"].IsDefined()) {
    const std::string k = r.text(s["kl"], "oreo.kl", "exact, k3 or none");
    if (k == "exact") c.loss.kl_mode = oreo::KlMode::exact;
    else if (k == "k3") c.loss.kl_mode = oreo::KlMode::k3;
    else if (k == "none") c.loss.kl_mode = oreo::KlMode::none;
    else r.fail_msg("oreo.kl", "expected exact, k3 or none, got '" + k + "'");
  }
  if (s["chunk"].IsDefined()) c.chunk = r.integer(s["chunk"], "oreo.chunk", 1, 1000);
  if (s["reward"].IsDefined()) {
    const std::string k = r.text(s["reward"], "oreo.reward", "dense or sparse");
    if (k == "dense") c.reward = Reward::dense;
    else if (k == "sparse") c.reward = Reward::sparse;
    else r.fail_msg("oreo.reward", "expected dense or sparse, got '" + k + "'");
  }
  if (s["reward_scale"].IsDefined()) c.reward_scale = r.real(s["reward_scale"], "oreo.reward_scale", 0.0, 1e12, true);
  if (s["success_return"].IsDefined()) c.success_return = r.real(s["success_return"], "oreo.success_return", -1e12, 1e12);
  if (s["time_feature"].IsDefined()) c.time_feature = r.boolean(s["time_feature"], "oreo.time_feature");
  if (s["value_net_arch"].IsDefined()) c.value_arch = parse_net_arch(r, s["value_net_arch"], "oreo.value_net_arch");
  if (s["learning_rate"].IsDefined())
    o->learning_rate = parse_learning_rate(r, s["learning_rate"], "oreo.learning_rate", &o->learning_rate_text);
  c.policy_learning_rate = o->learning_rate.initial;
  if (s["value_learning_rate"].IsDefined())
    c.value_learning_rate = r.real(s["value_learning_rate"], "oreo.value_learning_rate", 0.0, 1.0, true);
  if (s["max_grad_norm"].IsDefined()) c.max_grad_norm = r.real(s["max_grad_norm"], "oreo.max_grad_norm", 0.0, 1e12, true);
  if (s["batch_episodes"].IsDefined()) o->batch_episodes = r.integer(s["batch_episodes"], "oreo.batch_episodes", 1, 1 << 20);
  if (s["rounds"].IsDefined()) o->rounds = static_cast<int>(r.integer(s["rounds"], "oreo.rounds", 1, 100));
  if (const YAML::Node rc = s["round_collection"]; rc.IsDefined() && !rc.IsNull()) {
    r.check_keys(rc, "oreo.round_collection", {"start_seeds", "group_size", "temperature"});
    if (rc["start_seeds"].IsDefined()) o->round_start_seeds = r.integer(rc["start_seeds"], "oreo.round_collection.start_seeds", 0, 1 << 24);
    if (rc["group_size"].IsDefined()) o->round_group_size = r.integer(rc["group_size"], "oreo.round_collection.group_size", 0, 1 << 16);
    if (rc["temperature"].IsDefined())
      o->round_temperature = r.real(rc["temperature"], "oreo.round_collection.temperature", 0.0, 100.0, true);
  }
  return o;
}

const char* kl_name(oreo::KlMode m) {
  return m == oreo::KlMode::exact ? "exact" : m == oreo::KlMode::k3 ? "k3" : "none";
}

void write(YAML::Emitter& e, const AlgoSettings& settings) {
  const auto& s = dynamic_cast<const OreoAlgoSettings&>(settings);
  const auto& c = s.oreo;
  e << YAML::Key << "dataset" << YAML::Value << s.dataset;
  write_reference(e, s.reference);
  e << YAML::Key << "beta" << YAML::Value << c.loss.beta;
  e << YAML::Key << "gamma" << YAML::Value << c.loss.gamma;
  e << YAML::Key << "clip_log" << YAML::Value;
  if (c.loss.clip_log) e << *c.loss.clip_log; else e << YAML::Null;
  e << YAML::Key << "kl_coef" << YAML::Value << c.loss.kl_coef;
  e << YAML::Key << "kl" << YAML::Value << kl_name(c.loss.kl_mode);
  e << YAML::Key << "chunk" << YAML::Value << c.chunk;
  e << YAML::Key << "reward" << YAML::Value << (c.reward == Reward::dense ? "dense" : "sparse");
  e << YAML::Key << "reward_scale" << YAML::Value << c.reward_scale;
  e << YAML::Key << "success_return" << YAML::Value << c.success_return;
  e << YAML::Key << "time_feature" << YAML::Value << c.time_feature;
  e << YAML::Key << "value_net_arch" << YAML::Value << YAML::Flow << c.value_arch;
  e << YAML::Key << "learning_rate" << YAML::Value << s.learning_rate_text;
  e << YAML::Key << "value_learning_rate" << YAML::Value << c.value_learning_rate;
  e << YAML::Key << "max_grad_norm" << YAML::Value << c.max_grad_norm;
  e << YAML::Key << "batch_episodes" << YAML::Value << s.batch_episodes;
  e << YAML::Key << "rounds" << YAML::Value << s.rounds;
  e << YAML::Key << "round_collection" << YAML::Value << YAML::BeginMap << YAML::Key << "start_seeds" << YAML::Value
    << s.round_start_seeds << YAML::Key << "group_size" << YAML::Value << s.round_group_size << YAML::Key
    << "temperature" << YAML::Value << s.round_temperature << YAML::EndMap;
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
    return agents::collect(c, [](const agents::CollectProgress&) { return true; });
  };
}

agents::Training build(const RunConfig& run, const envs::EnvSpec& env) {
  const auto& s = run.settings<OreoAlgoSettings>();
  const data::Dataset d = data::read_dataset(s.dataset, env);
  const agents::ReferenceRecipe ref = reference_recipe(s.reference, env);
  auto learner = std::make_unique<agents::Oreo>(d, s.oreo, ref, run.seed,
                                                s.rounds > 1 ? round_collector(run, s, d) : agents::Oreo::RoundCollector{});
  auto loop = std::make_unique<agents::OfflineLoop>(
      *learner,
      agents::OfflineSettings{.total_steps = run.total_steps, .batch_size = s.batch_episodes,
                              .learning_rate = s.learning_rate, .rounds = s.rounds},
      run.seed);
  return {std::move(learner), std::move(loop)};
}

}  // namespace

AlgoEntry oreo_algo() {
  return {.name = "oreo",
          .summary = "OREO: soft-Bellman policy and value from a dataset, from a behaviour-cloning reference",
          .keys = {"dataset", "reference", "beta", "gamma", "clip_log", "kl_coef", "kl", "chunk", "reward", "reward_scale",
                   "success_return", "time_feature", "value_net_arch", "learning_rate", "value_learning_rate",
                   "max_grad_norm", "batch_episodes", "rounds", "round_collection"},
          .parse = parse,
          .write = write,
          .build = build};
}

}  // namespace softrl::apps
