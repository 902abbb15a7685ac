#include "agents/loops/offline_loop.h"

#include <cstdio>
#include <limits>

#include "agents/core/checkpoint.h"
#include "common/distributed.h"
#include "common/error.h"

namespace softrl::agents {

namespace {
// A transition learner with its data, as an OfflineLearner whose items are the transitions.
class TransitionItems final : public OfflineLearner {
 public:
  TransitionItems(TransitionLearner& learner, Batch data) : learner_(learner), data_(std::move(data)) {}
  PolicyHead& policy() override { return learner_.policy(); }
  std::vector<std::string> metric_names() const override { return learner_.metric_names(); }
  bool finite() override { return learner_.finite(); }
  void save(torch::serialize::OutputArchive& ar) const override { learner_.save(ar); }
  void load(torch::serialize::InputArchive& ar) override { learner_.load(ar); }
  int64_t num_items() const override { return data_.obs.size(0); }
  Metrics update_items(const torch::Tensor& idx, at::Generator& gen, int64_t* steps) override {
    *steps = idx.size(0);
    return learner_.update(select_rows(data_, idx), gen).get();
  }
  void set_learning_rate(double lr) override { learner_.set_learning_rate(lr); }

 private:
  TransitionLearner& learner_;
  Batch data_;
};
}  // namespace

OfflineLoop::OfflineLoop(TransitionLearner& learner, Batch data, const OfflineSettings& settings, uint64_t seed)
    : OfflineLoop(*new TransitionItems(learner, std::move(data)), settings, seed) {
  adapter_.reset(&learner_);
}

OfflineLoop::OfflineLoop(OfflineLearner& learner, const OfflineSettings& settings, uint64_t seed)
    : learner_(learner),
      size_(learner.num_items()),
      cfg_(settings),
      gen_(at::detail::createCPUGenerator(seed)) {
  if (size_ < 1) throw InputError("the dataset is empty");
  for (const auto& name : learner_.metric_names())
    last_update_.emplace_back(name, std::numeric_limits<double>::quiet_NaN());
}

OfflineLoop::~OfflineLoop() = default;

void OfflineLoop::new_epoch() {
  size_ = learner_.num_items();
  order_ = torch::randperm(size_, gen_, torch::kLong);
  pos_ = 0;
}

int OfflineLoop::round_at(int64_t step) const {
  return static_cast<int>(
      std::min<int64_t>(cfg_.rounds - 1, step * cfg_.rounds / std::max<int64_t>(1, cfg_.total_steps)));
}

void OfflineLoop::begin(uint64_t) {
  learner_.begin();
  new_epoch();
}

void OfflineLoop::iterate() {
  // A minibatch never straddles epochs nor the budget: the last one of each may be smaller.
  // Data parallel (common/distributed.h): the W ranks draw the same permutation (same seed) and
  // each takes its share of one global minibatch of W x batch_size items, so W processes make
  // the updates one process would make with W times the batch; every rank needs at least one
  // item, so an epoch's last W - 1 items or fewer are skipped.
  const int64_t ranks = distributed::world().size;
  if (size_ - pos_ < ranks) ++epoch_, new_epoch();
  const int64_t n = std::max(std::min({cfg_.batch_size * ranks, size_ - pos_, cfg_.total_steps - step_}), ranks);
  torch::Tensor idx = order_.narrow(0, pos_, n);
  if (ranks > 1) idx = idx.tensor_split(ranks)[distributed::world().rank];
  learner_.set_learning_rate(cfg_.learning_rate.at(1.0 - static_cast<double>(step_) / cfg_.total_steps));
  int64_t consumed = 0;
  last_update_ = learner_.update_items(idx, gen_, &consumed);
  ++updates_;
  step_ += distributed::all_reduce_sum(consumed);
  pos_ += n;
  if (step_ < cfg_.total_steps && round_at(step_) != round_) {
    // The next round learns from the old and the new data, in a fresh epoch.
    // The round's data first: a round that stops part-way (StopRequested) leaves round_ as it was.
    learner_.next_round(round_at(step_));
    round_ = round_at(step_);
    ++epoch_;
    new_epoch();
  } else if (pos_ == size_) {
    ++epoch_;
    new_epoch();
  }
}

Metrics OfflineLoop::metrics() const {
  Metrics m = {{"epoch", static_cast<double>(epoch_) + static_cast<double>(pos_) / size_}};
  if (cfg_.rounds > 1) m.emplace_back("round", static_cast<double>(round_));
  m.insert(m.end(), last_update_.begin(), last_update_.end());
  return m;
}

std::string OfflineLoop::progress_text() const {
  char buf[64];
  if (cfg_.rounds > 1)
    std::snprintf(buf, sizeof buf, "round %d of %d, epoch %.2f of %lld items", round_ + 1, cfg_.rounds,
                  static_cast<double>(epoch_) + static_cast<double>(pos_) / size_, static_cast<long long>(size_));
  else
    std::snprintf(buf, sizeof buf, "epoch %.2f of %lld %s",
                  static_cast<double>(epoch_) + static_cast<double>(pos_) / size_, static_cast<long long>(size_),
                  adapter_ ? "transitions" : "items");
  return buf;
}

void OfflineLoop::save(torch::serialize::OutputArchive& ar, bool) const {
  ar.write("counters", torch::tensor({step_, updates_, epoch_, pos_, size_}));
  if (cfg_.rounds > 1) ar.write("round", torch::tensor(static_cast<int64_t>(round_)));
  ar.write("generator_state", gen_.get_state());
  ar.write("order", order_);
}

std::string OfflineLoop::load(OpenedCheckpoint& c) {
  torch::serialize::InputArchive ar = c.section("loop");
  const torch::Tensor t = read_tensor(ar, "counters");
  if (cfg_.rounds > 1) round_ = static_cast<int>(read_tensor(ar, "round").item<int64_t>());
  size_ = learner_.num_items();  // the learner restored its rounds' data before the loop
  if (t[4].item<int64_t>() != size_)
    throw CheckpointError(c.path + ": the checkpoint was made on a dataset of " + std::to_string(t[4].item<int64_t>()) +
                          " items, this one has " + std::to_string(size_));
  step_ = t[0].item<int64_t>(), updates_ = t[1].item<int64_t>(), epoch_ = t[2].item<int64_t>(),
  pos_ = t[3].item<int64_t>();
  gen_.set_state(read_tensor(ar, "generator_state"));
  order_ = read_tensor(ar, "order");
  return "";
}

}  // namespace softrl::agents
