#pragma once
// The offline loop: minibatches of a fixed dataset of transitions, reshuffled every epoch (each
// transition once per epoch), for learners that never touch the environment while they learn
// (behaviour cloning; OREO, DPO and ADPO build on it). The budget counts transitions consumed.
#include <string>

#include "agents/learner.h"
#include "agents/loop.h"
#include "agents/replay_buffer.h"
#include "agents/schedule.h"

namespace softrl::agents {

struct OfflineSettings {
  int64_t total_steps = 0;  // transitions consumed; the schedule decays over it
  int64_t batch_size = 256;
  Schedule learning_rate;
};

class OfflineLoop : public Loop {
 public:
  // `data`: every field [N, ...] with the same N >= 1.
  OfflineLoop(TransitionLearner& learner, Batch data, const OfflineSettings& settings, uint64_t seed);

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

  TransitionLearner& learner_;
  Batch data_;
  int64_t size_;
  OfflineSettings cfg_;
  at::Generator gen_;
  torch::Tensor order_;  // this epoch's permutation of the dataset
  int64_t step_ = 0, updates_ = 0, epoch_ = 0, pos_ = 0;
  Metrics last_update_;
};

}  // namespace softrl::agents
