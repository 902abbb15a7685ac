// Offline data: collection, the Minari-layout HDF5 files (C++ and h5py), preference views, and
// behaviour cloning (plain and filtered) learning from collected data.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/bc/behaviour_cloning.h"
#include "agents/loops/collector.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/collect_config.h"
#include "apps/run/run.h"
#include "data/hdf5_dataset.h"
#include "data/preferences.h"
#include "envs/registry.h"
#include "envs/rollout.h"
#include "tests/shell.h"

using namespace softrl;
namespace fs = std::filesystem;
using Kind = agents::BehaviourSource::Kind;

namespace {

fs::path data_dir(const std::string& name) { return testing::fresh_dir("softrl_data_" + name); }

agents::CollectSettings settings(const std::string& env, int64_t start_seeds, int64_t group_size,
                                 std::vector<agents::BehaviourSource> sources) {
  agents::CollectSettings s;
  s.env_id = env;
  s.start_seeds = start_seeds;
  s.group_size = group_size;
  s.sources = std::move(sources);
  s.n_envs = 8;
  s.threads = 2;
  s.seed = 7;
  s.dataset_id = "test-" + env;
  s.config_yaml = "test: true\n";
  return s;
}

data::Dataset collect_all(const agents::CollectSettings& s) {
  return agents::collect(s, [](const agents::CollectProgress&) { return true; });
}

// Equal elements, NaN equal to NaN, same shape and dtype.
bool same(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  if (!a.is_floating_point()) return torch::equal(a, b);
  return ((a == b) | (torch::isnan(a) & torch::isnan(b))).all().item<bool>();
}

void require_same(const data::Dataset& a, const data::Dataset& b) {
  CHECK(a.id == b.id);
  CHECK(a.env_id == b.env_id);
  CHECK(a.env_options == b.env_options);
  CHECK(a.group_size == b.group_size);
  CHECK(a.group_seeds == b.group_seeds);
  CHECK(a.collection_config == b.collection_config);
  REQUIRE(a.sources.size() == b.sources.size());
  for (size_t i = 0; i < a.sources.size(); ++i) {
    CHECK(a.sources[i].kind == b.sources[i].kind);
    CHECK(a.sources[i].description == b.sources[i].description);
    CHECK(a.sources[i].weight == b.sources[i].weight);
  }
  CHECK(same(a.observations, b.observations));
  CHECK(same(a.actions, b.actions));
  CHECK(same(a.pre_tanh_actions, b.pre_tanh_actions));
  CHECK(same(a.rewards, b.rewards));
  CHECK(same(a.terminations, b.terminations));
  CHECK(same(a.truncations, b.truncations));
  CHECK(same(a.behaviour_log_prob, b.behaviour_log_prob));
  CHECK(same(a.step_source, b.step_source));
  CHECK(same(a.final_observations, b.final_observations));
  CHECK(same(a.episode_start, b.episode_start));
  CHECK(same(a.episode_seed, b.episode_seed));
  CHECK(same(a.episode_group, b.episode_group));
  CHECK(same(a.episode_source, b.episode_source));
  CHECK(same(a.episode_return, b.episode_return));
}

std::string read_bytes(const fs::path& p) { return softrl::testing::read_text(p); }

agents::BehaviourSource heuristic(double epsilon, double weight = 1.0, double noise = 0.0) {
  return {.kind = Kind::heuristic, .weight = weight, .epsilon = epsilon, .noise_std = noise};
}
agents::BehaviourSource random_source(double weight = 1.0) { return {.kind = Kind::random, .weight = weight}; }

std::shared_ptr<agents::PolicyHead> fresh_policy(const std::string& env, uint64_t seed) {
  torch::manual_seed(seed);
  return std::make_shared<agents::PolicyHead>(
      agents::PolicySpec::for_env(envs::make_env(env)->spec(), std::vector<int64_t>{32, 32}));
}

// A continuous mixture with a sampled policy (tanh-Gaussian, T = 1.5), noisy heuristic and random play.
agents::CollectSettings continuous_mixture() {
  agents::BehaviourSource pol{.kind = Kind::policy, .weight = 2.0, .policy_path = "fresh", .temperature = 1.5};
  pol.policy = fresh_policy("LunarLanderContinuous-v3", 3);
  return settings("LunarLanderContinuous-v3", 4, 3, {pol, heuristic(0.1, 1.0, 0.3), random_source(1.0)});
}

}  // namespace

