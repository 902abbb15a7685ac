// The generic run driver (apps/run), exercised with a small SAC run: exact resume after an
// interruption, evaluation output, a diverging run, owned run directories.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/eval_command.h"
#include "apps/commands/train_command.h"
#include "apps/run/run.h"
#include "apps/run/run_dir.h"
#include "common/runtime.h"
#include "common/stats.h"
#include "envs/registry.h"
#include "envs/rollout.h"
#include "tests/run_fixtures.h"
#include "tests/shell.h"

using namespace softrl;
using namespace softrl::test;
namespace fs = std::filesystem;

TEST_CASE("an interrupted then resumed run ends with the same parameters", "[driver][resume]") {
  for (const char* env_id : {"LunarLanderContinuous-v3", "LunarLander-v3"}) {
    const fs::path dir = fresh_dir("resume");
    const fs::path cfg = write_config(dir, kBaseConfig);
    const std::vector<std::string> ov = {std::string("env.id=") + env_id, "total_steps=500"};
    REQUIRE(train(cfg, dir / "straight", ov) == 0);
    REQUIRE(train(cfg, dir / "split", ov, 230) == 130);
    // As if the run had been killed after logging past its checkpoint: the resumed run drops these.
    std::ofstream(dir / "split" / "metrics.csv", std::ios::app) << "300,1e9,0,0,0,0,0,0,0,0,0,0,0,0,0\n";
    std::ofstream(dir / "split" / "metrics.jsonl", std::ios::app) << "{\"step\": 300, \"wall_time\": 1e9}\n";
    std::ofstream(dir / "split" / "eval.csv", std::ios::app) << "240,1,0,0,0,0,0,0,0\n";
    std::ofstream(dir / "split" / "evaluations.csv", std::ios::app) << "240,0,1000000,1,1\n";
    apps::TrainOptions r;
    r.resume_dir = (dir / "split").string();
    r.progress = false;
    std::ostringstream out, err;
    REQUIRE(apps::run_train(r, out, err) == 0);
    const auto a = checkpoint_parameters(dir / "straight" / "checkpoints" / "latest.pt");
    const auto b = checkpoint_parameters(dir / "split" / "checkpoints" / "latest.pt");
    REQUIRE(a.size() == b.size());
    INFO(env_id);
    for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
    // Every step is logged once, in order, and wall time carries on from the interrupted process.
    const auto rows = csv_rows(dir / "split" / "metrics.csv");
    REQUIRE(rows.size() == 5);
    for (size_t i = 0; i < rows.size(); ++i) {
      CHECK(rows[i][0] == 100.0 * (i + 1));
      if (i > 0) CHECK(rows[i][1] >= rows[i - 1][1]);
    }
    std::ifstream jsonl(dir / "split" / "metrics.jsonl");
    int json_rows = 0;
    for (std::string l; std::getline(jsonl, l); ++json_rows) CHECK(l.find("1e9") == std::string::npos);
    CHECK(json_rows == 5);
    const auto evals = csv_rows(dir / "split" / "eval.csv");
    REQUIRE(evals.size() == 1);
    CHECK(evals[0][0] == 500);
    const auto episodes = csv_rows(dir / "split" / "evaluations.csv");
    REQUIRE_FALSE(episodes.empty());
    for (const auto& e : episodes) CHECK(e[0] == 500);
    // Resuming a finished run says so and changes nothing.
    std::ostringstream again;
    CHECK(apps::run_train(r, again, err) == 0);
    CHECK(again.str().find("is complete (500 of 500 steps)") != std::string::npos);
    CHECK(csv_rows(dir / "split" / "eval.csv").size() == 1);
    fs::remove_all(dir);
  }
}

TEST_CASE("eval of a run directory prints and writes every statistic", "[driver][eval]") {
  const fs::path dir = fresh_dir("eval");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string train_output;
  REQUIRE(train(cfg, dir / "run", {"total_steps=200"}, -1, &train_output) == 0);
  CHECK(train_output.find("eval @200: mean ") != std::string::npos);
  // best.pt is the checkpoint of the evaluation with the highest mean.
  REQUIRE(train(cfg, dir / "evals", {"total_steps=600", "eval.every=150", "eval.episodes=2"}) == 0);
  const auto evals = csv_rows(dir / "evals" / "eval.csv");
  REQUIRE(evals.size() == 4);
  // evaluations.csv: each evaluation's episodes (step, episode, seed, return, length), whose mean
  // return is eval.csv's mean (both written with 6 significant digits).
  const auto episodes = csv_rows(dir / "evals" / "evaluations.csv");
  REQUIRE(episodes.size() == 8);
  for (size_t e = 0; e < evals.size(); ++e) {
    double sum = 0;
    for (size_t k = 0; k < 2; ++k) {
      const auto& row = episodes[2 * e + k];
      CHECK(row[0] == evals[e][0]);
      CHECK(row[1] == static_cast<double>(k));
      CHECK(row[2] == static_cast<double>(envs::kEvalSeedBase + k));
      CHECK(row[4] >= 1);
      sum += row[3];
    }
    CHECK(sum / 2 == Approx(evals[e][1]).epsilon(1e-5));
  }
  const auto best =
      std::max_element(evals.begin(), evals.end(), [](const auto& a, const auto& b) { return a[1] < b[1]; });
  CHECK(agents::open_checkpoint((dir / "evals" / "checkpoints" / "best.pt").string()).header.env_steps == (*best)[0]);
  std::ostringstream out, err;
  REQUIRE(apps::run_eval({.target = (dir / "run").string(), .episodes = 3, .seed = 5, .json = true}, out, err) == 0);
  for (const char* key : {"\"mean\"", "\"std\"", "\"median\"", "\"iqm\"", "\"min\"", "\"max\"", "\"success_rate\"",
                          "\"mean_length\"", "\"episodes\": 3", "\"env\": \"LunarLanderContinuous-v3\""})
    CHECK(out.str().find(key) != std::string::npos);
  // Beside the checkpoint evaluated (the run's best.pt), with every episode's return, length and seed.
  const std::string report = testing::read_text(dir / "run" / "checkpoints" / "eval_report.json");
  CHECK_FALSE(fs::exists(dir / "run" / "eval_report.json"));
  CHECK(report.find("\"seeds\": [5, 6, 7]") != std::string::npos);
  CHECK(report.find("\"lengths\": [") != std::string::npos);
  CHECK(report.find("\"returns\": [") != std::string::npos);
  const ReturnStats s = return_stats({1, 2, 3, 4, 100, -50, 7, 8}, {1, 1, 1, 1, 1, 1, 1, 1}, 5);
  CHECK(s.median == Approx(3.5));
  CHECK(s.iqm == Approx((2 + 3 + 4 + 7) / 4.0));
  CHECK(s.success_rate == Approx(3.0 / 8));
  fs::remove_all(dir);
}

