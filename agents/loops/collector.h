#pragma once
// Data collection: whole episodes from a mixture of behaviours on the vector env, in groups of K
// episodes from one reset seed (one start state: same terrain, initial push and wind; the "prompt"
// of the preference papers), into an in-memory dataset (data/dataset.h).
//
// Episode j (j = 0 .. start_seeds * group_size - 1) belongs to group j / group_size, is reset with
// that group's seed and draws its behaviour source and all its action noise from its own random
// stream, seeded from (seed, j). Env slot i of the vector env plays episodes i, i + N, i + 2N, ...
// Policy sources act for all slots at once (one batched forward per policy and step).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agents/core/policy.h"
#include "agents/grpo/soft_actions.h"
#include "data/dataset.h"
#include "envs/registry.h"

namespace softrl::agents {

struct BehaviourSource {
  enum class Kind { heuristic, policy, random };
  Kind kind = Kind::heuristic;
  double weight = 1.0;
  // heuristic: a uniform random action with probability epsilon; continuous actions also get
  // Gaussian noise of this standard deviation, clipped to the bounds.
  double epsilon = 0.0;
  double noise_std = 0.0;
  // policy: a saved policy (load_policy), its mode and the sampling temperature (logits / T, or
  // the Gaussian's standard deviation * T).
  std::string policy_path;
  std::shared_ptr<PolicyHead> policy;
  bool deterministic = false;
  double temperature = 1.0;
  // policy: act with soft actions instead (SofT-GRPO); the dataset then holds the perturbed
  // logits, and log_prob is their log-density under the policy (settings' density).
  std::optional<SoftActionSettings> soft;

  std::string kind_name() const;
  std::string describe() const;  // e.g. "heuristic (epsilon 0.1, noise 0)"
};

struct CollectSettings {
  std::string env_id;
  envs::EnvOptions env_options;
  std::vector<BehaviourSource> sources;
  int64_t start_seeds = 1;        // groups
  int64_t group_size = 1;         // episodes per group
  uint64_t first_start_seed = 0;  // group g resets with first_start_seed + g
  uint64_t seed = 0;              // the behaviours' random streams
  uint64_t first_episode = 0;     // episode j draws the stream of (seed, first_episode + j): a
                                  // collection split into parts (one per data-parallel rank)
                                  // samples what the whole one would
  int n_envs = 16;
  int threads = 1;
  std::string dataset_id;
  std::string config_yaml;  // recorded in the dataset
};

struct CollectProgress {
  int64_t episodes_done = 0, episodes_total = 0, steps = 0;
};

// Collects every episode, or stops early when `keep_going` (called after every vector step)
// returns false: the dataset then holds the groups whose episodes were all complete.
data::Dataset collect(const CollectSettings& settings, const std::function<bool(const CollectProgress&)>& keep_going);

}  // namespace softrl::agents