TEST_CASE("a collected dataset survives C++ -> HDF5 -> C++ unchanged", "[data]") {
  const fs::path dir = data_dir("roundtrip");
  for (const agents::CollectSettings& s :
       {settings("LunarLander-v3", 5, 3, {heuristic(0.0, 2.0), heuristic(0.2), random_source()}),
        continuous_mixture()}) {
    const data::Dataset d = collect_all(s);
    REQUIRE(d.num_episodes() == s.start_seeds * s.group_size);
    const fs::path file = dir / (s.env_id + ".hdf5");
    data::write_dataset(file.string(), d);
    require_same(d, data::read_dataset(file.string(), envs::make_env(s.env_id)->spec()));
    // Nothing but the dataset is left in the directory (the write went through a renamed temporary).
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) ==
          (s.env_id == "LunarLander-v3" ? 1 : 2));
  }
  // Env options, booleans included (Gymnasium's kwargs: "enable_wind": true), come back as written.
  agents::CollectSettings windy = settings("LunarLander-v3", 2, 2, {heuristic(0.1)});
  windy.env_options = {{"enable_wind", 1.0}, {"wind_power", 10.0}};
  const data::Dataset w = collect_all(windy);
  data::write_dataset((dir / "windy.hdf5").string(), w);
  const data::Dataset back =
      data::read_dataset((dir / "windy.hdf5").string(), envs::make_env("LunarLander-v3")->spec());
  CHECK(back.env_options == windy.env_options);
  require_same(w, back);
  fs::remove_all(dir);
}

TEST_CASE("behaviour log-probabilities and pre-tanh actions are the behaviour's", "[data]") {
  SECTION("discrete: the epsilon-heuristic mixture's and uniform play's probabilities") {
    const double eps = 0.2;
    const data::Dataset d = collect_all(settings("LunarLander-v3", 4, 2, {heuristic(eps), random_source()}));
    const auto lp = d.behaviour_log_prob.accessor<double, 1>();
    const auto src = d.step_source.accessor<int64_t, 1>();
    int64_t greedy = 0, explored = 0;
    for (int64_t k = 0; k < d.num_steps(); ++k) {
      if (src[k] == 1) {
        CHECK(lp[k] == std::log(0.25));
        continue;
      }
      // (1 - eps) [a = heuristic] + eps / 4: either the heuristic's action or another one.
      const bool g = lp[k] == std::log(1 - eps + eps / 4), o = lp[k] == std::log(eps / 4);
      CHECK((g || o));
      greedy += g, explored += o;
    }
    CHECK(greedy > 0);
    CHECK(explored > 0);
  }
  SECTION("continuous: a = tanh(u) and log pi(a) = log N(u; mean, (std T)^2) - log(1 - tanh(u)^2)") {
    const agents::CollectSettings s = continuous_mixture();
    const data::Dataset d = collect_all(s);
    const torch::Tensor pol = d.step_source == 0;
    REQUIRE(pol.sum().item<int64_t>() > 50);
    const torch::Tensor u = d.pre_tanh_actions.index({pol}).to(torch::kFloat64);
    const torch::Tensor a = d.actions.index({pol}).to(torch::kFloat64);
    // float32 storage of u and a: a few float32 rounding steps of |a| <= 1.
    CHECK((torch::tanh(u) - a).abs().max().item<double>() < 3e-7);
    // Float64 reference from the policy's own distribution (T = 1.5).
    const auto dist = s.sources[0].policy->distribution(d.observations.index({pol}));
    const torch::Tensor m = dist.mean.to(torch::kFloat64), sd = dist.log_std.to(torch::kFloat64).exp() * 1.5;
    const torch::Tensor ref =
        (-0.5 * ((u - m) / sd).pow(2) - sd.log() - 0.5 * std::log(2 * M_PI) - torch::log1p(-torch::tanh(u).pow(2)))
            .sum(1);
    const torch::Tensor got = d.behaviour_log_prob.index({pol});
    // The reference reads u after float32 rounding (the collector used it before): |d logp / du| ~ 10
    // times 1e-7 relative rounding of u, plus float32 network outputs.
    CHECK(((got - ref).abs() / (1 + ref.abs())).max().item<double>() < 1e-5);
    // Other sources have no pre-tanh action; the clipped noisy heuristic has no density.
    CHECK(torch::isnan(d.pre_tanh_actions.index({~pol})).all().item<bool>());
    CHECK(torch::isnan(d.behaviour_log_prob.index({d.step_source == 1})).all().item<bool>());
    CHECK((d.behaviour_log_prob.index({d.step_source == 2}) == -2 * std::log(2.0)).all().item<bool>());
  }
}

