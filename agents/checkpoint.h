#pragma once
// Checkpoint files: a LibTorch archive (a zip with CRCs) holding a header (format version, env id,
// network shapes, the resolved config) and the learner's and trainer's state. Written to a
// temporary file and renamed into place, so an existing checkpoint is never half-overwritten.
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

// Throws CheckpointError unless the checkpoint was made for this env and these shapes.
void check_compatible(const CheckpointHeader& h, const std::string& path, const std::string& env_id, int64_t obs_dim,
                      int64_t act_dim, int64_t num_actions, const std::vector<int64_t>& net_arch);

}  // namespace softrl::agents
