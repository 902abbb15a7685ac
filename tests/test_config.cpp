// The config layer: every section parsed, validated and written from one schema. Mutated configs
// end in a clear error naming the file and key, or a valid config; the resolved config.yaml reads
// back to itself with floats at their shortest exact text and only the keys that apply; `softrl
// config` prints configs that `softrl train` accepts; every shipped config reads.
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "apps/algos/registry.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/collect_config.h"
#include "apps/commands/config_command.h"
#include "apps/config/run_config.h"
#include "apps/config/schema.h"
#include "apps/study/study_config.h"
#include "common/error.h"
#include "tests/run_fixtures.h"

using namespace softrl;
using namespace softrl::test;

namespace {

std::string printed_config(const std::string& algo, const std::string& env = "") {
  std::ostringstream out;
  REQUIRE(apps::run_config_command({.algo = algo, .env = env}, out) == 0);
  return out.str();
}

// The resolved config is a fixed point: written, read back, written again, the same text.
void check_round_trip(const apps::RunConfig& c) {
  const std::string text = apps::to_yaml(c);
  INFO(text);
  CHECK(apps::to_yaml(apps::parse_config(text, "resolved")) == text);
}

}  // namespace

TEST_CASE("floats are written as the shortest text that reads back to the same double", "[config]") {
  CHECK(apps::format_double(0.99) == "0.99");
  CHECK(apps::format_double(3e-4) == "3e-04");  // shorter than 0.0003
  CHECK(apps::format_double(0.1 + 0.2) == "0.30000000000000004");
  CHECK(apps::format_double(-0.5) == "-0.5");
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  for (int i = 0; i < 2000; ++i) {
    const double v = std::ldexp(mantissa(gen), static_cast<int>(gen() % 200) - 100);
    const std::string t = apps::format_double(v);
    CHECK(std::stod(t) == v);
    CHECK(t.size() <= 24);
  }
  const apps::RunConfig c = apps::parse_config(kBaseConfig, "c.yaml", {"sac.gamma=0.99", "sac.tau=0.005"});
  const std::string yaml = apps::to_yaml(c);
  CHECK(yaml.find("gamma: 0.99\n") != std::string::npos);
  CHECK(yaml.find("tau: 0.005\n") != std::string::npos);
  CHECK(yaml.find("learning_rate: lin_0.001\n") != std::string::npos);
  check_round_trip(c);
}

TEST_CASE("keys that do not apply are left out of the resolved config", "[config]") {
  // twin_q and target_entropy_scale are discrete SAC's; a continuous task's config omits them.
  const std::string continuous = apps::to_yaml(apps::parse_config(kBaseConfig, "c.yaml"));
  CHECK(continuous.find("twin_q") == std::string::npos);
  CHECK(continuous.find("target_entropy_scale") == std::string::npos);
  const apps::RunConfig d = apps::parse_config(kBaseConfig, "c.yaml", {"env.id=LunarLander-v3", "sac.twin_q=mean"});
  const std::string discrete = apps::to_yaml(d);
  CHECK(discrete.find("twin_q: mean\n") != std::string::npos);
  CHECK(discrete.find("target_entropy_scale: 0.89\n") != std::string::npos);
  check_round_trip(d);
}

TEST_CASE("the valid-keys lists come from the schema", "[config]") {
  for (const std::string& name : apps::algo_names()) {
    const apps::AlgoEntry& a = *apps::find_algo(name);
    std::string listed;
    for (const auto& k : a.section.keys) listed += (listed.empty() ? "" : ", ") + k;
    const std::string text = printed_config(name);
    INFO(name);
    CHECK_THROWS_WITH(apps::parse_config(text, "c.yaml", {name + ".no_such_key=1"}),
                      Catch::Contains("c.yaml: " + name + ".no_such_key: unknown key; valid keys here: " + listed));
    // Every documented key of the section is a key the parser takes.
    for (const apps::KeyDoc& k : a.section.document(name)) {
      const std::string first = k.path.substr(name.size() + 1, k.path.find('.', name.size() + 1) - name.size() - 1);
      CHECK(a.section.keys.count(first) == 1);
    }
  }
}