TEST_CASE("same config and seed give byte-identical files; env and thread counts do not change the data", "[data]") {
  const fs::path dir = data_dir("determinism");
  const agents::CollectSettings s = continuous_mixture();
  data::write_dataset((dir / "a.hdf5").string(), collect_all(s));
  data::write_dataset((dir / "b.hdf5").string(), collect_all(s));
  CHECK(read_bytes(dir / "a.hdf5") == read_bytes(dir / "b.hdf5"));
  agents::CollectSettings other = settings("LunarLander-v3", 6, 2, {heuristic(0.1), random_source()});
  const data::Dataset x = collect_all(other);
  other.n_envs = 3, other.threads = 1;
  require_same(x, collect_all(other));
  other.seed += 1;  // another seed: other behaviour draws
  CHECK_FALSE(same(x.actions, collect_all(other).actions));
  fs::remove_all(dir);
}

TEST_CASE("the episodes of a group start from one state; groups start from different ones", "[data]") {
  const data::Dataset d = collect_all(settings("LunarLander-v3", 5, 4, {heuristic(0.3), random_source()}));
  const auto start = d.episode_start.accessor<int64_t, 1>();
  for (int64_t e = 0; e < d.num_episodes(); ++e) {
    const int64_t g = d.episode_group[e].item<int64_t>();
    CHECK(g == e / 4);
    CHECK(d.episode_seed[e].item<int64_t>() == d.group_seeds[g]);
    const torch::Tensor first = d.observations[start[e]], group_first = d.observations[start[g * 4]];
    CHECK(torch::equal(first, group_first));
    if (g > 0) CHECK_FALSE(torch::equal(first, d.observations[start[0]]));
  }
  // The members still play differently (a spread of returns within a group).
  CHECK((d.episode_return.reshape({5, 4}).amax(1) - d.episode_return.reshape({5, 4}).amin(1)).min().item<double>() > 0);
}

