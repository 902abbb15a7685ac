#include "apps/run/run.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "apps/algos/registry.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/run/interrupts.h"
#include "apps/run/progress.h"
#include "apps/run/run_dir.h"
#include "apps/run/run_logs.h"
#include "common/atomic_file.h"
#include "common/distributed.h"
#include "common/fnv1a.h"
#include "common/runtime.h"
#include "envs/rollout.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

// Thrown out of an evaluation episode when a signal arrives, so that Ctrl-C is seen within one
// episode even in long evaluations.
struct Interrupted {};

bool crossed(int64_t before, int64_t after, int64_t every) { return every > 0 && after / every != before / every; }

// Sets the run's thread count (before anything computes) and returns its env's spec.
envs::EnvSpec prepare(const RunConfig& cfg, const RunOptions& opt) {
  if (opt.world_size > 1 && !find_algo(cfg.algo)->data_parallel)
    throw InputError("algo " + cfg.algo +
                     " does not run data-parallel yet (WORLD_SIZE=" + std::to_string(opt.world_size) + "); " +
                     algo_names_where([](const AlgoEntry& a) { return a.data_parallel; }) + " do");
  set_compute_threads(cfg.threads);
  return envs::make_env(cfg.env_id, cfg.env_options)->spec();
}

class RunDriver {
 public:
  RunDriver(const RunConfig& cfg, fs::path run_dir, const RunOptions& opt, std::ostream& out)
      : cfg_(cfg),
        dir_(std::move(run_dir)),
        opt_(opt),
        out_(out),
        env_spec_(prepare(cfg, opt)),
        training_(find_algo(cfg.algo)->build(cfg, env_spec_)),
        progress_(out, opt.progress, isatty(fileno(stdout)), cfg.total_steps) {
    result_.run_dir = dir_;
    result_.latest_checkpoint = dir_ / "checkpoints" / "latest.pt";
    result_.best_checkpoint = dir_ / "checkpoints" / "best.pt";
  }

  RunResult fresh() {
    training_.loop->begin(cfg_.seed);
    distributed::broadcast_from_rank0(training_.learner->trained_parameters());
    if (writer()) logs_.emplace(dir_, std::nullopt);
    return run();
  }

  RunResult resume() {
    agents::OpenedCheckpoint c = agents::open_checkpoint(result_.latest_checkpoint.string());
    agents::check_compatible(c.header, c.path, env_spec_);
    check_same_run(c);
    agents::restore_policy(training_.learner->policy(), c);
    try {
      torch::serialize::InputArchive learner = c.section("learner");
      training_.learner->load(learner);
      const std::string note = training_.loop->load(c);
      if (!note.empty()) out_ << "note: " << note << "\n";
      torch::serialize::InputArchive run = c.section("run");
      if (torch::Tensor p; run.try_read("progress", p)) {  // absent from the oldest checkpoints
        wall_before_ = p[0].item<double>();
        result_.best_eval = p[1].item<double>();
      }
      int64_t world = 1;  // absent from checkpoints made before data parallelism: one process
      if (torch::Tensor w; run.try_read("world_size", w)) world = w.item<int64_t>();
      if (world != opt_.world_size)
        throw InputError(
            c.path + " was trained by " + std::to_string(world) + " process(es); resume it with as many (" +
            (world == 1 ? std::string("without torchrun") : "torchrun --nproc-per-node " + std::to_string(world)) +
            "), not " + std::to_string(opt_.world_size) + ": the global batch and the data order depend on it");
      result_.best_eval = std::max(result_.best_eval, saved_best_eval());
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      throw agents::CheckpointError(c.path + ": does not match this run's learner (" + what.substr(0, 200) + ")");
    }
    result_.steps = training_.loop->steps();
    last_saved_step_ = result_.steps;
    // A run stopped during its final evaluation has its budget but not that evaluation: only the
    // evaluation is left to do.
    const std::vector<EvalRecord> evals = read_eval_log(dir_);
    if (result_.steps >= cfg_.total_steps && !evals.empty() && evals.back().step >= cfg_.total_steps) {
      result_.status = RunResult::Status::already_complete;
      out_ << dir_.string() << " is complete (" << result_.steps << " of " << cfg_.total_steps
           << " steps); evaluate it with: softrl eval " << dir_.string() << "\n";
      return result_;
    }
    if (writer()) logs_.emplace(dir_, result_.steps);
    out_ << "resumed " << dir_.string() << " at step " << result_.steps << "\n";
    return run();
  }

