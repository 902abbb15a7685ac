#pragma once
// Preference views of a grouped dataset, built at load time: the candidates of a group start from
// the same state (its reset seed), as the completions of one prompt do in DPO / ADPO
// (Rafailov et al. 2023; Wang Zixian 2025, arXiv 2510.18913). Labels come from the candidates'
// true returns, optionally corrupted by ADPO's noise models; a held-out split of groups keeps clean
// labels for measuring preference accuracy and WinMass.
#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace softrl::data {

struct PreferenceSettings {
  // Candidates: whole episodes, or their first `segment_steps` steps (episodes that end earlier
  // count whole).
  int64_t segment_steps = 0;  // 0: whole episodes
  enum class Label { hard, soft };
  Label label = Label::hard;
  double pair_temperature = 10.0;  // soft pairwise: q_ij = sigmoid((R_i - R_j) / T)
  double list_temperature = 1.0;   // soft listwise: q = softmax(z(R) / beta_r), z-scored within the group
  // Noise on the training labels (the held-out groups keep the true returns).
  enum class Noise { none, flip, gaussian, cauchy };
  Noise noise = Noise::none;
  double flip_probability = 0.0;  // flip: each comparison (pair or group) reversed with this probability
  double noise_scale = 0.0;       // gaussian: std of N(0, s^2) on R; cauchy: scale of Cauchy(0, s)
  double outlier_fraction = 0.0;  // gaussian: this share of candidates also gets N(0, outlier_scale^2)
  double outlier_scale = 0.0;
  double holdout_fraction = 0.0;  // share of groups held out (chosen by `seed`)
  uint64_t seed = 0;
};

struct Candidate {
  int64_t episode = 0;
  int64_t begin = 0, end = 0;  // its steps in the dataset: [begin, end)
  double true_return = 0;      // the sum of its rewards
  double label_return = 0;     // after noise (= true_return when clean)
};

struct PreferenceGroup {
  int64_t group = 0;                // the dataset's group id
  std::vector<int64_t> candidates;  // indices into PreferenceView::candidates
  bool reversed = false;            // flip noise reversed this group's ranking
  std::vector<double> target;       // listwise q over the candidates (sums to 1)
  int64_t best = 0;                 // position (in `candidates`) of the truly best candidate
};

struct PreferencePair {
  int64_t group = 0;     // index into the view's groups of the same split
  int64_t i = 0, j = 0;  // candidate indices
  double q = 0.5;        // the label: probability that i is preferred to j
};

struct PreferenceSplit {
  std::vector<PreferenceGroup> groups;
  std::vector<PreferencePair> pairs;  // every unordered pair {i, j}, i before j in the group
};

struct PreferenceView {
  std::vector<Candidate> candidates;
  PreferenceSplit train, holdout;
};

// Deterministic given the dataset and settings. Throws InputError when the dataset has groups of
// one episode (nothing to compare).
PreferenceView build_preferences(const Dataset& d, const PreferenceSettings& s);

}  // namespace softrl::data