TEST_CASE("a diverging run stops with exit 4, names the last good checkpoint and saves nothing non-finite",
          "[driver][faults]") {
  // A temperature of 1e308 makes the first update's losses infinite and the parameters NaN.
  const fs::path dir = fresh_dir("diverge");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string log;
  CHECK(train(cfg, dir / "run", {"sac.ent_coef=1e308", "checkpoint.every=100"}, -1, &log) == 4);
  INFO(log);
  CHECK(log.find("diverged at step 101") != std::string::npos);
  CHECK(log.find("the last good checkpoint is " + (dir / "run" / "checkpoints" / "latest.pt").string() +
                 " (step 100)") != std::string::npos);
  const fs::path ckpt = dir / "run" / "checkpoints" / "latest.pt";
  CHECK(agents::open_checkpoint(ckpt.string()).header.env_steps == 100);
  for (const auto& t : checkpoint_parameters(ckpt)) CHECK(torch::isfinite(t).all().item<bool>());
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "run").string(), .episodes = 1}, out, err) == 0);
  fs::remove_all(dir);
}

TEST_CASE("run directories are owned: locked while in use, never reused unless empty", "[driver][faults]") {
  const fs::path dir = fresh_dir("owned");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string log;
  // A directory with files but no run (e.g. a crash before the first checkpoint) is refused intact.
  fs::create_directories(dir / "crashed");
  std::ofstream(dir / "crashed" / "eval.csv") << "step,mean\n100,-5\n";
  CHECK(train(cfg, dir / "crashed", {}, -1, &log) == 2);
  CHECK(log.find("is not empty and holds no run to resume") != std::string::npos);
  std::ifstream kept(dir / "crashed" / "eval.csv");
  std::string line;
  std::getline(kept, line);
  std::getline(kept, line);
  CHECK(line == "100,-5");
  // A run in use by another process (here: this one, holding the lock) is neither resumed nor reused.
  REQUIRE(train(cfg, dir / "run", {"total_steps=300"}) == 0);
  {
    const apps::RunDirLock held(dir / "run");
    std::ostringstream out, err;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, out, err) == 2);
    CHECK(err.str().find("is in use by another softrl process") != std::string::npos);
    fs::create_directories(dir / "empty");
    const apps::RunDirLock held_empty(dir / "empty");
    CHECK(train(cfg, dir / "empty", {}, -1, &log) == 2);
    CHECK(log.find("in use by another softrl process") != std::string::npos);
  }
  // Default names: a taken name gets a suffix instead of sharing a directory.
  const apps::RunConfig c = apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=100"});
  std::ostringstream out;
  const auto a = apps::start_run(c, dir / "same-second", {.progress = false, .pick_free_name = true}, out);
  const auto b = apps::start_run(c, dir / "same-second", {.progress = false, .pick_free_name = true}, out);
  CHECK(a.run_dir == dir / "same-second");
  CHECK(b.run_dir == dir / "same-second-2");
  // A resume continues the recorded run or says what differs (total_steps may grow).
  {
    std::ifstream in(dir / "run" / "config.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    const std::string original = text;
    text.replace(text.find("batch_size: 32"), 14, "batch_size: 16");
    std::ofstream(dir / "run" / "config.yaml") << text;
    std::ostringstream o, e;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, o, e) == 2);
    CHECK(e.str().find("only total_steps may change on resume):\n  checkpoint:   batch_size: 32\n  config.yaml:   "
                       "batch_size: 16") != std::string::npos);
    std::string longer = original;
    longer.replace(longer.find("total_steps: 300"), 16, "total_steps: 400");
    std::ofstream(dir / "run" / "config.yaml") << longer;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, o, e) == 0);
    CHECK(agents::open_checkpoint((dir / "run" / "checkpoints" / "latest.pt").string()).header.env_steps == 400);
  }
  fs::remove_all(dir);
}
