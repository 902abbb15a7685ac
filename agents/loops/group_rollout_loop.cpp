#include "agents/loops/group_rollout_loop.h"

#include <chrono>
#include <cstdio>

#include "agents/core/checkpoint.h"
#include "agents/loops/collector.h"
#include "common/distributed.h"
#include "common/interrupts.h"

namespace softrl::agents {

GroupRolloutLoop::GroupRolloutLoop(GroupLearner& learner, const GroupRolloutSettings& settings, uint64_t seed)
    : learner_(learner),
      cfg_(settings),
      seed_(seed),
      gen_(at::detail::createCPUGenerator(seed)) {}

void GroupRolloutLoop::begin(uint64_t seed) {
  seed_ = seed;
  gen_ = at::detail::createCPUGenerator(seed);
}

// Data parallel (common/distributed.h): each of the W ranks collects its own `groups` groups, so an
// iteration learns from W x groups start states; rank r collects the r-th block of what one
// process with W x groups would (its start seeds, its episodes' random streams); when a minibatch
// holds all of an iteration's episodes, W processes learn what one process with W times the groups
// would (smaller minibatches mix the episodes in another order). Without torchrun: rank 0 of 1.
uint64_t GroupRolloutLoop::first_start_seed(int64_t iteration) const {
  const distributed::World& w = distributed::world();
  return 10000000ULL + seed_ * 1000000000ULL + static_cast<uint64_t>((iteration * w.size + w.rank) * cfg_.groups);
}

void GroupRolloutLoop::iterate() {
  learner_.set_learning_rate(cfg_.learning_rate.at(1.0 - static_cast<double>(step_) / cfg_.total_steps));
  CollectSettings c;
  c.env_id = cfg_.env_id;
  c.env_options = cfg_.env_options;
  BehaviourSource src;
  src.kind = BehaviourSource::Kind::policy;
  src.policy_path = "the learner";
  // The collector batches the forward passes and shares the learner's weights (no copy).
  src.policy = std::shared_ptr<PolicyHead>(&learner_.policy(), [](PolicyHead*) {});
  src.soft = cfg_.soft;
  c.sources = {src};
  c.start_seeds = cfg_.groups;
  c.group_size = cfg_.group_size;
  c.first_start_seed = first_start_seed(iteration_);
  c.seed = seed_ * 1000003ULL + static_cast<uint64_t>(iteration_);
  c.first_episode = static_cast<uint64_t>(distributed::world().rank * cfg_.groups * cfg_.group_size);
  c.n_envs = cfg_.n_envs;
  c.threads = cfg_.threads;
  c.dataset_id = "group-rollouts-" + std::to_string(iteration_);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  // A signal stops a long collection (single process: ranks could not agree mid-collection);
  // nothing has changed yet, so the run saves the state before this iteration.
  const auto keep_going = [](const CollectProgress&) { return distributed::active() || pending_signal() == 0; };
  const data::Dataset rollouts = collect(c, keep_going);
  if (!distributed::active() && pending_signal()) throw StopRequested{};
  const auto t1 = Clock::now();
  int64_t u = 0;
  last_ = learner_.learn(rollouts, gen_, &u);
  collect_s_ = std::chrono::duration<double>(t1 - t0).count();
  learn_s_ = std::chrono::duration<double>(Clock::now() - t1).count();
  updates_ += u;
  step_ += distributed::all_reduce_sum(rollouts.num_steps());  // every rank agrees on the budget
  ++iteration_;
}

Metrics GroupRolloutLoop::metrics() const {
  Metrics m = {{"iteration", static_cast<double>(iteration_)}};
  m.insert(m.end(), last_.begin(), last_.end());
  m.insert(m.end(), {{"collect_s", collect_s_}, {"learn_s", learn_s_}});
  return m;
}

std::string GroupRolloutLoop::progress_text() const {
  char buf[96];
  double ret = 0;
  for (const auto& [k, v] : last_)
    if (k == "mean_return") ret = v;
  std::snprintf(buf, sizeof buf, "iteration %lld, return %.1f (last %lld x %lld episodes)",
                static_cast<long long>(iteration_), ret, static_cast<long long>(cfg_.groups),
                static_cast<long long>(cfg_.group_size));
  return iteration_ == 0 ? std::string("iteration 0") : std::string(buf);
}

void GroupRolloutLoop::save(torch::serialize::OutputArchive& ar, bool) const {
  ar.write("counters", torch::tensor({step_, updates_, iteration_}));
  ar.write("generator_state", gen_.get_state());
}

std::string GroupRolloutLoop::load(OpenedCheckpoint& c) {
  torch::serialize::InputArchive ar = c.section("loop");
  const torch::Tensor t = read_tensor(ar, "counters");
  step_ = t[0].item<int64_t>(), updates_ = t[1].item<int64_t>(), iteration_ = t[2].item<int64_t>();
  gen_.set_state(read_tensor(ar, "generator_state"));
  return "";
}

}  // namespace softrl::agents
