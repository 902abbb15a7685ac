#pragma once
// `algo: distill`: a student policy distilled from a teacher over K sampled candidate actions per
// state of the teacher's rollouts (a dataset written by softrl collect with the teacher as source),
// by plain KD or ADPO with a fixed or EMA anchor (agents/distillation.h).
#include <string>

#include "agents/distill/distillation.h"
#include "apps/algos/algo_entry.h"

namespace softrl::apps {

struct DistillAlgoSettings : AlgoSettings {
  std::string dataset, teacher;
  agents::DistillationSettings distill;
  std::vector<int64_t> net_arch = {256, 256};
  agents::Schedule learning_rate{.initial = 3e-4};
  int64_t batch_size = 256;
};

AlgoEntry distill_algo();

}  // namespace softrl::apps
