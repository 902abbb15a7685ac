// softrl: the command-line entry point, a table of subcommands.
#include <cmath>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "apps/commands/collect_command.h"
#include "apps/commands/command_boundary.h"
#include "apps/commands/compare_command.h"
#include "apps/commands/config_command.h"
#include "apps/commands/dataset_command.h"
#include "apps/commands/eval_command.h"
#include "apps/commands/report_command.h"
#include "apps/commands/train_command.h"
#include "apps/commands/validate_envs.h"
#include "apps/algos/registry.h"
#include "apps/config/config_reader.h"
#include "apps/run/run.h"
#include "bench/bench_allreduce.h"
#include "bench/bench_collect.h"
#include "bench/bench_envs.h"
#include "bench/bench_mlp.h"
#include "bench/bench_sac.h"
#include "bench/bench_softmax.h"
#include "common/runtime.h"
#include "envs/registry.h"

namespace {
using namespace softrl::apps;
using namespace softrl::bench;

// One subcommand: its CLI options (bound to `options`) and what runs when it was given.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// The options outlive parsing: they are static members of the table built here.
std::vector<Command> bench_commands(CLI::App& bench) {
  static SoftmaxBenchOptions sm;
  CLI::App* s = bench.add_subcommand("softmax", "GB/s of the softmax core vs LibTorch and a plain copy");
  s->add_flag("--json", sm.json, "Print one JSON object instead of tables");
  s->add_flag("--quick", sm.quick, "Smaller long-row shape and shorter trials");
  s->add_option("--threads", sm.threads, "Intra-op threads (default: all cores)")->check(CLI::Range(0, 64));
  static MlpBenchOptions mlp;
  CLI::App* m = bench.add_subcommand("mlp", "Adam updates/s of an MLP (BLAS and thread settings)");
  m->add_option("--threads", mlp.threads, "Intra-op threads (default: all cores)")->check(CLI::Range(0, 64));
  m->add_option("--hidden", mlp.hidden, "Hidden width")->check(CLI::PositiveNumber);
  m->add_option("--layers", mlp.layers, "Hidden layers")->check(CLI::PositiveNumber);
  m->add_option("--batch", mlp.batch, "Batch size")->check(CLI::PositiveNumber);
  m->add_flag("--json", mlp.json, "Print JSON");
  static EnvBenchOptions envb;
  CLI::App* e = bench.add_subcommand("envs", "Environment steps/s, single env and 16-env vector env");
  e->add_flag("--json", envb.json, "Print JSON");
  e->add_option("--seconds", envb.seconds, "Seconds per measurement")->check(CLI::PositiveNumber);
  e->add_option("--envs", envb.envs, "Envs in the vector env (default 16)")->check(CLI::Range(1, 4096));
  e->add_option("--rounds", envb.rounds,
                "Rounds of the three vector-env measurements, one right after the other; medians reported (default 3)")
      ->check(CLI::Range(1, 100));
  static SacBenchOptions sacb;
  CLI::App* sac = bench.add_subcommand("sac", "SAC updates/s at [400, 300], batch 256");
  sac->add_flag("--json", sacb.json, "Print JSON");
  sac->add_option("--seconds", sacb.seconds, "Measurement time")->check(CLI::PositiveNumber);
  sac->add_option("--threads", sacb.threads, "Compute threads (the sgemm reference uses as many)")
      ->check(CLI::PositiveNumber);
  static CollectBenchOptions colb;
  CLI::App* col = bench.add_subcommand("collect", "Collection steps/s; dataset write / load time and memory");
  col->add_flag("--json", colb.json, "Print JSON");
  col->add_option("--load-steps", colb.load_steps, "Steps of the dataset whose loading is timed")
      ->check(CLI::Range(1000, 100000000));
  static AllreduceBenchOptions arb;
  CLI::App* ar = bench.add_subcommand("allreduce", "Milliseconds per gradient all-reduce (start it with torchrun)");
  ar->add_flag("--json", arb.json, "Print JSON");
  ar->add_option("--dist-timeout", arb.timeout_s, "Seconds to wait for the peers")->check(CLI::Range(1.0, 86400.0));
  return {{s, [] { return run_softmax_bench(sm, std::cout); }},
          {ar, [] { return run_allreduce_bench(arb, std::cout); }},
          {col, [] { return run_collect_bench(colb, std::cout); }},
          {m, [] { return run_mlp_bench(mlp, std::cout); }},
          {e, [] { return run_env_bench(envb, std::cout); }},
          {sac, [] { return run_sac_bench(sacb, std::cout); }}};
}

Command train_command(CLI::App& app) {
  static TrainOptions tr;
  CLI::App* c = app.add_subcommand("train", "Train from a YAML config: softrl train CONFIG.yaml [key=value ...]");
  c->footer("\nOverrides are dotted key=value pairs (e.g. total_steps=100000 eval.episodes=20). "
            "softrl config ALGO [--env ID] > my.yaml writes a complete default config to start from; "
            "docs/config_keys.md lists every key.\n");
  c->add_option("config", tr.config_path, "CONFIG.yaml");
  c->add_option("overrides", tr.overrides, "dotted.key=value overrides");
  c->add_option("--run-dir", tr.run_dir, "Run directory (default runs/<env>-<algo>-seed<S>-<time>)");
  c->add_option("--resume", tr.resume_dir, "Continue RUN_DIR from its latest checkpoint");
  c->add_flag("!--no-progress", tr.progress, "No live progress line");
  c->add_option("--dist-timeout", tr.dist_timeout_s,
                "Under torchrun: seconds a process waits for its peers (joining, each all-reduce; rank 0's "
                "evaluations count) before it ends with exit 5 naming itself (default 300)")
      ->check(CLI::Range(1.0, 86400.0));
  return {c, [] {
            install_interrupt_handlers();
            return run_train(tr, std::cout, std::cerr);
          }};
}

Command eval_command(CLI::App& app) {
  static EvalOptions ev;
  CLI::App* c = app.add_subcommand("eval", "Evaluate a policy: RUN_DIR, CHECKPOINT or heuristic:ENV_ID");
  c->add_option("policy", ev.target, "RUN_DIR | CHECKPOINT | heuristic:ENV_ID")->required();
  c->add_option("--episodes", ev.episodes, "Episodes")->check(CLI::Range(1, 1000000));
  c->add_option("--seed", ev.seed,
                "Seed of the first episode; episode k uses seed + k (default 1000000: the seeds of training's "
                "evaluations, disjoint from training episodes)");
  c->add_flag("--stochastic", ev.stochastic, "Sample actions instead of the deterministic policy");
  c->add_option("--group", ev.group, "K sampled episodes from each start seed (--episodes of them): Pass@1 and Pass@K")
      ->check(CLI::Range(1, 100000));
  c->add_option("--threshold", ev.threshold,
                "A success's minimum return (default: the task's, e.g. 200) for the "
                "success rate and Pass@k")
      ->check(CLI::Validator(
          [](std::string& v) {
            // NaN and inf would make every episode a failure or a success without a word.
            const std::optional<double> x = parse_whole_double(v);
            return x && std::isfinite(*x) ? std::string() : "expected a finite return, got " + v;
          },
          "FINITE"));
  c->add_option("--record", ev.record, "Write episode 0 as an animated .gif (or its last frame as .png)");
  c->add_flag("--json", ev.json, "Print JSON");
  c->add_flag("!--no-report", ev.write_report, "Do not write the run's eval_report.json (e.g. when only recording)");
  c->add_option("--value-guided", ev.value_guided,
                "OREO runs: at every step sample K actions, simulate each one step from a snapshot of the "
                "environment, take the best by r + gamma V(s') (K extra env steps per decision)")
      ->check(CLI::Range(1, 1024));
  return {c, [] { return run_eval(ev, std::cout, std::cerr); }};
}

Command collect_command(CLI::App& app) {
  static CollectOptions co;
  CLI::App* c = app.add_subcommand(
      "collect", "Collect episodes into an HDF5 dataset: softrl collect CONFIG.yaml [key=value ...] --out DATASET");
  c->add_option("config", co.config_path, "CONFIG.yaml")->required();
  c->add_option("overrides", co.overrides, "dotted.key=value overrides");
  c->add_option("--out", co.out, "The dataset file to write (.hdf5)")->required();
  c->add_flag("--overwrite", co.overwrite, "Replace an existing dataset file (once the new one is complete)");
  c->add_flag("!--no-progress", co.progress, "No progress line");
  return {c, [] {
            install_interrupt_handlers();
            return run_collect(co, std::cout, std::cerr);
          }};
}

Command dataset_command(CLI::App& app) {
  static DatasetInfoOptions di;
  CLI::App* d = app.add_subcommand("dataset", "Inspect datasets: softrl dataset info DATASET [--json]");
  d->require_subcommand(1);
  CLI::App* i = d->add_subcommand("info", "Episodes, steps, groups and returns per behaviour source");
  i->add_option("dataset", di.path, "DATASET (.hdf5)")->required();
  i->add_flag("--json", di.json, "Print JSON");
  return {i, [] { return run_dataset_info(di, std::cout, std::cerr); }};
}

Command compare_command(CLI::App& app) {
  static CompareOptions co;
  CLI::App* c = app.add_subcommand(
      "compare", "Run a study (arms x tasks x seeds) and report it: softrl compare STUDY.yaml [key=value ...]");
  c->add_option("study", co.study_path, "STUDY.yaml (STUDY_DIR with --cell or --report)");
  c->add_option("overrides", co.overrides, "dotted.key=value overrides of the study");
  c->add_option("--study-dir", co.study_dir, "Where the study goes (default studies/<name>)");
  c->add_option("--resume", co.resume_dir, "Continue STUDY_DIR: finished cells are skipped, started ones resume");
  c->add_option("--jobs", co.jobs, "Cells at a time (default: one per core), one thread each")
      ->check(CLI::Range(0, 256));
  c->add_flag("--dry-run", co.dry_run, "List the cells and the steps left, run nothing");
  c->add_option(
      "--executor", co.executor,
      "local (default): cells train here, --jobs at a time; slurm: the unfinished cells go to Slurm as one job "
      "array, then a report job (scripts in STUDY_DIR/slurm/)");
  c->add_option("--slurm.partition", co.slurm.partition, "Slurm partition for the jobs (default: the cluster's)");
  c->add_option(
      "--slurm.time", co.slurm.time,
      "Time limit per cell (e.g. 02:00:00); a cell that reaches it checkpoints and resumes when re-submitted");
  c->add_option("--slurm.cpus-per-task", co.slurm.cpus_per_task,
                "CPUs per cell (default 1: a cell trains on one thread)")
      ->check(CLI::Range(1, 4096));
  c->add_option("--slurm.account", co.slurm.account, "Slurm account to charge");
  c->add_option("--slurm.sbatch-arg", co.slurm.sbatch_args,
                "Any other sbatch option for both jobs, repeatable, e.g. --slurm.sbatch-arg=--mem=4G")
      ->allow_extra_args(false);
  c->add_option("--cell", co.cell, "Train only cell I of the study in STUDY_DIR (what each Slurm array task runs)")
      ->check(CLI::Range(0L, 100000000L));
  c->add_flag(
      "--report", co.report,
      "Write the report of the study in STUDY_DIR once every cell has finished (what the Slurm report job runs)");
  return {c, [] {
            install_interrupt_handlers();
            return run_compare(co, std::cout, std::cerr);
          }};
}

Command report_command(CLI::App& app) {
  static ReportOptions ro;
  CLI::App* c =
      app.add_subcommand("report", "rliable statistics over run directories: softrl report RUN_DIR... [--out DIR]");
  c->add_option("run_dirs", ro.run_dirs, "RUN_DIR...")->required();
  c->add_option("--out", ro.out, "Also write summary.csv, summary.json and report.html into DIR");
  c->add_option("--last", ro.last_k, "Score = mean of the last K evaluations (default 1: the final one)")
      ->check(CLI::Range(1, 1000));
  c->add_flag("--best", ro.best, "Score = each run's best evaluation (checkpoints/best.pt) instead of the final one");
  c->add_flag("--normalize", ro.normalize, "Scores between random play (0) and the task's heuristic (1)");
  c->add_option("--metric", ro.metric,
                "Score = the last logged value of this training metric (metrics.csv), "
                "e.g. heldout_win_mass, else this number of the run's eval_report.json "
                "(softrl eval), e.g. pass_at_1, pass_at_k")
      ->excludes("--best")
      ->excludes("--normalize");
  return {c, [] { return run_report(ro, std::cout, std::cerr); }};
}

Command config_command(CLI::App& app) {
  static ConfigOptions co;
  CLI::App* c = app.add_subcommand(
      "config", "Print a commented default config: softrl config ALGO [--env ID]; the key reference: --markdown");
  c->add_option("algo", co.algo, "ALGO (omitted: list the algorithms)");
  c->add_option("--env", co.env, "The task (default: the algorithm's example task)");
  c->add_flag("--markdown", co.markdown, "Print every config's key reference as Markdown (docs/config_keys.md)");
  return {c, [] { return run_config_command(co, std::cout); }};
}

Command validate_command(CLI::App& app) {
  static ValidateOptions val;
  CLI::App* c =
      app.add_subcommand("validate-envs", "Heuristic scores of every task against Gymnasium's reference scores");
  c->add_option("--episodes", val.episodes, "Episodes per task")->check(CLI::Range(1, 1000000));
  c->add_option("--seed", val.seed, "First episode seed");
  c->add_option("--threads", val.threads, "Worker threads (default: all cores)")->check(CLI::Range(0, 64));
  c->add_flag("--json", val.json, "Print JSON");
  return {c, [] { return run_validate_envs(val, std::cout); }};
}
std::string joined_names(const auto& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

// What `softrl --help` ends with: the algorithms and tasks a config may name, and where keys live.
std::string help_footer() {
  return "\nAlgorithms (a config's `algo:`): " + joined_names(algo_names()) +
         "\nEnvironments (`env.id`): " + joined_names(softrl::envs::env_ids()) +
         "\n\nsoftrl config ALGO [--env ID] prints a complete default config; softrl config --markdown every key."
         "\nOverrides are dotted key=value pairs after the config, e.g. softrl train my.yaml total_steps=100000 "
         "sac.learning_rate=1e-3.";
}

// `--total_steps=100` (an SB3 / TRL reflex) is not an option: say how overrides are written.
void hint_dashed_overrides(int argc, char** argv, std::ostream& err) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos && eq > 2) {
      err << "softrl: overrides are key=value without dashes (e.g. " << a.substr(2) << ")\n";
      return;
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  softrl::setup_process(argv);
  CLI::App app{"softrl: reinforcement learning and preference optimization on a shared softmax core"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "softrl " SOFTRL_VERSION);
  app.footer(help_footer());
  CLI::App* bench = app.add_subcommand("bench", "Speed benchmarks (not tests)");
  bench->require_subcommand(1);
  std::vector<Command> commands = bench_commands(*bench);
  for (auto make : {train_command, eval_command, config_command, collect_command, dataset_command, compare_command,
                    report_command, validate_command})
    commands.push_back(make(app));
  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say that a subcommand is required
    std::string names;
    bool known = false;
    for (const CLI::App* s : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + s->get_name();
      known = known || s->get_name() == argv[1];
    }
    if (!known) {
      std::cerr << "softrl: unknown command '" << argv[1] << "'; commands: " << names << "\n";
      return kBadInput;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    if (rc != 0) hint_dashed_overrides(argc, argv, std::cerr);
    return rc == 0 ? 0 : 2;
  }
  for (const auto& c : commands)
    if (c.app->parsed()) return guarded(c.app->get_name().c_str(), c.run, std::cerr);
  return 0;
}