namespace {
// What the C++ side knows of each episode, for the h5py check (NaN written as JSON's NaN token,
// which Python's json reads).
std::string expected_json(const data::Dataset& d) {
  const auto num = [](double v) {
    if (std::isnan(v)) return std::string("NaN");
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return std::string(b);
  };
  const auto row = [&](const torch::Tensor& t) {
    std::string s = "[";
    const torch::Tensor x = t.to(torch::kFloat64).reshape({-1}).contiguous();
    for (int64_t i = 0; i < x.numel(); ++i) s += (i ? ", " : "") + num(x[i].item<double>());
    return s + "]";
  };
  std::ostringstream o;
  o << "{\"episodes\": " << d.num_episodes() << ", \"steps\": " << d.num_steps() << ", \"dataset_id\": \"" << d.id
    << "\", \"env\": \"" << d.env_id << "\", \"max_episode_steps\": " << d.env_spec.max_episode_steps
    << ", \"obs_dim\": " << d.obs_dim() << ", \"act_dim\": " << d.act_dim()
    << ", \"discrete\": " << (d.discrete() ? "true" : "false") << ", \"source_kinds\": [";
  for (size_t i = 0; i < d.sources.size(); ++i) o << (i ? ", " : "") << "\"" << d.sources[i].kind << "\"";
  o << "], \"group_seeds\": [";
  for (size_t i = 0; i < d.group_seeds.size(); ++i) o << (i ? ", " : "") << d.group_seeds[i];
  o << "], \"per_episode\": [";
  const auto st = d.episode_start.accessor<int64_t, 1>();
  for (int64_t e = 0; e < d.num_episodes(); ++e) {
    o << (e ? ", " : "") << "{\"length\": " << st[e + 1] - st[e] << ", \"seed\": " << d.episode_seed[e].item<int64_t>()
      << ", \"group\": " << d.episode_group[e].item<int64_t>()
      << ", \"source\": " << d.episode_source[e].item<int64_t>()
      << ", \"return\": " << num(d.episode_return[e].item<double>())
      << ", \"first_obs\": " << row(d.observations[st[e]]) << ", \"final_obs\": " << row(d.final_observations[e])
      << ", \"first_action\": " << row(d.actions[st[e]])
      << ", \"log_prob\": " << row(d.behaviour_log_prob.narrow(0, st[e], st[e + 1] - st[e])) << "}";
  }
  o << "]}";
  return o.str();
}
}  // namespace

TEST_CASE("h5py opens a softrl dataset and finds the layout, dtypes and values C++ wrote", "[data][h5py]") {
  const fs::path dir = data_dir("h5py");
  for (const agents::CollectSettings& s :
       {settings("LunarLander-v3", 3, 2, {heuristic(0.2), random_source()}), continuous_mixture()}) {
    const data::Dataset d = collect_all(s);
    const fs::path file = dir / "d.hdf5", expected = dir / "expected.json";
    data::write_dataset(file.string(), d);
    std::ofstream(expected) << expected_json(d);
    const std::string cmd = "/usr/bin/python3 " + std::string(SOFTRL_TESTS) + "/check_dataset_h5py.py " +
                            file.string() + " " + expected.string() + " 2>&1";
    INFO(cmd);
    CHECK(std::system(cmd.c_str()) == 0);
  }
  fs::remove_all(dir);
}

