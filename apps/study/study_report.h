#pragma once
// Aggregating run directories the way rliable recommends (Agarwal et al. 2021): per arm and task
// the mean, median, IQM and optimality gap of the runs' scores with stratified bootstrap 95 %
// intervals, the probability of improvement between arms, performance profiles and IQM learning
// curves. Used by `softrl report DIR...` and by `softrl compare` at the end of a study.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/run/run_logs.h"
#include "common/stats.h"

namespace softrl::apps {

struct RunRecord {
  std::filesystem::path dir;
  std::string arm, task;  // the arm's name; the env id
  uint64_t seed = 0;
  int64_t total_steps = 0;
  double threshold = 0;  // the task's success threshold (reward_threshold)
  std::vector<EvalRecord> evals;
  MetricLog metrics;  // its metrics.csv (empty when it has none)
  bool complete = false;  // its final evaluation (at total_steps) is logged
  double score = 0;       // the mean of its last `last_k` evaluations, its best, or a training metric
                          // (then the optimality gap is taken below 1)
  bool best = false;      // scored (and recorded) by its best evaluation / checkpoints/best.pt
  bool share = false;     // the score is a normalised return or a metric, not a raw return
};

struct ReportSettings {
  int last_k = 1;  // score = mean of the last k evaluations (1: the final evaluation)
  // Scores as (score - random) / (heuristic - random) per task, both measured here on the
  // evaluation seeds; the optimality gap is then taken below 1 (the heuristic), as rliable's.
  bool normalize = false;
  int normalize_episodes = 100;
  int bootstrap_reps = 2000;
  std::string score = "the mean return of the final evaluation";  // what a score is (score_rule)
  uint64_t seed = 0;
};

// The task of the rows that aggregate every task of a multi-task study whose scores share a scale
// (normalised returns or metrics in [0, 1]; raw returns of different tasks do not), as rliable pools
// its runs x tasks matrix.
inline constexpr const char* kAllTasks = "all tasks";

struct ArmTaskRow {
  std::string arm, task;
  int runs = 0;
  double threshold = 0;
  bool share = false;                          // normalised returns or metrics: printed with three decimals
  Interval mean, median, iqm, optimality_gap;  // optimality gap below the task's threshold
};

struct PairRow {
  std::string x, y;
  Interval probability;  // P(X > Y), averaged over the tasks both have
};

struct CurveRow {
  std::string arm, task;
  std::vector<int64_t> steps;  // evaluation steps every run of the arm has reached
  std::vector<Interval> iqm;   // IQM of the runs' evaluation means there, with its interval
};

// A training metric's curve (a metrics.csv column): the mean over the arm's complete runs of their
// k-th logged values, at the mean of their steps.
struct MetricCurve {
  std::string arm, task, metric;
  std::vector<int64_t> steps;
  std::vector<double> mean;
};

struct Normalizer {
  std::string task;
  double random = 0, heuristic = 0;  // mean returns over the evaluation seeds
};

struct Report {
  std::vector<Normalizer> normalizers;  // empty: raw returns
  std::string score;                    // what a score is (ReportSettings::score)
  int bootstrap_reps = 0;               // the intervals' resamples and their seed
  uint64_t bootstrap_seed = 0;
  std::vector<RunRecord> runs;
  std::vector<std::string> arms, tasks;  // in first-seen order
  std::vector<ArmTaskRow> rows;
  std::vector<PairRow> pairs;
  std::vector<CurveRow> curves;
  std::vector<MetricCurve> metric_curves;
  std::vector<std::vector<double>> profile_thresholds;     // [task][k], shared by the arms
  std::vector<std::vector<std::vector<double>>> profiles;  // [task][arm][threshold]
  // Per arm: a recorded episode (GIF) of its best run's policy, embedded in report.html ("" if none).
  std::vector<std::filesystem::path> gifs;
};

// Reads a run directory (config.yaml, eval.csv); `arm` empty: named by report_arm_names().
// best: the score is the run's best evaluation (the one checkpoints/best.pt was saved at).
// metric: the score is instead the last logged value of that training metric (metrics.csv), e.g. a
// preference learner's heldout_win_mass.
RunRecord read_run(const std::filesystem::path& dir, const std::string& arm, int last_k, bool best = false,
                   const std::string& metric = "");
// The arm of a run directory inside a `softrl compare` study (STUDY/runs/ARM/CELL), "" otherwise.
std::string study_arm_of(const std::filesystem::path& run_dir);
// Names runs without arm names after their algorithm, plus the config keys that differ between
// runs of that algorithm (seed excluded): "sac", or "sac sac.ent_coef=0.05".
void name_arms(std::vector<RunRecord>& runs);
// Runs that are not complete are left out of the statistics (listed in the report as such).
Report build_report(std::vector<RunRecord> runs, const ReportSettings& settings);
// What a run's score is, as the report states it: the last logged `metric`, the best evaluation, or
// the mean of the last `last_k` evaluations.
std::string score_rule(int last_k, bool best, const std::string& metric);

// The terminal table.
std::string report_table(const Report& r);
// summary.csv and summary.json into `dir` (atomic writes); report_html.h's write_report adds the page.
void write_summary(const Report& r, const std::filesystem::path& dir, const std::string& title);

}  // namespace softrl::apps