 private:
  double wall() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  bool writer() const { return opt_.rank == 0; }

  // Ranks stop together: a signal seen by any rank stops all of them at the same iteration, so
  // none waits in an all-reduce that the others never join. They agree every 16th update (a
  // collective costs about as much as a small update on loopback).
  bool stop_requested() const {
    const bool here =
        pending_signal() || (opt_.interrupt_after_steps >= 0 && training_.loop->steps() >= opt_.interrupt_after_steps);
    if (opt_.world_size == 1) return here;
    if (training_.loop->updates() % 16 != 0) return false;
    return distributed::all_reduce_sum(here ? 1 : 0) > 0;
  }

  RunResult run() {
    agents::Loop& loop = *training_.loop;
    const int64_t start_steps = loop.steps(), start_updates = loop.updates();
    while (loop.steps() < cfg_.total_steps) {
      if (stop_requested()) return interrupted();
      const int64_t before = loop.steps();
      try {
        iterate_checked();
      } catch (const StopRequested&) {  // a long phase stopped before it changed anything
        return interrupted();
      }
      const int64_t step = loop.steps();
      const bool last = step >= cfg_.total_steps;
      const double w = wall();
      if (!writer()) continue;
      if (crossed(before, step, cfg_.log_every) || last) log_row(w, step - start_steps, loop.updates() - start_updates);
      try {
        if (crossed(before, step, cfg_.eval_every) && !last) evaluate();
      } catch (const Interrupted&) {
        return interrupted();
      }
      if (crossed(before, step, cfg_.checkpoint_every) && !last) save_latest();
      progress_.update(w, step, loop.updates(), loop.progress_text(), last_eval_text_, last);
    }
    if (!writer()) {
      result_.steps = loop.steps();
      return result_;
    }
    progress_.finish_line();
    try {
      result_.final_eval = evaluate();
    } catch (const Interrupted&) {
      return interrupted();
    }
    save_latest();
    result_.steps = loop.steps();
    out_ << "done: " << result_.steps << " steps, " << loop.updates() << " updates in " << hms(wall())
         << "; final eval (" << cfg_.eval_episodes << " episodes) mean return " << result_.final_eval.mean << "\n"
         << "run directory: " << dir_.string()
         << " (config.yaml, metrics.csv, metrics.jsonl, eval.csv, checkpoints/latest.pt; checkpoints/best.pt: best "
            "evaluation, "
         << (std::isfinite(result_.best_eval) ? std::to_string(std::lround(result_.best_eval)) : std::string("-"))
         << ")\n";
    if (distributed::active()) print_sync_cost();
    return result_;
  }

  // best.pt may come from an evaluation after latest.pt was saved (a crash between the two): its
  // own score counts, so that a resumed run never replaces it with a worse policy.
  double saved_best_eval() const {
    if (!fs::exists(result_.best_checkpoint)) return -std::numeric_limits<double>::infinity();
    try {
      agents::OpenedCheckpoint best = agents::open_checkpoint(result_.best_checkpoint.string());
      torch::serialize::InputArchive run = best.section("run");
      return agents::read_tensor(run, "progress")[1].item<double>();
    } catch (const std::exception& e) {  // a damaged best.pt must not block the resume; it gets replaced
      out_ << "note: " << e.what() << "; best.pt will be rewritten at the next evaluation\n";
      return -std::numeric_limits<double>::infinity();
    }
  }

