#pragma once
// The offline loop: minibatches of a fixed dataset's items (transitions, episodes, groups),
// reshuffled every epoch (each item once per epoch), for learners that never touch the environment
// while they learn (behaviour cloning; OREO, DPO and ADPO build on it). The budget counts
// transitions consumed. With rounds > 1 the budget is split evenly and the learner gathers more
// data at each round's start (iterative OREO).
#include <string>

#include "agents/core/learner.h"
#include "agents/core/loop.h"
#include "agents/core/replay_buffer.h"
#include "agents/core/schedule.h"

namespace softrl::agents {

struct OfflineSettings {
  int64_t total_steps = 0;  // transitions consumed; the schedule decays over it
  int64_t batch_size = 256;
  Schedule learning_rate;
  int rounds = 1;
};

class OfflineLoop : public Loop {
 public:
  // Items are transitions: `data`, every field [N, ...] with the same N >= 1.
  OfflineLoop(TransitionLearner& learner, Batch data, const OfflineSettings& settings, uint64_t seed);
  OfflineLoop(OfflineLearner& learner, const OfflineSettings& settings, uint64_t seed);
  ~OfflineLoop() override;

  void begin(uint64_t seed) override;
  void iterate() override;
  int64_t steps() const override { return step_; }
  int64_t updates() const override { return updates_; }
  Metrics metrics() const override;
  std::string progress_text() const override;
  // The dataset itself is not saved (it is an input of the run), only where the loop stands in it.
  void save(torch::serialize::OutputArchive& ar, bool with_data) const override;
  std::string load(OpenedCheckpoint& checkpoint) override;

 private:
  void new_epoch();
  int round_at(int64_t step) const;

  std::unique_ptr<OfflineLearner> adapter_;  // the transition learner as an OfflineLearner
  OfflineLearner& learner_;
  int64_t size_;
  OfflineSettings cfg_;
  at::Generator gen_;
  torch::Tensor order_;  // this epoch's permutation of the dataset
  int64_t step_ = 0, updates_ = 0, epoch_ = 0, pos_ = 0;
  int round_ = 0;
  Metrics last_update_;
};

}  // namespace softrl::agents
