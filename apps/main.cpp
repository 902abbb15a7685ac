// softrl: the command-line entry point. Subcommands are added here as they land.
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

#include <iostream>

#include <CLI/CLI.hpp>

#include "bench/bench_envs.h"
#include "bench/bench_mlp.h"
#include "bench/bench_sac.h"
#include "apps/validate_envs.h"
#include "bench/bench_softmax.h"
#include "apps/eval_command.h"
#include "apps/train_command.h"

int main(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY once, at load time. Its default (spinning idle workers) steals
  // the second core from OpenBLAS and halves MLP update throughput with 2 threads, so restart
  // once with PASSIVE unless the user chose a policy.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run with the default policy
  }
  // Keep freed tensor memory in the heap instead of returning it to the OS: without this every
  // large tensor is a fresh mmap and its first touch costs a page fault per 4 KiB, which
  // dominates training loops and benchmarks that allocate same-sized tensors each step.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"softrl: reinforcement learning and preference optimization on a shared softmax core"};
  app.require_subcommand(1);

  CLI::App* bench = app.add_subcommand("bench", "Speed benchmarks (not tests)");
  bench->require_subcommand(1);
  softrl::apps::SoftmaxBenchOptions sm;
  CLI::App* bench_sm = bench->add_subcommand("softmax", "GB/s of the softmax core vs LibTorch and a plain copy");
  bench_sm->add_flag("--json", sm.json, "Print one JSON object instead of tables");
  bench_sm->add_flag("--quick", sm.quick, "Smaller long-row shape and shorter trials");
  bench_sm->add_option("--threads", sm.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);

  softrl::apps::MlpBenchOptions mlp;
  CLI::App* bench_mlp = bench->add_subcommand("mlp", "Adam updates/s of an MLP (BLAS and thread settings)");
  bench_mlp->add_option("--threads", mlp.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);
  bench_mlp->add_option("--hidden", mlp.hidden, "Hidden width")->check(CLI::PositiveNumber);
  bench_mlp->add_option("--layers", mlp.layers, "Hidden layers")->check(CLI::PositiveNumber);
  bench_mlp->add_option("--batch", mlp.batch, "Batch size")->check(CLI::PositiveNumber);
  bench_mlp->add_flag("--json", mlp.json, "Print JSON");

  softrl::apps::EnvBenchOptions envb;
  CLI::App* bench_envs = bench->add_subcommand("envs", "Environment steps/s, single env and 16-env vector env");
  bench_envs->add_flag("--json", envb.json, "Print JSON");
  bench_envs->add_option("--seconds", envb.seconds, "Seconds per measurement")->check(CLI::PositiveNumber);

  softrl::apps::SacBenchOptions sacb;
  CLI::App* bench_sac = bench->add_subcommand("sac", "SAC updates/s at [400, 300], batch 256, one thread");
  bench_sac->add_flag("--json", sacb.json, "Print JSON");
  bench_sac->add_option("--seconds", sacb.seconds, "Measurement time")->check(CLI::PositiveNumber);

  softrl::apps::ValidateOptions val;
  CLI::App* validate = app.add_subcommand("validate-envs", "Heuristic scores of every task against the spec's targets");
  validate->add_option("--episodes", val.episodes, "Episodes per task")->check(CLI::PositiveNumber);
  validate->add_option("--seed", val.seed, "First episode seed");
  validate->add_option("--threads", val.threads, "Worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  validate->add_flag("--json", val.json, "Print JSON");

  softrl::apps::TrainOptions tr;
  CLI::App* train = app.add_subcommand("train", "Train from a YAML config: softrl train CONFIG.yaml [key=value ...]");
  train->add_option("config", tr.config_path, "CONFIG.yaml");
  train->add_option("overrides", tr.overrides, "dotted.key=value overrides");
  train->add_option("--run-dir", tr.run_dir, "Run directory (default runs/<env>-sac-seed<S>-<time>)");
  train->add_option("--resume", tr.resume_dir, "Continue RUN_DIR from its latest checkpoint");
  train->add_flag("!--no-progress", tr.progress, "No live progress line");

  softrl::apps::EvalOptions ev;
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a policy: RUN_DIR, CHECKPOINT or heuristic:ENV_ID");
  eval->add_option("policy", ev.target, "RUN_DIR | CHECKPOINT | heuristic:ENV_ID")->required();
  eval->add_option("--episodes", ev.episodes, "Episodes")->check(CLI::PositiveNumber);
  eval->add_option("--seed", ev.seed, "Seed of the first episode (episode k uses seed + k)");
  eval->add_flag("--stochastic", ev.stochastic, "Sample actions instead of the deterministic policy");
  eval->add_option("--record", ev.record, "Write episode 0 as an animated .gif (or its last frame as .png)");
  eval->add_flag("--json", ev.json, "Print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (bench_sm->parsed()) return softrl::apps::run_softmax_bench(sm, std::cout);
  if (bench_mlp->parsed()) return softrl::apps::run_mlp_bench(mlp, std::cout);
  if (bench_sac->parsed()) return softrl::apps::run_sac_bench(sacb, std::cout);
  if (bench_envs->parsed()) return softrl::apps::run_env_bench(envb, std::cout);
  if (train->parsed()) {
    softrl::apps::install_interrupt_handlers();
    return softrl::apps::run_train(tr, std::cout, std::cerr);
  }
  if (eval->parsed()) return softrl::apps::run_eval(ev, std::cout, std::cerr);
  if (validate->parsed()) return softrl::apps::run_validate_envs(val, std::cout);
  return 0;
}