TEST_CASE("softrl config prints, for every algorithm, a config that train reads as is", "[config]") {
  for (const std::string& name : apps::algo_names()) {
    for (const std::string env : {"", "LunarLander-v3", "LunarLanderContinuous-v3"}) {
      if ((name == "distill" && env == "LunarLander-v3") || (name == "soft_grpo" && env == "BipedalWalker-v3"))
        continue;
      const std::string text = printed_config(name, env);
      INFO(name << " " << env << "\n" << text);
      const apps::RunConfig c = apps::parse_config(text, "printed.yaml");
      CHECK(c.algo == name);
      CHECK(text.find(" # ") != std::string::npos);  // commented
      check_round_trip(c);
    }
  }
  std::ostringstream out;
  CHECK_THROWS_WITH(apps::run_config_command({.algo = "ppo"}, out), Catch::Contains("unknown algorithm 'ppo'; one of"));
  CHECK_THROWS_WITH(apps::run_config_command({.algo = "sac", .env = "Pong-v5"}, out), Catch::Contains("Pong-v5"));
}

TEST_CASE("the printed SAC config trains", "[config]") {
  const fs::path dir = fresh_dir("printed_config");
  const fs::path cfg = write_config(dir, printed_config("sac"));
  CHECK(train(cfg, dir / "run",
              {"total_steps=300", "sac.learning_starts=100", "sac.batch_size=32", "eval.episodes=1",
               "sac.net_arch=[16]"}) == 0);
  CHECK(fs::exists(dir / "run" / "checkpoints" / "latest.pt"));
  fs::remove_all(dir);
}

TEST_CASE("every shipped config reads, and its resolved form reads back to itself", "[config]") {
  const fs::path configs = fs::path(SOFTRL_SOURCE) / "configs";
  int runs = 0, collects = 0, studies = 0;
  for (const auto& e : fs::recursive_directory_iterator(configs)) {
    if (e.path().extension() != ".yaml") continue;
    INFO(e.path());
    const std::string stem = e.path().stem().string();
    if (e.path().parent_path().filename() == "studies") {
      const apps::Study s = apps::load_study(e.path().string());
      CHECK(apps::study_yaml(s).find("arms:") != std::string::npos);
      ++studies;
    } else if (stem.rfind("collect_", 0) == 0) {
      const agents::CollectSettings c = apps::load_collect_config(e.path().string());
      CHECK(apps::collect_config_yaml(apps::parse_collect_config(c.config_yaml, "resolved")) == c.config_yaml);
      ++collects;
    } else {
      check_round_trip(apps::load_config(e.path().string()));
      ++runs;
    }
  }
  CHECK(runs >= 15);
  CHECK(collects >= 2);
  CHECK(studies >= 5);
}

