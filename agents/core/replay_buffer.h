#pragma once
// Preallocated ring buffer of transitions; sampling uses its own generator so runs replay
// exactly, and the whole buffer can go into a checkpoint.
#include <torch/torch.h>

namespace softrl::agents {

struct Batch {
  torch::Tensor obs, actions, rewards, next_obs, terminated;  // rewards/terminated: [B] float32
};

// The rows idx (int64, [k]) of every field, as a new batch: the replay buffer's samples and the
// offline loop's minibatches.
Batch select_rows(const Batch& b, const torch::Tensor& idx);

class ReplayBuffer {
 public:
  ReplayBuffer(int64_t capacity, int64_t obs_dim, int64_t act_dim);
  // Adds one row per environment (any dtype; stored as float32). next_obs must be the final
  // observation for finished episodes.
  void add(const torch::Tensor& obs, const torch::Tensor& actions, const torch::Tensor& rewards,
           const torch::Tensor& next_obs, const torch::Tensor& terminated);
  Batch sample(int64_t batch_size, at::Generator& gen) const;
  int64_t size() const { return size_; }
  int64_t capacity() const { return capacity_; }

  void save(torch::serialize::OutputArchive& ar) const;
  void load(torch::serialize::InputArchive& ar);

 private:
  int64_t capacity_, pos_ = 0, size_ = 0;
  torch::Tensor obs_, actions_, rewards_, next_obs_, terminated_;
};

}  // namespace softrl::agents