  // A resume continues the recorded run: config.yaml may differ from the checkpoint's config only
  // in total_steps (a run extended to train longer).
  void check_same_run(const agents::OpenedCheckpoint& c) const {
    RunConfig recorded = parse_config(c.header.config_yaml, c.path + " (embedded config)");
    recorded.total_steps = cfg_.total_steps;
    std::istringstream was(to_yaml(recorded)), now(to_yaml(cfg_));
    std::string differences;
    for (std::string a, b; std::getline(was, a) && std::getline(now, b);)
      if (a != b) differences += "\n  checkpoint: " + a + "\n  config.yaml: " + b;
    if (!differences.empty())
      throw InputError((dir_ / "config.yaml").string() + " differs from the run recorded in " + c.path +
                       " (only total_steps may change on resume):" + differences);
  }

  // An iteration that leaves non-finite parameters (or acts with them) ends the run: nothing is
  // saved, and the last good checkpoint is named.
  void iterate_checked() {
    const int64_t updates_before = training_.loop->updates();
    try {
      training_.loop->iterate();
    } catch (const envs::EnvError&) {
      check_finite();  // a NaN action comes from a diverged policy
      throw;
    }
    if (training_.loop->updates() != updates_before) check_finite();  // only an update changes parameters
  }

  void check_finite() {
    if (training_.learner->finite()) return;
    throw DivergedError("the run diverged at step " + std::to_string(training_.loop->steps()) +
                        " (non-finite parameters; lower the learning rate or check the config); nothing was saved "
                        "after it; the last good checkpoint is " +
                        (last_saved_step_ < 0 ? std::string("none")
                                              : result_.latest_checkpoint.string() + " (step " +
                                                    std::to_string(last_saved_step_) + ")"));
  }

  RunResult interrupted() {
    if (writer()) save_latest();
    progress_.finish_line();
    out_ << "interrupted at step " << training_.loop->steps() << ": checkpoint saved to "
         << result_.latest_checkpoint.string() << "; continue with: softrl train --resume " << dir_.string() << "\n";
    result_.status = RunResult::Status::interrupted;
    result_.exit_code = 128 + (pending_signal() ? pending_signal() : SIGINT);
    result_.steps = training_.loop->steps();
    return result_;
  }

  void log_row(double w, int64_t steps_this_process, int64_t updates_this_process) {
    agents::Metrics row = {{"step", static_cast<double>(training_.loop->steps())}, {"wall_time", wall_before_ + w}};
    const agents::Metrics m = training_.loop->metrics();
    row.insert(row.end(), m.begin(), m.end());
    row.emplace_back("steps_per_s", steps_this_process / std::max(w, 1e-9));
    row.emplace_back("updates_per_s", updates_this_process / std::max(w, 1e-9));
    logs_->metrics(row);
  }

  // The deterministic policy on seeds kEvalSeedBase + k, disjoint from training's.
  ReturnStats evaluate() {
    const double started = wall();
    const int64_t step = training_.loop->steps();
    auto env = envs::make_env(cfg_.env_id, cfg_.env_options);
    const std::unique_ptr<envs::Policy> actor = make_actor(cfg_, training_.learner->policy(), true);
    const envs::StepObserver stop_on_signal = [](int, const envs::Env&, const envs::StepResult*) {
      if (pending_signal()) throw Interrupted{};
    };
    const envs::GroupEvaluation g =
        envs::evaluate_groups(*env, *actor, static_cast<int>(cfg_.eval_episodes), 1, envs::kEvalSeedBase, stop_on_signal);
    const ReturnStats& s = g.stats;
    logs_->eval(step, g);
    const bool best = s.mean > result_.best_eval;
    if (best) {
      result_.best_eval = s.mean;
      save(result_.best_checkpoint, false);  // best.pt is for evaluation: no replay buffer
    }
    last_eval_text_ = std::to_string(static_cast<int>(s.mean)) + " @" + std::to_string(step);
    progress_.evaluation(step, s, wall() - started, best);
    return s;
  }

