// Data parallelism over c10d (common/distributed.h): worker processes of this binary join a Gloo
// group on loopback, as torchrun would start them.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include "agents/bc/behaviour_cloning.h"
#include "agents/core/policy.h"
#include "agents/loops/offline_loop.h"
#include "common/distributed.h"
#include "tests/mixed_dataset.h"
#include "tests/shell.h"

namespace fs = std::filesystem;
namespace ag = softrl::agents;
namespace dist = softrl::distributed;

namespace {

constexpr int64_t kBatch = 16;  // per rank
constexpr int64_t kUpdates = 12;

// BC on 200 fixed random transitions (4-d observations, 3 actions), `batch` items per update.
torch::Tensor train_bc(int64_t batch, int64_t updates, int64_t die_after = -1) {
  torch::manual_seed(5);
  const int64_t n = 200;
  const ag::Batch data{torch::randn({n, 4}), torch::randint(0, 3, {n, 1}).to(torch::kFloat32), torch::zeros({n}),
                       torch::randn({n, 4}), torch::zeros({n})};
  ag::PolicySpec spec;
  spec.kind = ag::PolicySpec::Kind::categorical;
  spec.obs_dim = 4, spec.act_dim = 1, spec.num_actions = 3, spec.hidden = {16};
  ag::BehaviourCloning bc(spec, 1e-2, 3);
  dist::broadcast_from_rank0(bc.policy().parameters());
  ag::OfflineSettings s;
  s.total_steps = batch * updates * (dist::active() ? dist::world().size : 1);
  s.batch_size = batch;
  s.learning_rate = ag::Schedule{1e-2, false};
  ag::OfflineLoop loop(bc, data, s, 9);
  loop.begin(9);
  while (loop.steps() < s.total_steps) {
    if (loop.updates() == die_after) std::_Exit(9);
    loop.iterate();
  }
  std::vector<torch::Tensor> flat;
  for (const auto& p : bc.policy().parameters()) flat.push_back(p.detach().reshape({-1}));
  return torch::cat(flat);
}

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

std::string worker(int rank, int world, int port, const fs::path& out, const std::string& extra = "") {
  return "RANK=" + std::to_string(rank) + " LOCAL_RANK=" + std::to_string(rank) +
         " WORLD_SIZE=" + std::to_string(world) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
         " DP_OUT=" + out.string() + " " + extra + " " + self_exe() + " '[.dp-worker]'";
}

int free_port() { return 20000 + static_cast<int>(std::random_device{}() % 20000); }

}  // namespace

// One process of a data-parallel BC run (started by the tests below, never on its own).
TEST_CASE("data-parallel BC worker", "[.dp-worker]") {
  const dist::World w = dist::world_from_env();
  const char* timeout = std::getenv("DP_TIMEOUT_MS");
  try {
    dist::init(w, std::chrono::milliseconds(timeout ? std::atoi(timeout) : 30000));
    const char* die = std::getenv("DP_DIE_AFTER");
    const torch::Tensor params = train_bc(kBatch, kUpdates, die ? std::atoi(die) : -1);
    if (w.rank == 0) torch::save(params, std::getenv("DP_OUT"));
  } catch (const dist::DistributedError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(3);
  }
}

TEST_CASE("2 processes over Gloo end where 1 process with the doubled batch ends (BC)", "[distributed]") {
  const fs::path out = fs::temp_directory_path() / "softrl_dp_params.pt";
  fs::remove(out);
  const int port = free_port();
  const auto r =
      softrl::testing::run_shell("(" + worker(1, 2, port, out) + " > /dev/null 2>&1 &) ; " + worker(0, 2, port, out));
  INFO(r.output);
  REQUIRE(r.code == 0);
  torch::Tensor two;
  torch::load(two, out.string());
  const torch::Tensor one = train_bc(2 * kBatch, kUpdates);  // this process: world size 1
  const torch::Tensor base = train_bc(kBatch, kUpdates);     // one process, the single batch: another run
  // The two runs differ only in how the mean gradient is summed (two halves of 16, weighted 1/2,
  // against one mean of 32): float32 rounding of the gradient, a few 1e-8 relative, which Adam's
  // 12 steps of 1e-2 carry into the parameters at about 1e-7 (measured 6e-8); 1e-6 leaves room
  // for that, while a run that does not average (or averages the wrong rows) differs by ~1e-2,
  // like the single-batch run.
  const double diff = (two - one).abs().max().item<double>();
  CHECK(diff < 1e-6);
  CHECK((base - one).abs().max().item<double>() > 1e-3);
  WARN("largest parameter difference, 2 processes vs 1 with the doubled batch: " << diff);
}

