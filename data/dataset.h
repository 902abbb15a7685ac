#pragma once
// An offline dataset held in memory: the steps of every episode one after another in preallocated
// tensors (what learners index), the per-episode tables, and where the data came from. The file
// layout is Farama Minari's HDF5 layout (hdf5_dataset.h); this struct is what reading and writing
// it produce and consume.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "envs/env.h"
#include "envs/registry.h"

namespace softrl::data {

// One behaviour of a collection's mixture, as recorded in the dataset.
struct SourceInfo {
  std::string kind;         // heuristic | policy | random
  std::string description;  // e.g. "heuristic eps=0.1 noise=0", "policy runs/x (sampled, T=1)"
  double weight = 1.0;
};

struct Dataset {
  std::string id;  // Minari's dataset_id
  std::string env_id;
  envs::EnvOptions env_options;
  envs::EnvSpec env_spec;  // the task's spec (spaces, time limit), from the env registry
  std::vector<SourceInfo> sources;
  int64_t group_size = 1;            // K episodes per start state
  std::vector<int64_t> group_seeds;  // the reset seed of each group
  std::string collection_config;     // the resolved YAML that produced the data ("" if unknown)

  // Steps, episode after episode (N = total steps).
  torch::Tensor observations;        // [N, obs_dim] float32
  torch::Tensor actions;             // [N] int64 (discrete) or [N, act_dim] float32
  torch::Tensor pre_tanh_actions;    // [N, act_dim] float32, NaN where the source had none; undefined if discrete
  torch::Tensor rewards;             // [N] float64
  torch::Tensor terminations;        // [N] bool
  torch::Tensor truncations;         // [N] bool
  torch::Tensor behaviour_log_prob;  // [N] float64, NaN where the source has no density
  torch::Tensor step_source;         // [N] int64
  // SofT-GRPO's soft actions: the Gumbel-perturbed logits g' of every step [N, K] float32;
  // undefined when no behaviour acted softly (agents/soft_actions.h). In memory only: the
  // group-rollout loop's data; dataset files do not hold it.
  torch::Tensor perturbed_logits;
  // Episodes (E).
  torch::Tensor final_observations;  // [E, obs_dim] float32: the observation after the last step
  torch::Tensor episode_start;       // [E + 1] int64: steps of episode e are [start[e], start[e + 1])
  torch::Tensor episode_seed;        // [E] int64: the reset seed
  torch::Tensor episode_group;       // [E] int64: index into group_seeds
  torch::Tensor episode_source;      // [E] int64: index into sources
  torch::Tensor episode_return;      // [E] float64: the undiscounted return

  bool discrete() const { return env_spec.action_space.kind == envs::Space::Kind::discrete; }
  int64_t num_steps() const { return rewards.defined() ? rewards.size(0) : 0; }
  int64_t num_episodes() const { return episode_seed.defined() ? episode_seed.size(0) : 0; }
  int64_t num_groups() const { return static_cast<int64_t>(group_seeds.size()); }
  int64_t obs_dim() const { return env_spec.observation_space.dim(); }
  int64_t act_dim() const { return env_spec.action_space.dim(); }
  // Bytes of the step and episode tensors (what loading allocates).
  int64_t tensor_bytes() const;
};

// Allocates every tensor for `episodes` episodes of the given lengths (NaN / zero filled), sets
// episode_start; the caller fills the rest. `spec` must have its spaces.
void allocate(Dataset& d, const std::vector<int64_t>& lengths);

// Throws InputError("SOURCE: ...") when the tables disagree with each other or observations /
// rewards hold NaN or infinity.
void check_consistent(const Dataset& d, const std::string& source);

// Return filters (rejection sampling / filtered BC): the indices of the best `fraction` of the
// episodes by return (at least one; ties keep the earlier episode), or of those with a return of at
// least `min_return`, in dataset order.
std::vector<int64_t> top_episodes(const Dataset& d, double fraction);
std::vector<int64_t> episodes_with_return_at_least(const Dataset& d, double min_return);

// The episodes whose indices are given, in that order, renumbered (groups and sources kept).
Dataset select_episodes(const Dataset& d, const std::vector<int64_t>& episodes);

}  // namespace softrl::data
