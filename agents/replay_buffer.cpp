#include "agents/replay_buffer.h"

#include "agents/checkpoint.h"

namespace softrl::agents {

ReplayBuffer::ReplayBuffer(int64_t capacity, int64_t obs_dim, int64_t act_dim)
    : capacity_(capacity),
      obs_(torch::zeros({capacity, obs_dim})),
      actions_(torch::zeros({capacity, act_dim})),
      rewards_(torch::zeros({capacity})),
      next_obs_(torch::zeros({capacity, obs_dim})),
      terminated_(torch::zeros({capacity})) {
  TORCH_CHECK(capacity > 0, "replay buffer capacity must be > 0");
}

void ReplayBuffer::add(const torch::Tensor& obs, const torch::Tensor& actions, const torch::Tensor& rewards,
                       const torch::Tensor& next_obs, const torch::Tensor& terminated) {
  torch::NoGradGuard ng;
  const int64_t n = obs.size(0);
  TORCH_CHECK(n <= capacity_, "replay buffer: adding ", n, " rows to a buffer of ", capacity_);
  const torch::Tensor idx = (torch::arange(n, torch::kLong) + pos_).remainder(capacity_);
  obs_.index_copy_(0, idx, obs.to(torch::kFloat32));
  actions_.index_copy_(0, idx, actions.to(torch::kFloat32).reshape({n, -1}));
  rewards_.index_copy_(0, idx, rewards.to(torch::kFloat32).reshape({n}));
  next_obs_.index_copy_(0, idx, next_obs.to(torch::kFloat32));
  terminated_.index_copy_(0, idx, terminated.to(torch::kFloat32).reshape({n}));
  pos_ = (pos_ + n) % capacity_;
  size_ = std::min(size_ + n, capacity_);
}

Batch ReplayBuffer::sample(int64_t batch_size, at::Generator& gen) const {
  const torch::Tensor idx = torch::randint(0, size_, {batch_size}, gen, torch::kLong);
  return {obs_.index_select(0, idx), actions_.index_select(0, idx), rewards_.index_select(0, idx),
          next_obs_.index_select(0, idx), terminated_.index_select(0, idx)};
}

void ReplayBuffer::save(torch::serialize::OutputArchive& ar) const {
  ar.write("rb_pos", torch::tensor(pos_));
  ar.write("rb_size", torch::tensor(size_));
  ar.write("rb_obs", obs_.narrow(0, 0, size_).clone());
  ar.write("rb_actions", actions_.narrow(0, 0, size_).clone());
  ar.write("rb_rewards", rewards_.narrow(0, 0, size_).clone());
  ar.write("rb_next_obs", next_obs_.narrow(0, 0, size_).clone());
  ar.write("rb_terminated", terminated_.narrow(0, 0, size_).clone());
}

void ReplayBuffer::load(torch::serialize::InputArchive& ar) {
  torch::Tensor t;
  t = read_tensor(ar, "rb_pos");
  pos_ = t.item<int64_t>();
  t = read_tensor(ar, "rb_size");
  size_ = t.item<int64_t>();
  TORCH_CHECK(size_ <= capacity_ && pos_ < capacity_, "replay buffer in checkpoint holds ", size_,
              " transitions, more than buffer_size ", capacity_);
  for (auto [key, dst] : {std::pair{"rb_obs", &obs_}, {"rb_actions", &actions_}, {"rb_rewards", &rewards_},
                          {"rb_next_obs", &next_obs_}, {"rb_terminated", &terminated_}}) {
    t = read_tensor(ar, key);
    TORCH_CHECK(t.size(0) == size_ && t.sizes().slice(1) == dst->sizes().slice(1), "replay buffer field ", key,
                " has shape ", t.sizes(), ", expected [", size_, ", ", dst->sizes().slice(1), "]");
    dst->narrow(0, 0, size_).copy_(t);
  }
}

}  // namespace softrl::agents
