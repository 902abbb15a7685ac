#pragma once
// `softrl compare STUDY.yaml [key=value ...] [--study-dir DIR] [--jobs N] [--dry-run]` and
// `softrl compare --resume STUDY_DIR`: every cell (arm x task x seed) is an ordinary run directory
// under STUDY_DIR/runs, trained by a child `softrl train` (one thread each, N at a time);
// finished cells are skipped on resume and interrupted ones resume from their checkpoints. At the
// end: summary.csv, summary.json and report.html (apps/study_report.h) in STUDY_DIR.
// `--executor slurm` submits the unfinished cells to Slurm instead (apps/slurm_executor.h), whose
// jobs run `softrl compare STUDY_DIR --cell i` (one cell) and `softrl compare STUDY_DIR --report`.
#include <iosfwd>
#include <string>
#include <vector>

#include "apps/study/slurm_executor.h"

namespace softrl::apps {

struct CompareOptions {
  std::string study_path;
  std::vector<std::string> overrides;
  std::string study_dir;  // default studies/<name>
  std::string resume_dir;
  int jobs = 0;  // 0: one per core
  bool dry_run = false;
  std::string executor = "local";  // local | slurm
  SlurmOptions slurm;
  long cell = -1;       // >= 0: run only this cell of the study in STUDY_DIR (a Slurm array task)
  bool report = false;  // write the report of the study in STUDY_DIR from its finished cells
};

// Exit codes: 0 every cell finished (or, with slurm, the jobs were submitted), 2 bad input,
// 130 / 143 interrupted (cells keep their checkpoints), the exit code of the first cell that
// failed, or 1 for --report while cells are unfinished.
int run_compare(const CompareOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
