#pragma once
// `softrl train`: argument handling around the run driver (apps/run.h).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct TrainOptions {
  std::string config_path;             // for a new run
  std::vector<std::string> overrides;  // dotted.key=value
  std::string run_dir;                 // default runs/<env>-<algo>-seed<S>-<time>
  std::string resume_dir;              // continue this run from its latest checkpoint
  bool progress = true;                // live progress line
  int64_t interrupt_after_steps = -1;  // behave as if SIGINT arrived at this step (tests)
  double dist_timeout_s = 300;         // under torchrun: the longest wait for a peer
};

// Under torchrun (WORLD_SIZE > 1) the processes train one run data-parallel over c10d (Gloo):
// rank 0 owns the run directory and prints; the others print nothing.
// Exit codes: 0 done, 2 bad input, 130 interrupted (after saving a checkpoint), 5 a peer died or
// hung past --dist-timeout.
int run_train(const TrainOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