namespace {
// Writes a copy of `good` changed by a Python h5py snippet (`f` is the open file).
fs::path crafted(const fs::path& good, const std::string& name, const std::string& python) {
  const fs::path out = good.parent_path() / (name + ".hdf5");
  fs::copy_file(good, out, fs::copy_options::overwrite_existing);
  const std::string cmd = "/usr/bin/python3 -c \"import h5py, numpy as np\nwith h5py.File('" + out.string() +
                          "', 'r+') as f:\n    " + python + "\"";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return out;
}

std::string refusal(const fs::path& file, const std::optional<envs::EnvSpec>& env = std::nullopt) {
  try {
    data::read_dataset(file.string(), env);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}
}  // namespace

TEST_CASE("malformed, truncated and mismatched datasets are refused with the file named", "[data]") {
  const fs::path dir = data_dir("malformed");
  const fs::path good = dir / "good.hdf5";
  data::write_dataset(good.string(), collect_all(settings("LunarLander-v3", 2, 2, {heuristic(0.1)})));
  REQUIRE(refusal(good) == "(accepted)");
  std::ofstream(dir / "text.hdf5") << "env: {id: LunarLander-v3}\n";
  const std::string bytes = read_bytes(good);
  std::ofstream(dir / "truncated.hdf5", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {dir / "missing.hdf5", "no such dataset file (resolved to "},
      {dir / "text.hdf5", "not an HDF5 file"},
      {dir / "truncated.hdf5", "truncated or corrupt"},
      {crafted(good, "version", "f.attrs['softrl_format_version'] = 2"), "format version 2"},
      {crafted(good, "no_rewards", "del f['episode_1/rewards']"), "episode_1: missing dataset 'rewards'"},
      {crafted(good, "nan_reward", "f['episode_0/rewards'][3] = np.nan"), "rewards hold NaN"},
      {crafted(good, "inf_obs", "f['episode_1/observations'][2, 1] = np.inf"), "observations hold NaN"},
      {crafted(good, "shape", "del f['episode_0/actions']; f['episode_0/actions'] = np.zeros((3, 2), np.int64)"),
       "'actions' has shape (3, 2)"},
      {crafted(good, "empty", "f.attrs['total_episodes'] = 0"), "empty"},
      {crafted(good, "other_layout", "del f.attrs['total_steps']"), "missing attribute 'total_steps'"},
      {crafted(good, "bad_json", "f.attrs['env_spec'] = '{\\\"id\\\": '"), "env_spec"},
      {crafted(good, "unknown_env", "f.attrs['env_spec'] = '{\\\"id\\\": \\\"CartPole-v1\\\"}'"), "CartPole-v1"},
      // Crafted metadata: wrong JSON types, declared sizes the file does not hold.
      {crafted(good, "n_string",
               "f.attrs['action_space'] = '{\\\"type\\\": \\\"Discrete\\\", \\\"n\\\": \\\"four\\\"}'"),
       "attribute 'action_space' n: expected a number, got 'four'"},
      {crafted(good, "weight_string",
               "f.attrs['softrl_sources'] = '[{\\\"kind\\\": \\\"heuristic\\\", \\\"weight\\\": \\\"heavy\\\"}]'"),
       "attribute 'softrl_sources' weight: expected a number, got 'heavy'"},
      {crafted(good, "no_id", "f.attrs['env_spec'] = '{\\\"entry_point\\\": \\\"x\\\"}'"),
       "attribute 'env_spec' has no id"},
      {crafted(good, "huge_episode", "f['episode_0'].attrs['total_steps'] = 2**62"),
       "episode_0: total_steps must be in [1, 2^40], got 4611686018427387904"},
      {crafted(good, "no_storage",
               "t = int(f['episode_0'].attrs['total_steps']); del f['episode_0/observations']; "
               "f.create_dataset('episode_0/observations', shape=(t + 1, 8), dtype='f4')"),
       "episode_0: 'observations' declares"},
  };
  for (const auto& [file, phrase] : cases) {
    const std::string msg = refusal(file);
    INFO(file.string() << ": " << msg);
    CHECK(msg.rfind(file.string() + ": ", 0) == 0);
    CHECK(msg.find(phrase) != std::string::npos);
  }
  // A source without a description (optional) is fine.
  CHECK(refusal(crafted(good, "no_description", "f.attrs['softrl_sources'] = '[{\\\"kind\\\": \\\"random\\\"}]'")) ==
        "(accepted)");
  // Another task than the run's.
  const std::string msg = refusal(good, envs::make_env("LunarLanderContinuous-v3")->spec());
  CHECK(msg.find("collected on LunarLander-v3, the run is on LunarLanderContinuous-v3") != std::string::npos);
  fs::remove_all(dir);
}

namespace {
// A hand-made dataset: groups of episodes with the given rewards (observations zero).
data::Dataset synthetic(const std::vector<std::vector<std::vector<double>>>& groups) {
  data::Dataset d;
  d.id = "synthetic";
  d.env_id = "LunarLander-v3";
  d.env_spec = envs::make_env(d.env_id)->spec();
  d.sources = {{"heuristic", "", 1.0}};
  d.group_size = static_cast<int64_t>(groups.front().size());
  std::vector<int64_t> lengths;
  for (const auto& g : groups)
    for (const auto& ep : g) lengths.push_back(static_cast<int64_t>(ep.size()));
  data::allocate(d, lengths);
  d.observations.zero_();
  d.final_observations.zero_();
  int64_t e = 0, k = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    d.group_seeds.push_back(static_cast<int64_t>(g));
    for (const auto& ep : groups[g]) {
      double sum = 0;
      for (double r : ep) d.rewards[k++] = r, sum += r;
      d.episode_group[e] = static_cast<int64_t>(g);
      d.episode_return[e++] = sum;
    }
  }
  return d;
}
}  // namespace

