#include "apps/commands/compare_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <ostream>
#include <thread>

#include "apps/algos/run_config_yaml.h"
#include "apps/commands/command_boundary.h"
#include "apps/run/interrupts.h"
#include "apps/run/progress.h"
#include "apps/run/run_dir.h"
#include "apps/study/report_html.h"
#include "apps/study/study_config.h"
#include "apps/study/study_report.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/runtime.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

using clock_type = std::chrono::steady_clock;

// A cell's state on disk: finished (its final evaluation logged), started (a checkpoint to resume
// from), or new.
enum class CellState { fresh, started, finished };

CellState state_of(const fs::path& dir) {
  if (!fs::exists(dir / "config.yaml")) return CellState::fresh;
  const RunConfig cfg = load_config((dir / "config.yaml").string());
  const std::vector<EvalRecord> evals = read_eval_log(dir);
  if (!evals.empty() && evals.back().step >= cfg.total_steps) return CellState::finished;
  return fs::exists(dir / "checkpoints" / "latest.pt") ? CellState::started : CellState::fresh;
}

// `softrl ARGS` with stdout and stderr into `log` (appended).
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_s = {"softrl"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw IoError("cannot start a cell: fork failed");
  if (pid == 0) {
    // A cell dies with its study: SIGTERM (it saves its checkpoint) when compare ends, however.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(128 + SIGTERM);  // compare was gone before the line above
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, STDOUT_FILENO), dup2(fd, STDERR_FILENO), close(fd);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  return pid;
}

struct Running {
  size_t cell;
  clock_type::time_point started;
};

// The cells still running when run_study leaves early (an error): each is stopped at its
// checkpoint (SIGTERM) and reaped, so that no cell trains on after its study has failed.
struct StopCellsOnExit {
  std::map<pid_t, Running>& running;
  ~StopCellsOnExit() {
    for (const auto& [pid, r] : running) kill(pid, SIGTERM);
    for (const auto& [pid, r] : running) waitpid(pid, nullptr, 0);
  }
};

// The cells (indices into study.cells()) that have not finished.
std::vector<size_t> unfinished_cells(const Study& study, const fs::path& dir) {
  const std::vector<StudyCell> cells = study.cells();
  std::vector<size_t> todo;
  for (size_t i = 0; i < cells.size(); ++i)
    if (state_of(dir / cells[i].dir) != CellState::finished) todo.push_back(i);
  return todo;
}

