#pragma once
// A training run's logs in its directory: metrics.csv, metrics.jsonl and eval.csv.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>

#include "agents/sac.h"
#include "apps/eval_command.h"

namespace softrl::apps {

struct MetricsRow {
  int64_t step = 0, episodes = 0;
  double wall_time = 0, ep_return_mean = 0, ep_length_mean = 0;  // NaN before the first finished episode
  agents::SacMetrics sac;
  double steps_per_s = 0, updates_per_s = 0;
};

class RunLogs {
 public:
  // A fresh run (resume_step empty) starts the files with their headers. A resumed run first drops
  // the rows logged after the checkpoint it resumes from (a run killed without a final checkpoint
  // logged steps it will now redo), so that every step appears once.
  RunLogs(const std::filesystem::path& run_dir, std::optional<int64_t> resume_step);
  void metrics(const MetricsRow& row);
  void eval(int64_t step, const ReturnStats& s);

 private:
  std::ofstream csv_, jsonl_, eval_;
};

}  // namespace softrl::apps