  void save_latest() {
    save(result_.latest_checkpoint, cfg_.save_replay_buffer);
    last_saved_step_ = training_.loop->steps();
  }

  void save(const fs::path& path, bool with_data) {
    check_finite();
    agents::CheckpointHeader h = agents::CheckpointHeader::for_env(env_spec_);
    h.algo = cfg_.algo;
    h.config_yaml = to_yaml(cfg_);
    h.env_steps = training_.loop->steps();
    agents::Learner& learner = *training_.learner;
    const agents::Loop& loop = *training_.loop;
    const double progress[2] = {wall_before_ + wall(), result_.best_eval};
    agents::write_checkpoint(path.string(), h,
                             {{"policy", [&](auto& ar) { learner.policy().save(ar); }},
                              {"learner", [&](auto& ar) { learner.save(ar); }},
                              {"loop", [&](auto& ar) { loop.save(ar, with_data); }},
                              {"run", [&](auto& ar) {
                                 ar.write("progress", torch::tensor({progress[0], progress[1]}, torch::kFloat64));
                                 ar.write("world_size", torch::tensor(static_cast<int64_t>(opt_.world_size)));
                               }}});
  }

  const RunConfig cfg_;
  const fs::path dir_;
  const RunOptions opt_;
  std::ostream& out_;
  const envs::EnvSpec env_spec_;
  agents::Training training_;
  ProgressPrinter progress_;
  std::optional<RunLogs> logs_;
  RunResult result_;
  // Rank 0's share of waiting for and reducing gradients, over this process's run (not before a resume).
  void print_sync_cost() const {
    const distributed::SyncStats st = distributed::sync_stats();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double calls = static_cast<double>(std::max<int64_t>(1, st.calls));
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "data parallel: %d processes; gradient all-reduce %lld calls of %.2f MB, %.3f ms each, %.1f s in "
                  "all (%.1f %% of this process's %.1f s)\n",
                  opt_.world_size, static_cast<long long>(st.calls), static_cast<double>(st.bytes) / calls / 1e6,
                  1e3 * st.seconds / calls, st.seconds, 100.0 * st.seconds / std::max(elapsed, 1e-9), elapsed);
    out_ << buf;
  }

  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  double wall_before_ = 0;  // wall time of the run's earlier processes (before a resume)
  int64_t last_saved_step_ = -1;
  std::string last_eval_text_ = "-";
};

// The files a resolved config names (datasets, checkpoints to start from), as lines "file PATH:
// SIZE bytes, FNV-1a HASH": ranks on different machines must read the same data, not only the
// same path.
std::string named_files(const std::string& yaml) {
  std::string out;
  const std::function<void(const YAML::Node&)> visit = [&](const YAML::Node& n) {
    if (n.IsMap())
      for (const auto& kv : n) visit(kv.second);
    else if (n.IsSequence())
      for (const auto& v : n) visit(v);
    else if (n.IsScalar() && n.Scalar().size() < 4096 && fs::is_regular_file(n.Scalar())) {
      std::ifstream in(n.Scalar(), std::ios::binary);
      Fnv1a hash;
      uint64_t size = 0;
      char buf[1 << 16];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        hash.update(buf, static_cast<size_t>(in.gcount()));
        size += static_cast<uint64_t>(in.gcount());
      }
      out += "file " + n.Scalar() + ": " + std::to_string(size) + " bytes, FNV-1a " + std::to_string(hash.value()) + "\n";
    }
  };
  visit(YAML::Load(yaml));
  return out;
}

