#pragma once
// SAC's registry entry: the `sac:` section with RL Zoo's names and meanings, and the SAC learner on
// the off-policy loop.
#include <string>

#include "agents/sac.h"
#include "apps/algos/registry.h"

namespace softrl::apps {

struct SacSettings : AlgoSettings {
  agents::SacConfig sac;
  std::string learning_rate_text = "0.0003";  // as written (e.g. lin_7.3e-4)
  std::string ent_coef_text = "auto";
};

AlgoEntry sac_algo();

}  // namespace softrl::apps
