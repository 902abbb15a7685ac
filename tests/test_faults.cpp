// The `softrl` binary under hostile or clumsy use, third round: studies, collections, resumed
// runs, long phases inside an iteration, evaluation outputs. Each case is a reproduction of a
// defect: it failed before its fix.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "envs/registry.h"
#include "tests/shell.h"

namespace fs = std::filesystem;
using softrl::testing::read_text;
using softrl::testing::run_shell;
using softrl::testing::ShellResult;

namespace {

using softrl::testing::run_softrl;

fs::path faults_dir(const std::string& name) { return softrl::testing::fresh_dir("softrl_faults_" + name); }

// `softrl ARGS...` in a child process with its output into `log`, for the tests that signal it.
pid_t start_softrl(std::vector<std::string> args, const fs::path& log) {
  args.insert(args.begin(), SOFTRL_BIN);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO), dup2(fd, STDERR_FILENO), close(fd);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(SOFTRL_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits up to `limit` for `ready` to hold; false when it never did.
template <class F>
bool wait_until(F ready, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// SIGINT to `pid`; its exit status and how long it took to end (killed after 10 s: a hang).
std::pair<int, double> interrupt(pid_t pid) {
  const auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - sent > std::chrono::seconds(10)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return {-1, 10.0};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, s};
}

// Processes whose command line mentions `text` (other than this test's).
int processes_mentioning(const std::string& text) {
  int n = 0;
  for (const auto& p : fs::directory_iterator("/proc")) {
    const std::string name = p.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == getpid()) continue;
    std::string cmd = read_text(p.path() / "cmdline");
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    n += cmd.find(text) != std::string::npos;
  }
  return n;
}

const char* kSac = softrl::testing::kSmallSacConfig;

}  // namespace

TEST_CASE("eval: a threshold that is not finite is refused; results are shown before an unwritable recording",
          "[faults]") {
  for (const char* t : {"nan", "inf", "-inf", "1e400"}) {
    const ShellResult r = run_softrl(std::string("eval heuristic:LunarLander-v3 --episodes 1 --threshold ") + t);
    INFO(r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find("expected a finite return") != std::string::npos);
  }
  const ShellResult r = run_softrl("eval heuristic:LunarLander-v3 --episodes 1 --record /nonexistent-dir/episode.gif");
  INFO(r.output);
  CHECK(r.code == 3);
  CHECK(r.output.find("return mean") != std::string::npos);                   // the results,
  CHECK(r.output.find("/nonexistent-dir/episode.gif") != std::string::npos);  // then the failure
}

TEST_CASE("collect --out: only a regular file is replaced, and nothing is collected before refusing", "[faults]") {
  const fs::path dir = faults_dir("collect_out");
  std::ofstream(dir / "c.yaml") << "env: {id: LunarLander-v3}\nstart_seeds: 100000\nsources: [{kind: random}]\n";
  fs::create_directories(dir / "a_directory");
  for (const std::string& out : {(dir / "a_directory").string(), std::string("/dev/null")}) {
    const auto t0 = std::chrono::steady_clock::now();
    const ShellResult r = run_softrl("collect " + (dir / "c.yaml").string() + " --overwrite --out " + out);
    INFO(r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find(out + " is not a regular file") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));  // 100000 episodes were not run
  }
  CHECK(fs::is_directory(dir / "a_directory"));
  CHECK(fs::is_character_file("/dev/null"));
  fs::remove_all(dir);
}

TEST_CASE("a resumed run removes a killed writer's temporaries and refuses a log it cannot append to", "[faults]") {
  const fs::path dir = faults_dir("resume_logs");
  std::ofstream(dir / "c.yaml") << kSac;
  const std::string run_dir = (dir / "run").string();
  REQUIRE(run_softrl("train " + (dir / "c.yaml").string() + " total_steps=200 --no-progress --run-dir " + run_dir).code == 0);
  // Train longer: total_steps is the one key a resume may change.
  std::string cfg = read_text(dir / "run" / "config.yaml");
  cfg.replace(cfg.find("total_steps: 200"), 16, "total_steps: 300");
  std::ofstream(dir / "run" / "config.yaml", std::ios::trunc) << cfg;
  // A byte-order mark before metrics.csv's header: refused, the file untouched.
  const std::string metrics = read_text(dir / "run" / "metrics.csv");
  std::ofstream(dir / "run" / "metrics.csv", std::ios::trunc) << "\xEF\xBB\xBF" << metrics;
  ShellResult r = run_softrl("train --resume " + run_dir + " --no-progress");
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("metrics.csv: its first line is not a header starting with 'step,' (a byte-order mark") !=
        std::string::npos);
  CHECK(read_text(dir / "run" / "metrics.csv") == "\xEF\xBB\xBF" + metrics);
  std::ofstream(dir / "run" / "metrics.csv", std::ios::trunc) << metrics;
  // What a writer killed mid-write leaves beside latest.pt goes once the run is locked again.
  const fs::path stale = dir / "run" / "checkpoints" / "latest.pt.tmp.Ab3xYz";
  std::ofstream(stale) << std::string(1000, 'x');
  r = run_softrl("train --resume " + run_dir + " --no-progress");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(dir / "run" / "checkpoints" / "latest.pt"));
  fs::remove_all(dir);
}

