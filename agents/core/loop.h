#pragma once
// A loop owns how data reaches a learner (environment interaction, replay, datasets), its random
// generator and its counters. The run driver (apps/) calls iterate() until steps() reaches the
// budget and knows nothing else of it; the loop's state goes into the checkpoint's "loop" section.
#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "agents/core/learner.h"
#include "agents/core/metrics.h"

namespace softrl::agents {

struct OpenedCheckpoint;

class Loop {
 public:
  virtual ~Loop() = default;
  virtual void begin(uint64_t seed) = 0;  // a fresh run
  virtual void iterate() = 0;             // one round of collection and the updates it triggers
  virtual int64_t steps() const = 0;      // the budget's unit (env steps, or samples for offline)
  virtual int64_t updates() const = 0;
  // The loop's own values then the learner's last update, for the logs (a fixed set of names).
  virtual Metrics metrics() const = 0;
  // A short status for the progress line (e.g. "return -50.1 (last 20)").
  virtual std::string progress_text() const = 0;
  // with_data: also the replay buffer or the like (large; needed for an exact resume).
  virtual void save(torch::serialize::OutputArchive& ar, bool with_data) const = 0;
  // Continues from a checkpoint; returns a note for the user ("" when none).
  virtual std::string load(OpenedCheckpoint& checkpoint) = 0;
};

// What an algorithm's registry entry builds for a run.
struct Training {
  std::unique_ptr<Learner> learner;
  std::unique_ptr<Loop> loop;
};

}  // namespace softrl::agents