TEST_CASE("preference labels against hand-computed cases", "[data][preferences]") {
  // Group 0: returns 3, 1, 3 (a tie); group 1: returns -2, 5, 0.
  const data::Dataset d = synthetic({{{1, 2}, {1}, {0, 3}}, {{-1, -1}, {2, 3}, {0}}});
  using S = data::PreferenceSettings;
  SECTION("hard labels: the winner, ties at one half; listwise: uniform over the maxima") {
    const data::PreferenceView v = data::build_preferences(d, {});
    REQUIRE(v.train.groups.size() == 2);
    REQUIRE(v.holdout.groups.empty());
    REQUIRE(v.train.pairs.size() == 6);
    const std::vector<double> q = {1.0, 0.5, 0.0, 0.0, 0.0, 1.0};  // (0,1) (0,2) (1,2) (3,4) (3,5) (4,5)
    for (size_t p = 0; p < 6; ++p) CHECK(v.train.pairs[p].q == q[p]);
    CHECK(v.train.pairs[3].i == 3);
    CHECK(v.train.pairs[3].j == 4);
    CHECK(v.train.groups[0].target == std::vector<double>{0.5, 0.0, 0.5});
    CHECK(v.train.groups[1].target == std::vector<double>{0.0, 1.0, 0.0});
    CHECK(v.train.groups[0].best == 0);  // the first of the tied best
    CHECK(v.train.groups[1].best == 1);
  }
  SECTION("soft labels: sigmoid((Ri - Rj) / T) and softmax(z(R) / beta)") {
    const data::PreferenceView v =
        data::build_preferences(d, {.label = S::Label::soft, .pair_temperature = 2.0, .list_temperature = 0.5});
    const auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
    const std::vector<double> q = {sig(1.0), 0.5, sig(-1.0), sig(-3.5), sig(-1.0), sig(2.5)};
    for (size_t p = 0; p < 6; ++p) CHECK(v.train.pairs[p].q == Approx(q[p]).epsilon(1e-15));
    // Group 1: R = (-2, 5, 0), mean 1, population sd sqrt(26/3); q = softmax(z / 0.5).
    const double sd = std::sqrt(26.0 / 3.0);
    std::vector<double> z = {-3 / sd / 0.5, 4 / sd / 0.5, -1 / sd / 0.5}, want(3);
    double norm = 0;
    for (double x : z) norm += std::exp(x);
    for (int i = 0; i < 3; ++i) CHECK(v.train.groups[1].target[i] == Approx(std::exp(z[i]) / norm).epsilon(1e-15));
  }
  SECTION("segments: the first H steps of each candidate") {
    const data::PreferenceView v = data::build_preferences(d, {.segment_steps = 1});
    CHECK(v.candidates[0].true_return == 1.0);
    CHECK(v.candidates[0].end - v.candidates[0].begin == 1);
    CHECK(v.candidates[4].true_return == 2.0);
    CHECK(v.train.pairs[3].q == 0.0);  // -1 vs 2
  }
  SECTION("flips: probability 1 reverses every label, 0 changes none") {
    const data::PreferenceView clean = data::build_preferences(d, {.label = S::Label::soft});
    const data::PreferenceView all =
        data::build_preferences(d, {.label = S::Label::soft, .noise = S::Noise::flip, .flip_probability = 1.0});
    const data::PreferenceView none =
        data::build_preferences(d, {.label = S::Label::soft, .noise = S::Noise::flip, .flip_probability = 0.0});
    for (size_t p = 0; p < 6; ++p) {
      CHECK(all.train.pairs[p].q == Approx(1 - clean.train.pairs[p].q).epsilon(1e-15));
      CHECK(none.train.pairs[p].q == clean.train.pairs[p].q);
    }
    CHECK(all.train.groups[1].reversed);
    CHECK(all.train.groups[1].target[0] > all.train.groups[1].target[2]);  // -2 now ranks first
    CHECK(all.train.groups[1].best == 1);                                  // the truth is unchanged
  }
  SECTION("a held-out group keeps clean labels under noise") {
    const data::PreferenceView v = data::build_preferences(
        d, {.noise = S::Noise::flip, .flip_probability = 1.0, .holdout_fraction = 0.5, .seed = 3});
    REQUIRE(v.train.groups.size() == 1);
    REQUIRE(v.holdout.groups.size() == 1);
    for (const auto& p : v.holdout.pairs) {
      const double dr = v.candidates[p.i].true_return - v.candidates[p.j].true_return;
      CHECK(p.q == (dr > 0 ? 1.0 : dr < 0 ? 0.0 : 0.5));
    }
    for (const auto& p : v.train.pairs) {
      const double dr = v.candidates[p.i].true_return - v.candidates[p.j].true_return;
      CHECK(p.q == (dr > 0 ? 0.0 : dr < 0 ? 1.0 : 0.5));
    }
  }
  SECTION("groups of one episode are refused") {
    CHECK_THROWS_AS(data::build_preferences(synthetic({{{1}}, {{2}}}), {}), InputError);
  }
}