TEST_CASE("mutated configs end in a clear error or a valid config, never a crash", "[config]") {
  std::mt19937 gen(12345);
  std::vector<std::string> lines;
  {
    std::istringstream in(kBaseConfig);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  const std::vector<std::string> junk = {"-1",
                                         "0",
                                         "1e30",
                                         "abc",
                                         "[1, 2]",
                                         "{a: 1}",
                                         "",
                                         "true",
                                         "0.5",
                                         "-0.0",
                                         "lin_",
                                         "auto_x",
                                         "nan",
                                         "\"\"",
                                         "[[]]",
                                         "1e-400",
                                         "99999999999999999999"};
  int errors = 0, valid = 0, runs = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::string> l = lines;
    const int kind = static_cast<int>(gen() % 4);
    const size_t i = gen() % l.size();
    if (kind == 0) {  // replace a value
      const auto colon = l[i].find(':');
      if (colon != std::string::npos) l[i] = l[i].substr(0, colon + 1) + " " + junk[gen() % junk.size()];
    } else if (kind == 1) {  // delete a line
      l.erase(l.begin() + static_cast<long>(i));
    } else if (kind == 2) {  // unknown key at the same indentation
      const size_t ind = l[i].find_first_not_of(' ');
      l.insert(l.begin() + static_cast<long>(i), std::string(ind == std::string::npos ? 0 : ind, ' ') + "bogus_key: 1");
    } else {  // break the syntax
      l[i] += gen() % 2 ? " : :" : "\t[";
    }
    std::string text;
    for (const auto& s : l) text += s + "\n";
    try {
      const apps::RunConfig c = apps::parse_config(text, "mutant.yaml");
      ++valid;
      if (runs < 12 && sac_of(c).buffer_size <= 100000) {  // some valid mutants also run, briefly
        const fs::path dir = fresh_dir("mutant");
        const fs::path cfgp = write_config(dir, text);
        const int rc = train(cfgp, dir / "run", {"total_steps=64", "eval.episodes=1"});
        CHECK((rc == 0 || rc == 2));
        fs::remove_all(dir);
        ++runs;
      }
    } catch (const InputError& e) {
      ++errors;
      INFO(e.what());
      CHECK(std::string(e.what()).find("mutant.yaml") != std::string::npos);
    }
  }
  CHECK(errors > 50);
  CHECK(valid > 20);
  // A few precise messages.
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"sac.batch_size=abc"}),
                    Catch::Contains("c.yaml: sac.batch_size: expected an integer in [1, 1048576], got \"abc\""));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"sac.bogus=1"}),
                    Catch::Contains("sac.bogus: unknown key; valid keys here: batch_size"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"env.id=Pong-v5"}),
                    Catch::Contains("unknown environment id 'Pong-v5'"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"sac.gamma=1.5"}), Catch::Contains("sac.gamma"));
  // Env options are typed and checked against the task's ranges; non-finite numbers are refused.
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"env.options.wind_power=.inf"}),
                    Catch::Contains("c.yaml: env.options.wind_power: expected a number"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"env.options.gravity=-12"}),
                    Catch::Contains("c.yaml: env.options.gravity: expected a number in (-12, 0), got \"-12\""));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"env.options.enable_wind=2"}),
                    Catch::Contains("c.yaml: env.options.enable_wind: expected true or false"));
  // A task without options says so instead of listing nothing.
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"env.id=BipedalWalker-v3", "env.options.gravity=-9"}),
                    Catch::Contains("c.yaml: env.options.gravity: unknown key; nothing may be set here"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"sac.target_entropy=.nan"}),
                    Catch::Contains("c.yaml: sac.target_entropy: expected a number"));
  CHECK_THROWS_WITH(
      apps::parse_config(kBaseConfig, "c.yaml", {"algo=ppo"}),
      Catch::Contains("c.yaml: algo: expected one of adpo, bc, distill, dpo, grpo, oreo, sac, soft_grpo, got \"ppo\""));
  const apps::RunConfig windy = apps::parse_config(kBaseConfig, "c.yaml", {"env.options.enable_wind=true"});
  CHECK(apps::to_yaml(windy).find("enable_wind: true") != std::string::npos);
  // The resolved YAML reads back to the same config.
  const apps::RunConfig a = apps::parse_config(kBaseConfig, "c.yaml");
  CHECK(apps::to_yaml(apps::parse_config(apps::to_yaml(a), "resolved")) == apps::to_yaml(a));
}

TEST_CASE("config integers are exact, duplicate keys and extra documents are refused", "[config][faults]") {
  CHECK(apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=9223372036854775807"}).total_steps == INT64_MAX);
  CHECK(apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=1e6"}).total_steps == 1000000);
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=9223372036854775808"}),
                    Catch::Contains("c.yaml: total_steps: expected an integer in [1, 9223372036854775807]"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"seed=18446744073709551615"}),
                    Catch::Contains("c.yaml: seed: expected an integer in [0, 9223372036854775807]"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=1e300"}), Catch::Contains("total_steps"));
  CHECK_THROWS_WITH(apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=2.5"}), Catch::Contains("total_steps"));
  CHECK_THROWS_WITH(apps::parse_config(std::string(kBaseConfig) + "seed: 4\n", "c.yaml"),
                    Catch::Contains("c.yaml: seed: given twice"));
  CHECK_THROWS_WITH(apps::parse_config(std::string(kBaseConfig) + "---\nseed: 4\n", "c.yaml"),
                    Catch::Contains("c.yaml: holds 2 YAML documents"));
}

TEST_CASE("temperatures are refused outside the softmax core's range, naming the key", "[config]") {
  // 1e-31 passed the old bounds ((0, ...]) and ended in the core's internal error after set-up.
  for (const auto& [algo, key] : std::vector<std::pair<std::string, std::string>>{
           {"dpo", "dpo.beta"},
           {"adpo", "adpo.tau_anc"},
           {"adpo", "adpo.preferences.pair_temperature"},
           {"adpo", "adpo.preferences.list_temperature"},
           {"distill", "distill.temperature"},
           {"oreo", "oreo.beta"},
           {"oreo", "oreo.round_collection.temperature"}}) {
    INFO(key);
    const std::string text = printed_config(algo);
    CHECK_NOTHROW(apps::parse_config(text, "c.yaml", {key + "=1e-30"}));
    CHECK_THROWS_WITH(apps::parse_config(text, "c.yaml", {key + "=1e-31"}),
                      Catch::Contains("c.yaml: " + key + ": expected a number in [1e-30, "));
  }
}
