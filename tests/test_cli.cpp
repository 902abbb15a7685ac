// The `softrl` binary as a user runs it: exit codes, messages, and SIGINT during training.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "data/hdf5_dataset.h"
#include "tests/shell.h"

#include <yaml-cpp/yaml.h>

namespace fs = std::filesystem;

namespace {
using Result = softrl::testing::ShellResult;
using softrl::testing::read_text;

// `softrl ARGS` through the shell, after `prefix` (e.g. a ulimit).
Result run_with_prefix(const std::string& prefix, const std::string& args) {
  return softrl::testing::run_shell(prefix + std::string(SOFTRL_BIN) + " " + args);
}

using softrl::testing::run_softrl;

fs::path cli_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("softrl_cli_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// `softrl ARGS...` in a child process (stdout discarded, or into `stdout_file`), for tests that signal it.
pid_t start_softrl(std::vector<std::string> args, const std::string& stdout_file = "/dev/null") {
  args.insert(args.begin(), SOFTRL_BIN);
  std::fflush(nullptr);  // the child must not repeat what this process has buffered
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen(stdout_file.c_str(), "w", stdout);
    execv(SOFTRL_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

pid_t start_training(const fs::path& config, const fs::path& run_dir, const std::vector<std::string>& overrides) {
  std::vector<std::string> args = {"train", config.string()};
  args.insert(args.end(), overrides.begin(), overrides.end());
  args.insert(args.end(), {"--run-dir", run_dir.string(), "--no-progress"});
  return start_softrl(args);
}

// Waits (up to 2 minutes) until a file written by a child process exists.
void wait_for_file(const fs::path& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && !fs::exists(path))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

const char* kConfig = softrl::testing::kSmallSacConfig;
}  // namespace

TEST_CASE("bad command lines and configs exit with code 2 and say why", "[cli]") {
  const fs::path dir = cli_dir("bad");
  std::ofstream(dir / "bad.yaml") << "env: {id: LunarLander-v3}\nsac: {batch_size: -3}\n";
  Result r = run_softrl("train " + (dir / "bad.yaml").string());
  CHECK(r.code == 2);
  CHECK(r.output.find("bad.yaml: sac.batch_size: expected an integer in [1, 1048576], got \"-3\"") !=
        std::string::npos);
  r = run_softrl("train " + (dir / "missing.yaml").string());
  CHECK(r.code == 2);
  CHECK(r.output.find("missing.yaml: no such config file (softrl config ALGO > ") != std::string::npos);
  // An SB3 / TRL reflex: the option form of an override gets the key=value form back.
  r = run_softrl("train " + (dir / "missing.yaml").string() + " --total_steps=100");
  CHECK(r.code == 2);
  CHECK(r.output.find("overrides are key=value without dashes (e.g. total_steps=100)") != std::string::npos);
  // The top-level help names what a config may choose.
  r = run_softrl("--help");
  CHECK(r.code == 0);
  CHECK(r.output.find("Algorithms (a config's `algo:`): adpo, bc, distill, dpo, grpo, oreo, sac, soft_grpo") !=
        std::string::npos);
  CHECK(r.output.find("LunarLanderContinuous-v3, BipedalWalker-v3") != std::string::npos);
  r = run_softrl("frobnicate");
  CHECK(r.code == 2);
  CHECK(r.output.find("unknown command 'frobnicate'") != std::string::npos);
  r = run_softrl("train /dev/zero");
  CHECK(r.code == 2);
  CHECK(r.output.find("/dev/zero: cannot read the config file (not a regular file)") != std::string::npos);
  // Memory that cannot be had (here a 3 GB address-space limit against a 3.6 GB layer): exit 3.
  std::ofstream(dir / "big.yaml") << kConfig;
  r = run_with_prefix("ulimit -v 3000000; ", "train " + (dir / "big.yaml").string() +
                                                 " 'sac.net_arch=[30000,30000]' --no-progress --run-dir " +
                                                 (dir / "big").string());
  CHECK(r.code == 3);
  CHECK(r.output.find("out of memory") != std::string::npos);
  // A setting refused once the environment is known (after the run directory was claimed): the
  // directory is left as it was found, not made or left empty with a lock file.
  r = run_softrl("train " + (dir / "big.yaml").string() + " sac.twin_q=mean --run-dir " + (dir / "twin").string());
  CHECK(r.code == 2);
  CHECK(r.output.find("sac.twin_q: mean is for discrete actions; LunarLanderContinuous-v3 has continuous actions") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir / "twin"));
  fs::create_directories(dir / "empty");
  CHECK(run_softrl("train " + (dir / "big.yaml").string() + " sac.twin_q=mean --run-dir " + (dir / "empty").string()).code ==
        2);
  CHECK(fs::is_empty(dir / "empty"));
  r = run_softrl("eval heuristic:Nope-v0");
  CHECK(r.code == 2);
  CHECK(r.output.find("valid ids") != std::string::npos);
  r = run_softrl("eval heuristic:LunarLander-v3 --episodes 2 --json");
  CHECK(r.code == 0);
  CHECK(r.output.find("\"iqm\"") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("SIGINT during training saves a checkpoint that resumes", "[cli]") {
  const fs::path dir = cli_dir("sigint");
  std::ofstream(dir / "c.yaml") << kConfig;
  const fs::path run_dir = dir / "run";
  const pid_t pid = start_training(dir / "c.yaml", run_dir, {});
  // Wait until training has logged a few hundred steps, then interrupt.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream m(run_dir / "metrics.csv");
    int lines = 0;
    for (std::string l; std::getline(m, l);) ++lines;
    if (lines >= 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const fs::path ckpt = run_dir / "checkpoints" / "latest.pt";
  REQUIRE(fs::exists(ckpt));
  const auto c = softrl::agents::open_checkpoint(ckpt.string());
  CHECK(c.header.env_steps >= 250);
  CHECK(c.header.env_steps < 1000000);
  const Result e = run_softrl("eval " + run_dir.string() + " --episodes 1");
  CHECK(e.code == 0);
  fs::remove_all(dir);
}

TEST_CASE("SIGTERM inside a long evaluation stops within a second with exit 143 and a checkpoint", "[cli]") {
  const fs::path dir = cli_dir("sigterm");
  // The first evaluation (at step 100) has 100000 episodes: hours, unless the signal is seen
  // inside it.
  std::ofstream(dir / "c.yaml") << kConfig;
  const fs::path run_dir = dir / "run";
  const pid_t pid = start_training(dir / "c.yaml", run_dir, {"eval.every=100", "eval.episodes=100000"});
  wait_for_file(run_dir / "metrics.csv");  // its row at step 100 comes just before that evaluation
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // well inside the evaluation
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - sent > std::chrono::seconds(10)) {  // never hang the suite
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL("softrl ignored SIGTERM for 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 143);
  CHECK(seconds < 1.0);
  const auto c = softrl::agents::open_checkpoint((run_dir / "checkpoints" / "latest.pt").string());
  CHECK(c.header.env_steps == 100);
  fs::remove_all(dir);
}

TEST_CASE("a full disk, then a read-only one: exit 3, a message, and the last checkpoint intact", "[cli][faults]") {
  const fs::path dir = cli_dir("enospc");
  const fs::path mnt = dir / "mnt";
  fs::create_directories(mnt);
  if (std::system(("mount -t tmpfs -o size=600k tmpfs " + mnt.string() + " 2>/dev/null").c_str()) != 0) {
    WARN("skipped: cannot mount a tmpfs here (needs root, as in CI)");
    return;
  }
  // Checkpoints with the replay buffer grow by 80 bytes a step until the 600 KiB disk is full.
  std::ofstream(dir / "c.yaml") << kConfig;
  const fs::path run_dir = mnt / "run";
  Result r = run_softrl("train " + (dir / "c.yaml").string() + " total_steps=100000 checkpoint.every=200 " +
                 "checkpoint.save_replay_buffer=true --no-progress --run-dir " + run_dir.string());
  INFO(r.output);
  CHECK(r.code == 3);
  CHECK(r.output.find("No space left on device") != std::string::npos);
  const fs::path ckpt = run_dir / "checkpoints" / "latest.pt";
  REQUIRE(fs::exists(ckpt));
  CHECK(softrl::agents::open_checkpoint(ckpt.string()).header.env_steps >= 200);
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  // Read-only: eval prints its results, then says the report could not be written.
  REQUIRE(std::system(("mount -o remount,ro " + mnt.string()).c_str()) == 0);
  r = run_softrl("eval " + run_dir.string() + " --episodes 1");
  CHECK(r.code == 3);
  CHECK(r.output.find("return mean") != std::string::npos);
  CHECK(r.output.find("eval_report.json: cannot create a temporary file beside it (Read-only file system)") !=
        std::string::npos);
  std::system(("umount " + mnt.string()).c_str());
  fs::remove_all(dir);
}

TEST_CASE("two trainings started at once into one directory: one runs, the other is refused", "[cli][faults]") {
  const fs::path dir = cli_dir("concurrent");
  std::ofstream(dir / "c.yaml") << kConfig;
  const std::vector<std::string> ov = {"total_steps=400"};
  const pid_t a = start_training(dir / "c.yaml", dir / "run", ov), b = start_training(dir / "c.yaml", dir / "run", ov);
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  REQUIRE(WIFEXITED(sa));
  REQUIRE(WIFEXITED(sb));
  const std::multiset<int> codes = {WEXITSTATUS(sa), WEXITSTATUS(sb)};
  CHECK(codes == std::multiset<int>{0, 2});
  // The run that went through logged every step once.
  std::ifstream m(dir / "run" / "metrics.csv");
  std::vector<std::string> lines;
  for (std::string l; std::getline(m, l);) lines.push_back(l);
  REQUIRE(lines.size() == 9);  // header + steps 50..400
  for (size_t i = 1; i < lines.size(); ++i) CHECK(std::stoi(lines[i]) == static_cast<int>(50 * i));
  fs::remove_all(dir);
}

TEST_CASE("a storm of SIGINTs, some during checkpoint writes, leaves one valid checkpoint", "[cli][faults]") {
  const fs::path dir = cli_dir("storm");
  std::ofstream(dir / "c.yaml") << kConfig;
  const fs::path run_dir = dir / "run";
  // A checkpoint with a 10000-transition buffer every 50 steps: writes are a good part of the time.
  const pid_t pid =
      start_training(dir / "c.yaml", run_dir, {"checkpoint.every=50", "checkpoint.save_replay_buffer=true"});
  wait_for_file(run_dir / "checkpoints" / "latest.pt");
  for (int k = 0; k < 30; ++k) {
    kill(pid, SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const auto c = softrl::agents::open_checkpoint((run_dir / "checkpoints" / "latest.pt").string());
  CHECK(c.header.env_steps >= 50);
  for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  CHECK(run_softrl("train --resume " + run_dir.string() + " total_steps=1").code == 2);  // overrides refused on resume
  fs::remove_all(dir);
}

TEST_CASE("collect: bad configs exit 2 naming the key; SIGINT leaves nothing or a valid shorter dataset", "[cli]") {
  const fs::path dir = cli_dir("collect");
  std::ofstream(dir / "c.yaml") << "env: {id: LunarLander-v3}\nthreads: 2\nstart_seeds: 3000\ngroup_size: 2\n"
                                   "sources:\n  - {kind: heuristic, epsilon: 0.2}\n  - {kind: random, weight: 0.5}\n";
  const std::string c = (dir / "c.yaml").string(), out = (dir / "d.hdf5").string();
  Result r = run_softrl("collect " + c + " sources[0].epsilon=2 --out " + out);
  CHECK(r.code == 2);
  CHECK(r.output.find(c + ": sources[0].epsilon: expected a number in [0, 1], got \"2\"") != std::string::npos);
  r = run_softrl("collect " + c + " \"sources[1]={kind: policy, path: " + dir.string() + "/nothing}\" --out " + out);
  CHECK(r.code == 2);
  CHECK(r.output.find("sources[1].path") != std::string::npos);
  r = run_softrl("collect " + c + " sources[0].noise_std=0.1 --out " + out);
  CHECK(r.code == 2);
  CHECK(r.output.find("continuous actions only") != std::string::npos);
  r = run_softrl("dataset info " + c);
  CHECK(r.code == 2);
  CHECK(r.output.find(c + ": not an HDF5 file") != std::string::npos);

  // 6000 episodes (~1.7M steps, ~25 s): interrupted 1.5 s after it printed its sources (when its
  // signal handlers are in place).
  const fs::path log = dir / "collect.log";
  const pid_t pid = start_softrl({"collect", c, "--out", out, "--no-progress"}, log.string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && read_text(log).find("random") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  REQUIRE(fs::exists(out));  // 1.5 s completes hundreds of groups
  const softrl::data::Dataset d = softrl::data::read_dataset(out);
  CHECK(d.num_episodes() > 0);
  CHECK(d.num_episodes() < 6000);
  CHECK(d.num_episodes() == 2 * d.num_groups());
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) ==
        3);  // c.yaml, the log, d.hdf5: no temporary
  CHECK(read_text(log).find("interrupted: wrote the " + std::to_string(d.num_groups()) + " complete groups") !=
        std::string::npos);
  // An existing dataset is not replaced without --overwrite.
  r = run_softrl("collect " + c + " start_seeds=2 --out " + out);
  CHECK(r.code == 2);
  CHECK(r.output.find("already exists") != std::string::npos);
  r = run_softrl("dataset info " + out + " --json");
  CHECK(r.code == 0);
  CHECK(r.output.find("\"episodes\": " + std::to_string(d.num_episodes())) != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("bench softmax's JSON carries the ceilings: the two-pass one exactly for long-row log_softmax and softmax",
          "[cli][bench]") {
  const Result r = run_softrl("bench softmax --quick --json");
  REQUIRE(r.code == 0);
  const YAML::Node rows = YAML::Load(r.output)["results"];
  double two_pass_gbs = 0;
  for (const auto& row : rows)
    if (row["op"].as<std::string>() == "sum+copy") two_pass_gbs = row["ours_gbs"].as<double>();
  REQUIRE(two_pass_gbs > 0);
  int two_pass = 0, ceilings = 0;
  for (const auto& row : rows) {
    const std::string op = row["op"].as<std::string>(), shape = row["shape"].as<std::string>();
    const bool long_row = shape == "[8, 131072]";
    INFO(row["pass"].as<std::string>() << " " << shape << " " << op);
    ceilings += op == "sum+copy";
    const bool expected =
        long_row && row["pass"].as<std::string>() == "forward" && (op == "log_softmax" || op == "softmax");
    const double f = row["of_two_pass_ceiling"].as<double>();
    CHECK((f > 0) == expected);
    if (!expected) continue;
    ++two_pass;
    // The share is of this run's own measured ceiling (no bound on timings, which move with the host's load).
    CHECK_THAT(f, Catch::Matchers::WithinRel(row["ours_gbs"].as<double>() / two_pass_gbs, 1e-8));
    CHECK(row["of_ceiling"].as<double>() > 0);
  }
  CHECK(ceilings == 1);
  CHECK(two_pass == 2);
}

TEST_CASE("bench sac and bench envs print every figure in their JSON, each ratio inside its rounds' range",
          "[cli][bench]") {
  Result r = run_softrl("bench sac --threads 1 --seconds 0.3 --json");
  REQUIRE(r.code == 0);
  const YAML::Node sac = YAML::Load(r.output);  // JSON is YAML
  CHECK(sac["rounds"].as<int>() == 5);
  CHECK(sac["updates_per_s"].as<double>() > 0);
  const double lo = sac["fraction_of_sgemm_min"].as<double>(), hi = sac["fraction_of_sgemm_max"].as<double>();
  const double fraction = sac["fraction_of_sgemm"].as<double>();
  CHECK(lo > 0);
  CHECK(lo <= fraction);  // a median of the rounds' own ratios
  CHECK(fraction <= hi);

  r = run_softrl("bench envs --seconds 0.02 --rounds 1 --envs 4 --json");
  REQUIRE(r.code == 0);
  const YAML::Node envs = YAML::Load(r.output)["results"];
  REQUIRE(envs.size() == 4);  // every registered task
  for (const auto& row : envs) {
    INFO(row["id"].as<std::string>());
    CHECK(row["vector_envs"].as<int>() == 4);
    CHECK(row["vector_2threads_steps_per_s"].as<double>() > 0);
    const double idle = row["join_idle_share_2threads"].as<double>();
    CHECK(idle >= 0);
    CHECK(idle < 1);
    const double serial = row["serial_share_2threads"].as<double>();
    CHECK(serial > 0);  // the step's output tensors are made on the calling thread, outside the pool
    CHECK(serial < 1);
  }
}