// Trains the unfinished cells among `only` (all cells when empty), `jobs` at a time.
int run_study(const Study& study, const fs::path& dir, int jobs, std::ostream& out,
              const std::vector<size_t>& only = {}) {
  const std::vector<StudyCell> cells = study.cells();
  fs::create_directories(dir / "logs");
  std::vector<size_t> todo;
  for (size_t i : unfinished_cells(study, dir))
    if (only.empty() || std::find(only.begin(), only.end(), i) != only.end()) todo.push_back(i);
  out << study.name << ": " << cells.size() << " cells (" << study.arms.size() << " arms x "
      << std::max<size_t>(1, study.tasks.size()) << " tasks x " << study.seeds.size() << " seeds), "
      << cells.size() - todo.size() << " already finished, " << jobs << " at a time\n"
      << std::flush;
  std::map<pid_t, Running> running;
  const StopCellsOnExit stop_cells{running};
  size_t next = 0, done = cells.size() - todo.size();
  int failure = 0;
  bool stopping = false;
  double cell_seconds = 0;
  int timed = 0;
  const auto t0 = clock_type::now();
  while ((!stopping && next < todo.size()) || !running.empty()) {
    if (pending_signal() && !stopping) {
      stopping = true;
      for (const auto& [pid, r] : running) kill(pid, SIGINT);  // each saves its checkpoint
      out << "interrupted: stopping " << running.size() << " running cell(s) at their checkpoints\n" << std::flush;
    }
    while (!stopping && next < todo.size() && static_cast<int>(running.size()) < jobs) {
      const StudyCell& c = cells[todo[next]];
      const fs::path cell_dir = dir / c.dir,
                     log = dir / "logs" / (fs::path(c.dir).lexically_relative("runs").string() + ".log");
      fs::create_directories(log.parent_path());
      std::vector<std::string> args;
      if (state_of(cell_dir) == CellState::started) {
        args = {"train", "--resume", cell_dir.string(), "--no-progress"};
      } else {
        const StudyArm& arm =
            *std::find_if(study.arms.begin(), study.arms.end(), [&](const StudyArm& a) { return a.name == c.arm; });
        fs::remove_all(cell_dir);  // a cell that never reached its first checkpoint starts over
        fs::create_directories(cell_dir.parent_path());
        args = {"train", arm.config};
        args.insert(args.end(), c.overrides.begin(), c.overrides.end());
        args.insert(args.end(), {"--run-dir", cell_dir.string(), "--no-progress"});
      }
      running[spawn(args, log)] = {todo[next++], clock_type::now()};
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const Running r = running.at(pid);
    running.erase(pid);
    const StudyCell& c = cells[r.cell];
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const double secs = std::chrono::duration<double>(clock_type::now() - r.started).count();
    const std::string label = c.arm + (c.task.empty() ? "" : " " + c.task) + " seed " + std::to_string(c.seed);
    if (code == 0) {
      ++done, cell_seconds += secs, ++timed;
      const std::vector<EvalRecord> ev = read_eval_log(dir / c.dir);
      const double eta = (cell_seconds / timed) * static_cast<double>(todo.size() - next + running.size()) / jobs;
      out << "[" << done << "/" << cells.size() << "] " << label << ": final eval "
          << (ev.empty() ? std::string("-") : json_number(ev.back().mean)) << " (" << hms(secs) << ") | running "
          << running.size() << ", left " << todo.size() - next << ", ETA " << hms(eta) << "\n"
          << std::flush;
    } else if (!stopping || code != 130) {
      if (!stopping && !failure) failure = code;
      out << "cell " << label << " " << (stopping ? "stopped" : "failed") << " (exit " << code << "), see "
          << (dir / "logs").string() << "\n"
          << std::flush;
    }
  }
  out << "study time " << hms(std::chrono::duration<double>(clock_type::now() - t0).count()) << "\n";
  if (stopping) return 128 + pending_signal();
  return failure;
}

// Records one evaluation episode of each arm's best run (`softrl eval --record`) into gifs/,
// leaving the run's own eval_report.json (e.g. Pass@k) alone.
void record_best_runs(Report& r, const fs::path& dir) {
  fs::create_directories(dir / "gifs");
  for (const auto& arm : r.arms) {
    const RunRecord* best = nullptr;
    for (const auto& run : r.runs)
      if (run.arm == arm && run.complete && (!best || run.score > best->score)) best = &run;
    fs::path gif;
    if (best) {
      gif = dir / "gifs" / (arm + ".gif");
      int status = 0;
      const fs::path policy = best->best ? best->dir / "checkpoints" / "best.pt" : best->dir;
      waitpid(spawn({"eval", policy.string(), "--episodes", "1", "--record", gif.string(), "--no-report"},
                    dir / "logs" / "gifs.log"),
              &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) gif.clear();
    }
    r.gifs.push_back(gif);
  }
}

int report_study(const Study& study, const fs::path& dir, std::ostream& out) {
  std::vector<RunRecord> runs;
  for (const StudyCell& c : study.cells())
    if (fs::exists(dir / c.dir / "config.yaml")) runs.push_back(read_run(dir / c.dir, c.arm, study.last_k, study.best));
  Report r =
      build_report(runs, {.last_k = study.last_k,
                          .normalize = study.normalize,
                          .normalize_episodes = study.eval_episodes > 0 ? static_cast<int>(study.eval_episodes) : 100,
                          .score = score_rule(study.last_k, study.best, "")});
  record_best_runs(r, dir);
  out << report_table(r);
  write_report(r, dir, study.name, study_yaml(study));
  out << "wrote " << (dir / "summary.csv").string() << ", summary.json and report.html\n";
  return 0;
}

// `--cell I` and `--report` (the jobs `--executor slurm` submits) work on an existing study directory.
int study_dir_job(const CompareOptions& opt, std::ostream& out) {
  if (opt.cell >= 0 && opt.report) throw InputError("--cell and --report are separate jobs: give one of them");
  if (!opt.overrides.empty())
    throw InputError("--cell and --report take no overrides (the study keeps its study.yaml)");
  const std::string given = !opt.resume_dir.empty() ? opt.resume_dir : opt.study_path;
  const fs::path dir = given;
  if (given.empty() || !fs::is_regular_file(dir / "study.yaml"))
    throw InputError((given.empty() ? std::string("--cell/--report") : given) +
                     ": expected a study directory (one holding the study.yaml that softrl compare wrote)");
  const Study study = load_study((dir / "study.yaml").string());
  const std::vector<StudyCell> cells = study.cells();
  if (opt.cell >= 0) {
    if (static_cast<size_t>(opt.cell) >= cells.size())
      throw InputError("--cell " + std::to_string(opt.cell) + ": the study in " + dir.string() + " has cells 0-" +
                       std::to_string(cells.size() - 1));
    return run_study(study, dir, 1, out, {static_cast<size_t>(opt.cell)});
  }
  const std::vector<size_t> todo = unfinished_cells(study, dir);
  if (!todo.empty()) {
    out << study.name << ": " << todo.size() << " of " << cells.size() << " cells unfinished, no report written:\n";
    for (size_t i : todo) out << "  cell " << i << ": " << cells[i].dir << "\n";
    out << "re-submit them with: softrl compare --resume " << dir.string() << " --executor slurm\n";
    return 1;
  }
  return report_study(study, dir, out);
}

bool slurm_options_given(const SlurmOptions& s) {
  return !s.partition.empty() || !s.time.empty() || !s.account.empty() || !s.sbatch_args.empty() ||
         s.cpus_per_task != 1;
}

int compare(const CompareOptions& opt, std::ostream& out) {
  if (opt.executor != "local" && opt.executor != "slurm")
    throw InputError("--executor: expected local or slurm, got '" + opt.executor + "'");
  if (opt.executor != "slurm" && slurm_options_given(opt.slurm))
    throw InputError("--slurm.* options need --executor slurm");
  if (opt.cell >= 0 || opt.report) return study_dir_job(opt, out);
  const bool resume = !opt.resume_dir.empty();
  if (resume && (!opt.study_path.empty() || !opt.overrides.empty()))
    throw InputError("--resume takes no STUDY.yaml or overrides (the study keeps its study.yaml)");
  if (!resume && opt.study_path.empty()) throw InputError("give a STUDY.yaml or --resume STUDY_DIR");
  const fs::path dir =
      resume ? fs::path(opt.resume_dir) : (opt.study_dir.empty() ? fs::path() : fs::path(opt.study_dir));
  const Study study = load_study(resume ? (dir / "study.yaml").string() : opt.study_path, opt.overrides);
  const fs::path study_dir = dir.empty() ? fs::path("studies") / study.name : dir;
  const int jobs = resolve_threads(opt.jobs);
  if (opt.dry_run) {
    int64_t steps = 0;
    for (const StudyCell& c : study.cells()) {
      const CellState s = state_of(study_dir / c.dir);
      const RunConfig cfg = load_config(
          std::find_if(study.arms.begin(), study.arms.end(), [&](const StudyArm& a) { return a.name == c.arm; })
              ->config,
          c.overrides);
      if (s != CellState::finished) steps += cfg.total_steps;
      out << (s == CellState::finished  ? "done    "
              : s == CellState::started ? "resume  "
                                        : "new     ")
          << c.dir << "  (" << cfg.algo << ", " << cfg.env_id << ", " << cfg.total_steps << " steps)\n";
    }
    out << study.cells().size() << " cells; " << steps << " steps left to run, " << jobs << " cells at a time\n";
    return 0;
  }
  if (!resume && fs::exists(study_dir / "study.yaml"))
    throw InputError(study_dir.string() + " already holds a study; use --resume " + study_dir.string() +
                     " or choose another --study-dir");
  fs::create_directories(study_dir);
  const RunDirLock lock(study_dir);  // one compare at a time per study directory
  if (!resume) write_file_atomic(study_dir / "study.yaml", study_yaml(study), /*replace=*/false);
  if (opt.executor == "slurm")
    return submit_to_slurm(study_dir, study.name, unfinished_cells(study, study_dir), opt.slurm, out);
  const int code = run_study(study, study_dir, jobs, out);
  if (code == 0) report_study(study, study_dir, out);
  return code;
}

}  // namespace

int run_compare(const CompareOptions& opt, std::ostream& out, std::ostream& err) {
  clear_pending_signal();
  return guarded(
      "compare", [&] { return compare(opt, out); }, err);
}

}  // namespace softrl::apps
