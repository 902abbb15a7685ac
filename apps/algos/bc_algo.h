#pragma once
// Behaviour cloning's registry entry: `algo: bc` learns from a dataset (softrl collect) on the
// offline loop, optionally filtered by return (filtered BC / rejection sampling).
#include <optional>
#include <string>

#include "apps/algos/algo_entry.h"

namespace softrl::apps {

struct BcSettings : AlgoSettings {
  std::string dataset;  // an HDF5 dataset of the run's task
  std::vector<int64_t> net_arch = {256, 256};
  int64_t batch_size = 256;
  agents::Schedule learning_rate{.initial = 1e-3};
  std::optional<double> top_fraction;  // keep the best fraction of the episodes by return
  std::optional<double> min_return;    // keep the episodes with at least this return
};

AlgoEntry bc_algo();

}  // namespace softrl::apps
