#pragma once
// The preference learners' registry entries: `algo: dpo` (DPO, cDPO, robust DPO, IPO with TRL's
// beta / loss_type / label_smoothing) and `algo: adpo` (ADPO pairwise, listwise, Plackett-Luce;
// fixed, EMA or dynamic anchor), both on the offline loop over the groups of a dataset collected
// with group_size >= 2, labelled by data/preferences.h.
#include <string>

#include "agents/preference/preference_learner.h"
#include "apps/algos/algo_entry.h"
#include "apps/algos/offline_keys.h"
#include "data/preferences.h"

namespace softrl::apps {

struct PreferenceAlgoSettings : AlgoSettings {
  std::string dataset;
  std::string holdout_dataset;  // distribution shift: held-out groups from this dataset instead
  ReferenceKeys reference;
  data::PreferenceSettings view;  // labels, noise, held-out share; its seed defaults to the run's
  bool view_seed_given = false;
  agents::PreferenceLearnerSettings learner;
  agents::Schedule learning_rate{.initial = 1e-4};
  int64_t batch_groups = 16;
};

AlgoEntry dpo_algo();
AlgoEntry adpo_algo();

}  // namespace softrl::apps
