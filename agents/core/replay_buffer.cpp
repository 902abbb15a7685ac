#include "agents/core/replay_buffer.h"

#include <algorithm>
#include <cstring>

#include "agents/core/checkpoint.h"

namespace softrl::agents {
namespace {
// Row copies by hand: a transition is a few dozen bytes, for which LibTorch's index ops (with
// their index tensors) cost more in dispatch than the copy; SAC adds one and samples a batch at
// every step, on the training step's serial path.

// The n rows of src (any dtype, as float32 rows of dst's width) into rows (first + i) mod capacity.
void put_rows(torch::Tensor& dst, int64_t first, const torch::Tensor& src) {
  const int64_t capacity = dst.size(0), width = dst.numel() / capacity, n = src.size(0);
  const torch::Tensor rows = src.to(torch::kFloat32).contiguous().reshape({n, width});
  const float* in = rows.data_ptr<float>();
  float* out = dst.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + ((first + i) % capacity) * width, in + i * width, static_cast<size_t>(width) * sizeof(float));
}

// Rows idx of src, as a new tensor (any dtype; a non-contiguous src through index_select).
torch::Tensor gather_rows(const torch::Tensor& src, const torch::Tensor& idx) {
  if (!src.is_contiguous() || !src.device().is_cpu()) return src.index_select(0, idx);
  std::vector<int64_t> shape = src.sizes().vec();
  shape[0] = idx.size(0);
  torch::Tensor out = torch::empty(shape, src.options());
  const auto row_bytes = static_cast<size_t>(src.numel() / std::max<int64_t>(src.size(0), 1) * src.element_size());
  const torch::Tensor rows = idx.to(torch::kLong).contiguous();
  const int64_t* r = rows.data_ptr<int64_t>();
  const auto* in = static_cast<const char*>(src.data_ptr());
  auto* o = static_cast<char*>(out.data_ptr());
  for (int64_t i = 0; i < rows.numel(); ++i) {
    TORCH_CHECK(r[i] >= 0 && r[i] < src.size(0), "row ", r[i], " of a batch of ", src.size(0));
    std::memcpy(o + i * row_bytes, in + r[i] * row_bytes, row_bytes);
  }
  return out;
}
}  // namespace

Batch select_rows(const Batch& b, const torch::Tensor& idx) {
  return {gather_rows(b.obs, idx), gather_rows(b.actions, idx), gather_rows(b.rewards, idx),
          gather_rows(b.next_obs, idx), gather_rows(b.terminated, idx)};
}

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
  put_rows(obs_, pos_, obs);
  put_rows(actions_, pos_, actions);
  put_rows(rewards_, pos_, rewards);
  put_rows(next_obs_, pos_, next_obs);
  put_rows(terminated_, pos_, terminated);
  pos_ = (pos_ + n) % capacity_;
  size_ = std::min(size_ + n, capacity_);
}

Batch ReplayBuffer::sample(int64_t batch_size, at::Generator& gen) const {
  const torch::Tensor idx = torch::randint(0, size_, {batch_size}, gen, torch::kLong);
  return select_rows({obs_, actions_, rewards_, next_obs_, terminated_}, idx);
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
  for (auto [key, dst] : {std::pair{"rb_obs", &obs_},
                          {"rb_actions", &actions_},
                          {"rb_rewards", &rewards_},
                          {"rb_next_obs", &next_obs_},
                          {"rb_terminated", &terminated_}}) {
    t = read_tensor(ar, key);
    TORCH_CHECK(t.size(0) == size_ && t.sizes().slice(1) == dst->sizes().slice(1), "replay buffer field ", key,
                " has shape ", t.sizes(), ", expected [", size_, ", ", dst->sizes().slice(1), "]");
    dst->narrow(0, 0, size_).copy_(t);
  }
}

}  // namespace softrl::agents
