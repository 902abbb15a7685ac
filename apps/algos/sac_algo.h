#pragma once
// SAC's registry entry: the `sac:` section with RL Zoo's names and meanings, and the SAC learner on
// the off-policy loop.
#include <string>

#include "agents/sac/sac.h"
#include "apps/algos/algo_entry.h"

namespace softrl::apps {

struct SacSettings : AlgoSettings {
  agents::SacConfig sac;
};

AlgoEntry sac_algo();

}  // namespace softrl::apps