// Under torchrun every rank must train the same run: ranks whose resolved configs (or the files
// they name) differ would meet in collectives of different shapes (Gloo aborts) or learn from
// other data. Checked before the first collective of the run; every rank learns whether any
// differs, so all stop (exit 2) together.
void agree_on_config(const RunConfig& cfg, const RunOptions& opt) {
  if (opt.world_size <= 1) return;
  const std::string yaml = to_yaml(cfg), mine = yaml + named_files(yaml), first = distributed::text_of_rank0(mine);
  std::string difference;
  std::istringstream a(first), b(mine);
  for (std::string la, lb;;) {
    const bool more_a = static_cast<bool>(std::getline(a, la)), more_b = static_cast<bool>(std::getline(b, lb));
    if (!more_a && !more_b) break;
    if (!more_a) la = "(nothing)";
    if (!more_b) lb = "(nothing)";
    if (la != lb) {
      difference = "rank 0 has '" + la + "', rank " + std::to_string(opt.rank) + " has '" + lb + "'";
      break;
    }
  }
  const int64_t differing = distributed::all_reduce_sum(difference.empty() ? 0 : 1);
  if (differing == 0) return;
  throw InputError(difference.empty() ? std::to_string(differing) + " other rank(s) resolved another config than rank 0"
                                      : "this rank's config differs from rank 0's: " + difference);
}

// A signal during the set-up (a reference policy's behaviour cloning): nothing was trained, so
// nothing is saved; a resumed run's checkpoint is as it was.
RunResult stopped_during_setup(const fs::path& dir, std::ostream& out) {
  out << "interrupted while setting up the run, before its first step: nothing saved in " << dir.string() << "\n";
  RunResult r;
  r.status = RunResult::Status::interrupted;
  r.run_dir = dir;
  r.exit_code = 128 + (pending_signal() ? pending_signal() : SIGINT);
  return r;
}

}  // namespace

RunResult start_run(const RunConfig& cfg, const fs::path& run_dir, const RunOptions& opt, std::ostream& out) {
  clear_pending_signal();
  agree_on_config(cfg, opt);
  if (!opt.pick_free_name && fs::exists(run_dir / "checkpoints" / "latest.pt"))  // before building anything
    throw InputError(run_dir.string() + " already holds a run; use --resume " + run_dir.string() +
                     " or choose another --run-dir");
  if (opt.rank != 0) {  // the run directory is rank 0's
    RunDriver driver(cfg, run_dir, opt, out);
    return driver.fresh();
  }
  const ClaimedRunDir claimed = claim_new_run_dir(run_dir, opt.pick_free_name);
  std::optional<RunDriver> made;
  try {
    made.emplace(cfg, claimed.dir, opt, out);
  } catch (const StopRequested&) {
    claimed.release_unused();
    return stopped_during_setup(run_dir, out);
  } catch (...) {
    claimed.release_unused();
    throw;
  }
  RunDriver& driver = *made;
  fs::create_directories(claimed.dir / "checkpoints");
  write_file_atomic(claimed.dir / "config.yaml", to_yaml(cfg));
  try {
    return driver.fresh();
  } catch (const StopRequested&) {  // during the learner's own set-up (a reference policy's cloning)
    fs::remove(claimed.dir / "config.yaml");
    fs::remove(claimed.dir / "checkpoints");
    claimed.release_unused();
    return stopped_during_setup(run_dir, out);
  }
}

RunResult resume_run(const fs::path& run_dir, const RunOptions& opt, std::ostream& out) {
  clear_pending_signal();
  if (!fs::is_directory(run_dir)) throw InputError(run_dir.string() + ": no such run directory");
  std::optional<RunDirLock> lock;
  if (opt.rank == 0) lock.emplace(run_dir);  // the other ranks only read it
  const RunConfig cfg = load_config((run_dir / "config.yaml").string());
  agree_on_config(cfg, opt);
  if (!fs::exists(run_dir / "checkpoints" / "latest.pt"))
    throw InputError(run_dir.string() + ": no checkpoints/latest.pt to resume from");
  std::optional<RunDriver> driver;
  try {
    driver.emplace(cfg, run_dir, opt, out);
  } catch (const StopRequested&) {
    return stopped_during_setup(run_dir, out);
  }
  return driver->resume();
}

}  // namespace softrl::apps