TEST_CASE("a peer that dies mid-run ends the others with a message naming the rank, within the timeout",
          "[distributed]") {
  const fs::path out = fs::temp_directory_path() / "softrl_dp_dead.pt";
  const int port = free_port();
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = softrl::testing::run_shell("(" + worker(1, 2, port, out, "DP_DIE_AFTER=3") +
                                            " > /dev/null 2>&1 &) ; " + worker(0, 2, port, out, "DP_TIMEOUT_MS=5000"));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.output);
  CHECK(r.code == 3);
  CHECK(r.output.find("rank 0 of 2: an all-reduce") != std::string::npos);
  CHECK(secs < 20);
}

TEST_CASE("a peer that never joins: the process group gives up after its timeout", "[distributed]") {
  const auto r = softrl::testing::run_shell(worker(0, 2, free_port(), "/dev/null", "DP_TIMEOUT_MS=2000"));
  INFO(r.output);
  CHECK(r.code == 3);
  CHECK(r.output.find("rank 0 of 2: cannot join the process group") != std::string::npos);
}

TEST_CASE("torchrun's variables: malformed ones are refused, none means one process", "[distributed]") {
  unsetenv("WORLD_SIZE");
  CHECK(dist::world_from_env().size == 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "2", 1);
  CHECK_THROWS_WITH(dist::world_from_env(), Catch::Contains("RANK=2: expected an integer in [0, 1]"));
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
}