TEST_CASE("a study directory is held by one compare; a killed compare's cells stop with it", "[faults]") {
  const fs::path dir = faults_dir("study_lock");
  std::ofstream(dir / "c.yaml") << kSac;
  std::ofstream(dir / "study.yaml")
      << "name: locked\narms: [{name: a, config: c.yaml, overrides: {total_steps: 100000000}}]\nseeds: [0]\n";
  const fs::path study = dir / "s";
  const pid_t pid = start_softrl(
      {"compare", (dir / "study.yaml").string(), "--study-dir", study.string(), "--jobs", "1"}, dir / "compare.log");
  const fs::path cell_metrics = study / "runs" / "a" / "default-seed0" / "metrics.csv";
  REQUIRE(wait_until([&] { return fs::exists(cell_metrics); }));
  // A second compare of the same study while the first runs: refused, nothing of the first touched.
  const ShellResult r = run_softrl("compare --resume " + study.string());
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find(study.string() + " is in use by another softrl process") != std::string::npos);
  CHECK(fs::exists(cell_metrics));
  // compare killed outright: its cell saves its checkpoint and ends too, within seconds.
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  CHECK(wait_until([&] { return processes_mentioning(study.string()) == 0; }, std::chrono::seconds(10)));
  CHECK(fs::exists(study / "runs" / "a" / "default-seed0" / "checkpoints" / "latest.pt"));
  fs::remove_all(dir);
}

TEST_CASE("SIGINT inside a long phase of an iteration is honoured within a second", "[faults]") {
  const fs::path dir = faults_dir("long_phases");
  // A GRPO iteration that collects 2048 start states x 16 episodes (minutes): stopped during it,
  // the run saves the state before the iteration and exits 130.
  std::ofstream(dir / "grpo.yaml") << "env: {id: LunarLander-v3}\nalgo: grpo\ntotal_steps: 100000000\n"
                                      "grpo: {groups: 2048, group_size: 16, net_arch: [16]}\n";
  const fs::path run_dir = dir / "grpo";
  pid_t pid = start_softrl({"train", (dir / "grpo.yaml").string(), "--run-dir", run_dir.string(), "--no-progress"},
                           dir / "grpo.log");
  REQUIRE(wait_until([&] { return fs::exists(run_dir / "config.yaml"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto [code, seconds] = interrupt(pid);
  INFO(read_text(dir / "grpo.log"));
  CHECK(code == 130);
  CHECK(seconds < 1.0);
  REQUIRE(fs::exists(run_dir / "checkpoints" / "latest.pt"));
  CHECK(softrl::agents::open_checkpoint((run_dir / "checkpoints" / "latest.pt").string()).header.env_steps == 0);

  // A reference policy's behaviour cloning for 1e9 samples, at the run's set-up: nothing is saved.
  const fs::path data = dir / "d.hdf5";
  std::ofstream(dir / "collect.yaml") << "env: {id: LunarLander-v3}\nstart_seeds: 4\ngroup_size: 2\n"
                                         "sources: [{kind: heuristic, epsilon: 0.2}]\n";
  REQUIRE(run_softrl("collect " + (dir / "collect.yaml").string() + " --no-progress --out " + data.string()).code == 0);
  std::ofstream(dir / "oreo.yaml") << "env: {id: LunarLander-v3}\nalgo: oreo\noreo: {dataset: " << data.string()
                                   << ", reference: {bc_steps: 1000000000, net_arch: [16]}}\n";
  const fs::path oreo_dir = dir / "oreo";
  pid = start_softrl({"train", (dir / "oreo.yaml").string(), "--run-dir", oreo_dir.string(), "--no-progress"},
                     dir / "oreo.log");
  // config.yaml is written once the learner is built, just before its set-up clones the reference.
  REQUIRE(wait_until([&] { return fs::exists(oreo_dir / "config.yaml"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  std::tie(code, seconds) = interrupt(pid);
  INFO(read_text(dir / "oreo.log"));
  CHECK(code == 130);
  CHECK(seconds < 1.0);
  CHECK(read_text(dir / "oreo.log").find("interrupted while setting up the run") != std::string::npos);
  CHECK_FALSE(fs::exists(oreo_dir / "checkpoints"));
  fs::remove_all(dir);
}

TEST_CASE("grpo.init of other hidden layers than grpo.net_arch is refused", "[faults]") {
  const fs::path dir = faults_dir("grpo_init");
  const auto env = softrl::envs::make_env("LunarLander-v3");
  softrl::agents::PolicyHead wide(softrl::agents::PolicySpec::for_env(env->spec(), {32}));
  softrl::agents::CheckpointHeader h = softrl::agents::CheckpointHeader::for_env(env->spec());
  h.algo = "bc";
  const fs::path ckpt = dir / "wide.pt";
  softrl::agents::write_checkpoint(ckpt.string(), h, {{"policy", [&](auto& ar) { wide.save(ar); }}});
  std::ofstream(dir / "grpo.yaml") << "env: {id: LunarLander-v3}\nalgo: grpo\ntotal_steps: 1000\n"
                                      "grpo: {net_arch: [16, 16], init: "
                                   << ckpt.string() << "}\n";
  const ShellResult r = run_softrl("train " + (dir / "grpo.yaml").string() + " --run-dir " + (dir / "run").string());
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("grpo.init: " + ckpt.string() + " holds a") != std::string::npos);
  CHECK(r.output.find("set net_arch to the saved policy's hidden layers") != std::string::npos);
  // The same widths are taken.
  CHECK(run_softrl("train " + (dir / "grpo.yaml").string() + " 'grpo.net_arch=[32]' grpo.groups=2 --no-progress --run-dir " +
            (dir / "run2").string())
            .code == 0);
  fs::remove_all(dir);
}