TEST_CASE("noise models have their distributions and are deterministic given the seed", "[data][preferences]") {
  // 3000 groups of 2 candidates with returns 0: label_return is the noise itself.
  std::vector<std::vector<std::vector<double>>> groups(3000, {{0.0}, {0.0}});
  const data::Dataset d = synthetic(groups);
  using S = data::PreferenceSettings;
  const auto noise = [&](const S& s) {
    std::vector<double> x;
    for (const auto& c : data::build_preferences(d, s).candidates) x.push_back(c.label_return);
    return x;
  };
  const double n = 6000;
  SECTION("Gaussian: mean 0 and sd sigma (within 4 standard errors), outliers at their rate") {
    const std::vector<double> x = noise({.noise = S::Noise::gaussian, .noise_scale = 10.0, .seed = 1});
    double m = 0, v = 0;
    for (double e : x) m += e / n;
    for (double e : x) v += (e - m) * (e - m) / (n - 1);
    CHECK(std::abs(m) < 4 * 10 / std::sqrt(n));
    CHECK(std::abs(std::sqrt(v) - 10) < 4 * 10 / std::sqrt(2 * n));
    const std::vector<double> y = noise(
        {.noise = S::Noise::gaussian, .noise_scale = 1.0, .outlier_fraction = 0.1, .outlier_scale = 1000, .seed = 1});
    const double share = std::count_if(y.begin(), y.end(), [](double e) { return std::abs(e) > 100; }) / n;
    // P(|N(0, 1000^2)| > 100) = 0.920: expected share 0.092, standard error 0.0037.
    CHECK(std::abs(share - 0.092) < 4 * 0.0037);
  }
  SECTION("Cauchy: the median of |noise| is the scale") {
    std::vector<double> x = noise({.noise = S::Noise::cauchy, .noise_scale = 5.0, .seed = 2});
    for (double& e : x) e = std::abs(e);
    std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
    // The sample median's standard error: pi * scale / (2 sqrt(n)) = 0.10.
    CHECK(std::abs(x[x.size() / 2] - 5.0) < 4 * M_PI * 5 / (2 * std::sqrt(n)));
  }
  SECTION("the same seed gives the same view, another seed another one") {
    const S s{.noise = S::Noise::cauchy, .noise_scale = 5.0, .holdout_fraction = 0.2, .seed = 4};
    CHECK(noise(s) == noise(s));
    S t = s;
    t.seed = 5;
    CHECK(noise(s) != noise(t));
  }
}

namespace {
// Trains `algo: bc` on `dataset` through the run driver; returns the final evaluation's mean.
double bc_return(const fs::path& dir, const fs::path& dataset, uint64_t seed, const std::string& filter = "") {
  const std::string yaml = "env: {id: LunarLander-v3}\nalgo: bc\ntotal_steps: 200000\nseed: " + std::to_string(seed) +
                           "\neval: {every: 0, episodes: 50}\ncheckpoint: {every: 0}\nlog: {every: 50000}\n"
                           "bc: {dataset: " +
                           dataset.string() + ", net_arch: [64, 64], batch_size: 64, learning_rate: 0.001" +
                           (filter.empty() ? "" : ", filter: " + filter) + "}\n";
  std::ostringstream out;
  const fs::path run = dir / ("run" + std::to_string(seed) + (filter.empty() ? "" : "f"));
  const apps::RunResult r = apps::start_run(apps::parse_config(yaml, "bc.yaml"), run, {.progress = false}, out);
  REQUIRE(r.status == apps::RunResult::Status::finished);
  return r.final_eval.mean;
}
}  // namespace

