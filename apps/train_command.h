#pragma once
// `softrl train`: runs a config to completion with metrics, evaluations, checkpoints, resume and
// a checkpoint on SIGINT / SIGTERM.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct TrainOptions {
  std::string config_path;               // for a new run
  std::vector<std::string> overrides;    // dotted.key=value
  std::string run_dir;                   // default runs/<env>-sac-seed<S>-<time>
  std::string resume_dir;                // continue this run from its latest checkpoint
  bool progress = true;                  // live progress line
  int64_t interrupt_after_steps = -1;    // behave as if SIGINT arrived at this step (tests)
};

// Exit codes: 0 done, 2 bad input, 130 interrupted (after saving a checkpoint).
int run_train(const TrainOptions& opt, std::ostream& out, std::ostream& err);

// Installs the SIGINT / SIGTERM handlers that ask a running training loop to checkpoint and stop.
void install_interrupt_handlers();

}  // namespace softrl::apps
