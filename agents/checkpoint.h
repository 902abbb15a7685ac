#pragma once
// Checkpoint files: "SOFTRLCK", a format version, the payload length and its FNV-1a 64 checksum,
// then a LibTorch archive holding a header (env id, network shapes, the resolved config) and the
// learner's and trainer's state. LibTorch does not verify its zip CRCs, so the checksum is what
// catches corrupted bytes. Written to a temporary file and renamed into place, so an existing
// checkpoint is never half-overwritten.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace softrl::agents {

constexpr int64_t kCheckpointFormat = 1;

struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CheckpointHeader {
  int64_t format = kCheckpointFormat;
  std::string env_id;
  std::string algo = "sac";
  int64_t obs_dim = 0, act_dim = 0, num_actions = 0;
  std::vector<int64_t> net_arch;
  std::string config_yaml;  // the run's resolved configuration
  int64_t env_steps = 0;
};

void write_checkpoint(const std::string& path, const CheckpointHeader& header,
                      const std::function<void(torch::serialize::OutputArchive&)>& body);

// Opens and checks a checkpoint; throws CheckpointError naming the file on any problem.
struct OpenedCheckpoint {
  CheckpointHeader header;
  torch::serialize::InputArchive archive;
};
OpenedCheckpoint open_checkpoint(const std::string& path);

// Reads one tensor into a fresh tensor (InputArchive::read resizes a defined target in place).
torch::Tensor read_tensor(torch::serialize::InputArchive& ar, const std::string& key);

// Throws CheckpointError unless the checkpoint was made for this env and these shapes.
void check_compatible(const CheckpointHeader& h, const std::string& path, const std::string& env_id, int64_t obs_dim,
                      int64_t act_dim, int64_t num_actions, const std::vector<int64_t>& net_arch);

}  // namespace softrl::agents
