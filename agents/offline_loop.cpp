#include "agents/offline_loop.h"

#include <cstdio>
#include <limits>

#include "agents/checkpoint.h"
#include "common/error.h"

namespace softrl::agents {

OfflineLoop::OfflineLoop(TransitionLearner& learner, Batch data, const OfflineSettings& settings, uint64_t seed)
    : learner_(learner), data_(std::move(data)), size_(data_.obs.size(0)), cfg_(settings),
      gen_(at::detail::createCPUGenerator(seed)) {
  if (size_ < 1) throw InputError("the dataset is empty");
  for (const auto& name : learner_.metric_names())
    last_update_.emplace_back(name, std::numeric_limits<double>::quiet_NaN());
}

void OfflineLoop::new_epoch() {
  order_ = torch::randperm(size_, gen_, torch::kLong);
  pos_ = 0;
}

void OfflineLoop::begin(uint64_t) { new_epoch(); }

void OfflineLoop::iterate() {
  // A minibatch never straddles epochs nor the budget: the last one of each may be smaller.
  const int64_t n = std::min({cfg_.batch_size, size_ - pos_, std::max<int64_t>(1, cfg_.total_steps - step_)});
  const torch::Tensor idx = order_.narrow(0, pos_, n);
  const Batch b{data_.obs.index_select(0, idx), data_.actions.index_select(0, idx), data_.rewards.index_select(0, idx),
                data_.next_obs.index_select(0, idx), data_.terminated.index_select(0, idx)};
  learner_.set_learning_rate(cfg_.learning_rate.at(1.0 - static_cast<double>(step_) / cfg_.total_steps));
  last_update_ = learner_.update(b, gen_);
  ++updates_;
  step_ += n;
  pos_ += n;
  if (pos_ == size_) {
    ++epoch_;
    new_epoch();
  }
}

Metrics OfflineLoop::metrics() const {
  Metrics m = {{"epoch", static_cast<double>(epoch_) + static_cast<double>(pos_) / size_}};
  m.insert(m.end(), last_update_.begin(), last_update_.end());
  return m;
}

std::string OfflineLoop::progress_text() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "epoch %.2f of %lld transitions", static_cast<double>(epoch_) + static_cast<double>(pos_) / size_,
                static_cast<long long>(size_));
  return buf;
}

void OfflineLoop::save(torch::serialize::OutputArchive& ar, bool) const {
  ar.write("counters", torch::tensor({step_, updates_, epoch_, pos_, size_}));
  ar.write("generator_state", gen_.get_state());
  ar.write("order", order_);
}

std::string OfflineLoop::load(OpenedCheckpoint& c) {
  torch::serialize::InputArchive ar = c.section("loop");
  const torch::Tensor t = read_tensor(ar, "counters");
  if (t[4].item<int64_t>() != size_)
    throw CheckpointError(c.path + ": the checkpoint was made on a dataset of " + std::to_string(t[4].item<int64_t>()) +
                          " transitions, this one has " + std::to_string(size_));
  step_ = t[0].item<int64_t>(), updates_ = t[1].item<int64_t>(), epoch_ = t[2].item<int64_t>(), pos_ = t[3].item<int64_t>();
  gen_.set_state(read_tensor(ar, "generator_state"));
  order_ = read_tensor(ar, "order");
  return "";
}

}  // namespace softrl::agents
