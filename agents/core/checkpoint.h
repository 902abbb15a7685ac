#pragma once
// Checkpoint files: "SOFTRLCK", a format version, the payload length and its FNV-1a 64 checksum,
// then a LibTorch archive. LibTorch does not verify its zip CRCs, so the checksum is what catches
// corrupted bytes. Written through write_file_atomic, so an existing checkpoint is never
// half-overwritten.
//
// Format 2: a header {format, algo, env id, observation and action spaces, resolved config, env
// steps} and named sections, each the business of one owner: "policy" (PolicyHead: spec and
// weights, so load_policy needs nothing else), "learner" (critics, optimizers, temperature...),
// "loop" (counters, generator, environments, replay buffer) and "run" (the driver's wall time and
// best evaluation). Format 1 files (SAC runs before the split) are rewritten as format 2 when
// opened (one adapter, upgrade_format1 in checkpoint.cpp): nothing else reads the old layout.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/error.h"
#include "envs/env.h"

namespace softrl::agents {

constexpr int64_t kCheckpointFormat = 2;

// A checkpoint that cannot be used: missing, truncated, corrupted, made for another env or shape.
struct CheckpointError : InputError {
  using InputError::InputError;
};

struct CheckpointHeader {
  int64_t format = kCheckpointFormat;
  std::string algo;
  std::string env_id;
  // Spaces: observation dimension; the action space's kind, dimension and (discrete) size.
  int64_t obs_dim = 0, act_dim = 0, num_actions = 0;  // num_actions > 0: discrete
  std::string config_yaml;                            // the run's resolved configuration
  int64_t env_steps = 0;
  int64_t upgraded_from = 0;  // the file's format when it was upgraded on opening (1), else 0

  static CheckpointHeader for_env(const envs::EnvSpec& spec);
};

struct CheckpointSection {
  std::string name;
  std::function<void(torch::serialize::OutputArchive&)> write;
};
void write_checkpoint(const std::string& path, const CheckpointHeader& header,
                      const std::vector<CheckpointSection>& sections);

// Opens and checks a checkpoint; throws CheckpointError naming the file on any problem.
struct OpenedCheckpoint {
  std::string path;
  CheckpointHeader header;
  torch::serialize::InputArchive archive;
  // A named section; throws CheckpointError when the file has none of that name.
  torch::serialize::InputArchive section(const std::string& name);
};
OpenedCheckpoint open_checkpoint(const std::string& path);

// The policy section's record of its shape (PolicyHead writes it; the format 1 upgrade builds it
// from the old header): kind (0 categorical, 1 tanh-Gaussian), dimensions, hidden widths.
void write_policy_record(torch::serialize::OutputArchive& ar, bool categorical, int64_t obs_dim, int64_t act_dim,
                         int64_t num_actions, const std::vector<int64_t>& hidden);

// Reads one tensor into a fresh tensor (InputArchive::read resizes a defined target in place).
torch::Tensor read_tensor(torch::serialize::InputArchive& ar, const std::string& key);

// Loads a module's parameters and buffers from `ar`. LibTorch's own load replaces each tensor with
// whatever the file holds, so a crafted or mismatched file would only fail at the first forward
// pass: here every tensor must keep its shape and be finite, else CheckpointError naming `source`.
void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& ar, const std::string& source);

// Throws CheckpointError unless the checkpoint was made for this env (id and spaces).
// A run directory stands for its checkpoints/latest.pt; anything else is a checkpoint path.
std::filesystem::path checkpoint_of(const std::string& run_dir_or_checkpoint);
void check_compatible(const CheckpointHeader& h, const std::string& path, const envs::EnvSpec& env);

}  // namespace softrl::agents
