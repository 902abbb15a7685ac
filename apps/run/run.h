#pragma once
// The one training driver for every learner: the run directory, resume, SIGINT / SIGTERM
// checkpoints, periodic evaluation and best.pt, logs and the progress line. It drives a loop
// built by the algorithm's registry entry and knows nothing of any algorithm. Callable as a
// library function (`compare` runs many).
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <limits>

#include "apps/config/run_config.h"
#include "apps/run/interrupts.h"
#include "common/stats.h"

namespace softrl::apps {

struct RunOptions {
  bool progress = true;                // progress line
  int64_t interrupt_after_steps = -1;  // behave as if SIGINT arrived at this step (tests)
  bool pick_free_name = false;         // start_run: take dir-2, dir-3, ... when dir is taken
  // Data parallel (torchrun; common/distributed.h): rank 0 alone owns and writes the run directory
  // (logs, evaluations, checkpoints); the others train beside it and write nothing.
  int rank = 0;
  int world_size = 1;
};

struct RunResult {
  enum class Status { finished, interrupted, already_complete };
  Status status = Status::finished;
  std::filesystem::path run_dir, latest_checkpoint, best_checkpoint;
  int exit_code = 0;  // 0, or 128 + the signal that interrupted the run (130 for a test interrupt)
  int64_t steps = 0;
  ReturnStats final_eval;  // when finished
  double best_eval = -std::numeric_limits<double>::infinity();
};

// A new run in `run_dir` (new or empty; see claim_new_run_dir), locked while it runs. Throws InputError (bad config or
// run directory), IoError, or DivergedError when the parameters become non-finite (nothing non-finite is saved; the
// message names the last good checkpoint).
RunResult start_run(const RunConfig& cfg, const std::filesystem::path& run_dir, const RunOptions& opt,
                    std::ostream& out);
// Continues the run in `run_dir` from checkpoints/latest.pt with its own config.yaml.
RunResult resume_run(const std::filesystem::path& run_dir, const RunOptions& opt, std::ostream& out);

}  // namespace softrl::apps