TEST_CASE("behaviour cloning of the heuristic reaches 90% of its return on LunarLander-v3", "[data][bc]") {
  const fs::path dir = data_dir("bc");
  const fs::path file = dir / "heuristic.hdf5";
  data::write_dataset(file.string(), collect_all(settings("LunarLander-v3", 100, 1, {heuristic(0.0)})));
  auto env = envs::make_env("LunarLander-v3");
  auto h = envs::make_heuristic("LunarLander-v3");
  const double heuristic_mean = envs::evaluate(*env, *h, 50, envs::kEvalSeedBase).mean;
  // Recorded (100 demonstrations, 200k transitions, 50 evaluation episodes; heuristic 207.5 on
  // these seeds): seeds 0-4 gave 228, 258, 249, 247, 204 (sd 21). Their mean is 2.4 sd above 90%.
  double sum = 0;
  for (uint64_t seed = 0; seed < 5; ++seed) sum += bc_return(dir, file, seed);
  INFO("heuristic " << heuristic_mean << ", BC mean over 5 seeds " << sum / 5);
  CHECK(sum / 5 >= 0.9 * heuristic_mean);

  // The trained policy as a collection source, by its run directory (load_policy): deterministic
  // discrete play has probability 1; sampled play at T = 0.5 records log-probabilities below 0.
  std::ofstream(dir / "collect.yaml") << "env: {id: LunarLander-v3}\nstart_seeds: 2\ngroup_size: 2\nsources:\n"
                                         "  - {kind: policy, path: "
                                      << (dir / "run0").string() << ", deterministic: true}\n";
  const data::Dataset greedy = collect_all(apps::load_collect_config((dir / "collect.yaml").string()));
  CHECK((greedy.behaviour_log_prob == 0).all().item<bool>());
  CHECK(greedy.sources[0].kind == "policy");
  const data::Dataset sampled = collect_all(apps::load_collect_config(
      (dir / "collect.yaml").string(), {"sources[0].deterministic=false", "sources[0].temperature=0.5"}));
  CHECK((sampled.behaviour_log_prob <= 0).all().item<bool>());
  CHECK((sampled.behaviour_log_prob < 0).any().item<bool>());
  fs::remove_all(dir);
}

TEST_CASE("filtered BC beats plain BC on a mixed-quality dataset", "[data][bc]") {
  const fs::path dir = data_dir("filtered");
  const fs::path file = dir / "mixed.hdf5";
  data::write_dataset(
      file.string(),
      collect_all(settings("LunarLander-v3", 100, 4, {heuristic(0.0, 0.3), heuristic(0.3, 0.3), random_source(0.4)})));
  // Recorded, 50 evaluation episodes: on this collection (seed 7), learner seeds 0-2: plain 60, -17,
  // -21; top 25 %: 241, 244, 209. On the same mixture collected with seed 0, seeds 0-4: plain 145,
  // 107, 26, 162, -17; top 25 %: 227, 216, 238, 250, 224. The smallest gap of one seed was 65; the
  // mean gap over 3 seeds has a spread of ~40 around ~150-210.
  double plain = 0, filtered = 0;
  for (uint64_t seed = 0; seed < 3; ++seed) {
    plain += bc_return(dir, file, seed) / 3;
    filtered += bc_return(dir, file, seed, "{top_fraction: 0.25}") / 3;
  }
  INFO("plain " << plain << ", filtered " << filtered);
  CHECK(filtered - plain > 50);
  CHECK(filtered > 180);
  fs::remove_all(dir);
}