namespace {

// `softrl train` runs in one fresh directory: with one process, or with two that Debian's torchrun
// (python3-torch) starts, as a user would.
struct TrainRuns {
  fs::path dir;
  explicit TrainRuns(const std::string& name) : dir(fs::temp_directory_path() / name) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  static softrl::testing::ShellResult sh(const std::string& c) { return softrl::testing::run_shell(c); }
  softrl::testing::ShellResult one(const std::string& args) const {
    return sh(std::string(SOFTRL_BIN) + " train " + args + " --no-progress");
  }
  // --redirects/--tee 1: torch 1.13's default (0) trips over Python 3.11's enum iteration.
  softrl::testing::ShellResult two(const std::string& args) const {
    return sh("torchrun --nproc_per_node 2 --no_python --master_port " + std::to_string(free_port()) + " --log_dir " +
              (dir / "torchrun").string() + " --redirects 1 --tee 1 " + SOFTRL_BIN + " train " + args +
              " --no-progress");
  }
  std::string eval_csv(const std::string& run) const {
    std::ifstream f(dir / run / "eval.csv");
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }
  // The policy of RUN's last checkpoint, flattened.
  torch::Tensor policy(const std::string& run) const {
    std::vector<torch::Tensor> flat;
    for (const auto& t : ag::load_policy((dir / run / "checkpoints" / "latest.pt").string()).policy->parameters())
      flat.push_back(t.detach().reshape({-1}));
    return torch::cat(flat);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  // CONFIG with ONE_ARGS on one process into NAME_one, with TWO_ARGS on two into NAME_two; both
  // must succeed. Returns the two processes' output.
  std::string one_and_two(const std::string& config, const std::string& name, const std::string& one_args,
                          const std::string& two_args) const {
    const auto a = one(config + " " + one_args + " --run-dir " + path(name + "_one"));
    INFO(a.output);
    REQUIRE(a.code == 0);
    const auto b = two(config + " " + two_args + " --run-dir " + path(name + "_two"));
    INFO(b.output);
    REQUIRE(b.code == 0);
    return b.output;
  }
};

// The largest difference between two parameter vectors, relative to the largest parameter.
double relative_gap(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

}  // namespace

TEST_CASE("softrl train under torchrun: 2 processes make the run 1 process makes with the doubled batch (BC, DPO)",
          "[distributed][torchrun]") {
  REQUIRE(TrainRuns::sh("command -v torchrun").code == 0);  // scripts/setup.sh installs python3-torch
  const TrainRuns runs("softrl_torchrun");
  softrl::testing::write_mixed_lunarlander(runs.dir / "d.hdf5", 10);
  std::ofstream(runs.dir / "bc.yaml") << "env: {id: LunarLander-v3}\nalgo: bc\ntotal_steps: 20480\n"
                                         "eval: {every: 10240, episodes: 5}\ncheckpoint: {every: 10240}\n"
                                         "bc: {dataset: "
                                      << runs.path("d.hdf5") << ", net_arch: [32, 32]}\n";
  const std::string two = runs.one_and_two(runs.path("bc.yaml"), "bc", "bc.batch_size=128", "bc.batch_size=64");
  const std::string ea = runs.eval_csv("bc_one"), eb = runs.eval_csv("bc_two");
  CHECK(std::count(ea.begin(), ea.end(), '\n') == 3);   // header and two evaluations
  CHECK(ea == eb);                                      // the same policies, evaluated the same
  CHECK(two.find("[default1]:") == std::string::npos);  // rank 1 prints nothing
  // DPO: its loss is a mean over preference pairs, whose number differs between ranks (ties are
  // dropped); the gradients are weighted by each rank's pairs, so the runs match here too. 8 train
  // groups (10, 2 held out): epochs of two global batches of 4, no tail (a tail shorter than the
  // number of ranks is skipped by the data-parallel loop, used by one process).
  std::ofstream(runs.dir / "dpo.yaml") << "env: {id: LunarLander-v3}\nalgo: dpo\ntotal_steps: 12000\n"
                                          "eval: {every: 6000, episodes: 5}\ncheckpoint: {every: 6000}\n"
                                          "dpo: {dataset: "
                                       << runs.path("d.hdf5")
                                       << ", reference: {bc_steps: 4096, net_arch: [32, 32], batch_size: 128},"
                                          " preferences: {label: hard, holdout_fraction: 0.2}, learning_rate: 1.0e-2,"
                                          " batch_groups: 4}\n";
  runs.one_and_two(runs.path("dpo.yaml"), "dpo", "", "dpo.batch_groups=2 dpo.reference.batch_size=64");
  const std::string ec = runs.eval_csv("dpo_one"), ed = runs.eval_csv("dpo_two");
  CHECK(std::count(ec.begin(), ec.end(), '\n') == 3);
  CHECK(ec == ed);

  const auto back = TrainRuns::sh(std::string(SOFTRL_BIN) + " train --resume " + runs.path("bc_two"));
  CHECK(back.code == 2);
  CHECK(back.output.find("was trained by 2 process(es); resume it with as many (torchrun --nproc-per-node 2), not 1") !=
        std::string::npos);
}

TEST_CASE("softrl train under torchrun: OREO and GRPO on 2 processes learn what 1 process learns from twice the data",
          "[distributed][torchrun]") {
  REQUIRE(TrainRuns::sh("command -v torchrun").code == 0);
  const TrainRuns runs("softrl_torchrun_oreo_grpo");
  // GRPO: each rank collects 4 of the 8 groups one process collects (the same start states and
  // random streams), one minibatch of all episodes per epoch.
  std::ofstream(runs.dir / "grpo.yaml") << "env: {id: LunarLander-v3}\nalgo: grpo\ntotal_steps: 30000\nn_envs: 8\n"
                                           "eval: {every: 15000, episodes: 5}\ncheckpoint: {every: 15000}\n"
                                           "grpo: {net_arch: [32, 32], groups: 8, group_size: 4, epochs: 2,"
                                           " minibatch_episodes: 32, learning_rate: 3.0e-3}\n";
  const std::string grpo = runs.path("grpo.yaml");
  runs.one_and_two(grpo, "grpo", "", "grpo.groups=4 grpo.minibatch_episodes=16");
  const std::string e1 = runs.eval_csv("grpo_one"), e2 = runs.eval_csv("grpo_two");
  // The steps column: both runs count every rank's env steps, so they evaluate at the same steps.
  CHECK(e1.substr(e1.find('\n') + 1, 6) == e2.substr(e2.find('\n') + 1, 6));
  const double grpo_gap = relative_gap(runs.policy("grpo_two"), runs.policy("grpo_one"));
  WARN("GRPO: largest parameter gap, 2 processes vs 1: " << grpo_gap);
  CHECK(grpo_gap < 1e-6);
  // The multi-node launch: two torchrun agents (one process each) meeting through torchrun's c10d
  // rendezvous, as on two machines, make the 2-process run.
  const std::string endpoint = "127.0.0.1:" + std::to_string(free_port());
  const std::string node = "torchrun --nnodes 2 --rdzv_backend c10d --rdzv_endpoint " + endpoint +
                           " --rdzv_id softrl_test --nproc_per_node 1 --no_python --redirects 1 --tee 1 --log_dir " +
                           runs.path("torchrun_nodes") + " " + SOFTRL_BIN + " train " + grpo +
                           " grpo.groups=4 grpo.minibatch_episodes=16 --no-progress --run-dir " +
                           runs.path("grpo_nodes");
  const auto nodes = TrainRuns::sh("(" + node + " > " + runs.path("node_a.log") + " 2>&1 & " + node + " > " +
                                   runs.path("node_b.log") + " 2>&1; a=$?; wait $!; b=$?; exit $((a + b)))");
  CHECK(nodes.code == 0);
  CHECK(torch::equal(runs.policy("grpo_nodes"), runs.policy("grpo_two")));
  // Rank 1's groups count: one process on rank 0's 4 groups alone learns something else.
  REQUIRE(runs.one(grpo + " grpo.groups=4 grpo.minibatch_episodes=16 --run-dir " + runs.path("grpo_half")).code == 0);
  CHECK(relative_gap(runs.policy("grpo_half"), runs.policy("grpo_one")) > 1e-3);
  // OREO with kl_coef 0 (its per-step KL term weighs by steps, the rest by episodes: see oreo.cpp):
  // batches of 2 episodes per rank vs 4, the reference cloned with 64 rows per rank vs 128.
  softrl::testing::write_mixed_lunarlander(runs.dir / "d.hdf5", 10);
  std::ofstream(runs.dir / "oreo.yaml") << "env: {id: LunarLander-v3}\nalgo: oreo\ntotal_steps: 8000\n"
                                           "eval: {every: 4000, episodes: 5}\ncheckpoint: {every: 4000}\n"
                                           "oreo: {dataset: "
                                        << runs.path("d.hdf5")
                                        << ", reference: {bc_steps: 4096, net_arch: [32], batch_size: 128},"
                                           " value_net_arch: [32], batch_episodes: 4, kl_coef: 0}\n";
  runs.one_and_two(runs.path("oreo.yaml"), "oreo", "", "oreo.batch_episodes=2 oreo.reference.batch_size=64");
  const double oreo_gap = relative_gap(runs.policy("oreo_two"), runs.policy("oreo_one"));
  WARN("OREO: largest parameter gap, 2 processes vs 1: " << oreo_gap);
  CHECK(oreo_gap < 1e-6);
}

TEST_CASE("ranks whose configs differ stop together before the first collective, naming the difference",
          "[distributed]") {
  const TrainRuns t("softrl_dist_differ");
  std::ofstream(t.dir / "c.yaml") << "env: {id: LunarLanderContinuous-v3}\ntotal_steps: 200\n"
                                     "sac: {net_arch: [16], batch_size: 16, learning_starts: 50}\n";
  std::string port;
  const auto rank = [&](int r, const std::string& extra) {
    return "RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
           " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + SOFTRL_BIN + " train " + t.path("c.yaml") +
           " " + extra + " --no-progress --dist-timeout 60 --run-dir " + t.path("run") + " > " +
           t.path("rank" + std::to_string(r)) + ".log 2>&1; echo $? > " + t.path("rank" + std::to_string(r)) + ".rc";
  };
  const auto text = [&](const std::string& f) {
    std::ifstream in(t.dir / f);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  // A random port another process holds makes rank 0 fail to serve the store: another port then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port = std::to_string(free_port());
    TrainRuns::sh("(" + rank(0, "") + ") & (" + rank(1, "sac.batch_size=32") + ") & wait");
    if (text("rank0.log").find("Address already in use") == std::string::npos) break;
  }
  INFO(text("rank0.log") << text("rank1.log"));
  CHECK(text("rank0.rc") == "2\n");
  CHECK(text("rank1.rc") == "2\n");
  CHECK(text("rank1.log")
            .find("this rank's config differs from rank 0's: rank 0 has '  batch_size: 16', rank 1 "
                  "has '  batch_size: 32'") != std::string::npos);
  CHECK(text("rank0.log").find("1 other rank(s) resolved another config than rank 0") != std::string::npos);
  CHECK_FALSE(fs::exists(t.dir / "run" / "checkpoints"));
}

TEST_CASE("ranks that would read different data under the same path stop together, naming the file", "[distributed]") {
  // One config, run from two directories whose d.hdf5 differ (a dataset copied unequally to two
  // machines): the check runs before anything reads the file.
  const TrainRuns t("softrl_dist_files");
  for (const char* side : {"a", "b"}) {
    fs::create_directories(t.dir / side);
    std::ofstream(t.dir / side / "c.yaml") << "env: {id: LunarLander-v3}\nalgo: bc\nbc: {dataset: d.hdf5}\n";
    std::ofstream(t.dir / side / "d.hdf5") << "not the same bytes on " << side;
  }
  std::string port;
  const auto rank = [&](int r, const std::string& side) {
    const std::string log = t.path("rank" + std::to_string(r));
    return "cd " + t.path(side) + " && RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) +
           " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + SOFTRL_BIN +
           " train c.yaml --no-progress --dist-timeout 60 --run-dir " + t.path("run") + " > " + log +
           ".log 2>&1; echo $? > " + log + ".rc";
  };
  const auto text = [&](const std::string& f) {
    std::ifstream in(t.dir / f);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  for (int attempt = 0; attempt < 3; ++attempt) {
    port = std::to_string(free_port());
    TrainRuns::sh("(" + rank(0, "a") + ") & (" + rank(1, "b") + ") & wait");
    if (text("rank0.log").find("Address already in use") == std::string::npos) break;
  }
  INFO(text("rank0.log") << text("rank1.log"));
  CHECK(text("rank0.rc") == "2\n");
  CHECK(text("rank1.rc") == "2\n");
  CHECK(text("rank1.log").find("this rank's config differs from rank 0's: rank 0 has 'file d.hdf5: 23 bytes") !=
        std::string::npos);
}
