#pragma once
// A training run's logs in its directory: metrics.csv and metrics.jsonl (whatever metric names the
// run reports: the CSV header comes from the first row, later rows fill the header's columns and
// leave missing values empty; JSON lines carry every pair, NaN as null), eval.csv (one row per
// evaluation: its statistics) and evaluations.csv (one row per evaluation episode: step, episode,
// seed, return, length; what RL Zoo's evaluations.npz keeps).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "agents/core/metrics.h"
#include "envs/rollout.h"

namespace softrl::apps {

class RunLogs {
 public:
  // A fresh run (resume_step empty) starts new files. A resumed run first drops the rows logged
  // after the checkpoint it resumes from (a run killed without a final checkpoint logged steps it
  // will now redo), so that every step appears once, and keeps the existing CSV header.
  RunLogs(const std::filesystem::path& run_dir, std::optional<int64_t> resume_step);
  // `row` starts with "step".
  void metrics(const agents::Metrics& row);
  void eval(int64_t step, const envs::GroupEvaluation& g);

 private:
  std::filesystem::path csv_path_, jsonl_path_, eval_path_, episodes_path_;
  std::ofstream csv_, jsonl_, eval_, episodes_;
  std::vector<std::string> columns_;  // empty until the header is known
};

// One row of a run's eval.csv: the evaluation's step and mean return.
struct EvalRecord {
  int64_t step = 0;
  double mean = 0;
};
// A run directory's eval.csv (empty when there is none yet); throws InputError naming the file
// when a row is not what eval() writes.
std::vector<EvalRecord> read_eval_log(const std::filesystem::path& run_dir);
// A run directory's metrics.csv: its columns ("step" first) and rows (empty cells NaN).
struct MetricLog {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
};
// Throws InputError naming the file when there is none.
MetricLog read_metric_log(const std::filesystem::path& run_dir);
// The last value logged for training metric `name` in a run directory's metrics.csv (NaN when it
// was never logged with a value); throws InputError naming the file when there is no such column.
double read_last_metric(const std::filesystem::path& run_dir, const std::string& name);

}  // namespace softrl::apps
