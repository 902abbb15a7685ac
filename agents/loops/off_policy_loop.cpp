#include "agents/loops/off_policy_loop.h"

#include <cmath>
#include <limits>

#include "agents/core/checkpoint.h"

namespace softrl::agents {
namespace {
constexpr size_t kRecentEpisodes = 20;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <class T>
double mean_of(const std::deque<T>& v) {
  double s = 0;
  for (const T x : v) s += x;
  return v.empty() ? kNaN : s / static_cast<double>(v.size());
}
}  // namespace

void RecentEpisodes::add(double ret, int length) {
  returns_.push_back(ret);
  lengths_.push_back(length);
  if (returns_.size() > kRecentEpisodes) returns_.pop_front(), lengths_.pop_front();
}
double RecentEpisodes::mean_return() const { return mean_of(returns_); }
double RecentEpisodes::mean_length() const { return mean_of(lengths_); }

OffPolicyLoop::OffPolicyLoop(TransitionLearner& learner, const OffPolicySettings& settings, uint64_t seed)
    : learner_(learner),
      cfg_(settings),
      venv_(settings.env_id, static_cast<int>(settings.n_envs), settings.env_options, settings.threads),
      buffer_(settings.buffer_size, learner.policy().spec().obs_dim, learner.policy().spec().act_dim),
      gen_(at::detail::createCPUGenerator(seed)) {
  Metrics none;
  for (const auto& name : learner_.metric_names()) none.emplace_back(name, kNaN);
  last_update_ = std::move(none);
}

void OffPolicyLoop::begin(uint64_t seed) { obs_ = venv_.reset(seed); }

void OffPolicyLoop::iterate() {
  const auto& as = venv_.spec().action_space;
  const int64_t n = cfg_.n_envs;
  torch::Tensor actions;
  if (step_ < cfg_.learning_starts) {
    actions = as.kind == envs::Space::Kind::discrete ? torch::randint(0, as.n, {n}, gen_, torch::kLong)
                                                     : torch::rand({n, as.dim()}, gen_) * 2 - 1;
  } else {
    actions = learner_.policy().act(obs_, false, gen_);
  }
  const envs::VectorStep s = venv_.step(actions);
  const torch::Tensor done = (s.terminated | s.truncated).unsqueeze(-1);
  buffer_.add(obs_, actions, s.reward, torch::where(done, s.final_obs, s.obs), s.terminated);
  obs_ = s.obs;
  for (size_t k = 0; k < s.finished_returns.size(); ++k) recent_.add(s.finished_returns[k], s.finished_lengths[k]);
  episodes_ += static_cast<int64_t>(s.finished_returns.size());
  step_ += n;
  ++iteration_;
  if (step_ > cfg_.learning_starts && iteration_ % cfg_.train_freq == 0 && buffer_.size() >= cfg_.batch_size) {
    learner_.set_learning_rate(cfg_.learning_rate.at(1.0 - static_cast<double>(step_) / cfg_.total_steps));
    for (int64_t g = 0; g < cfg_.gradient_steps; ++g) {
      last_update_ = learner_.update(buffer_.sample(cfg_.batch_size, gen_), gen_);
      ++updates_;
    }
  }
}

Metrics OffPolicyLoop::metrics() const {
  Metrics m = {{"episodes", static_cast<double>(episodes_)},
               {"ep_return_mean", recent_.mean_return()},
               {"ep_length_mean", recent_.mean_length()}};
  const Metrics& u = last_update_.get();
  m.insert(m.end(), u.begin(), u.end());
  return m;
}

std::string OffPolicyLoop::progress_text() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "return %.1f (last %zu)", recent_.mean_return(), recent_.count());
  return buf;
}

void OffPolicyLoop::save(torch::serialize::OutputArchive& ar, bool with_data) const {
  const envs::VectorEnvSnapshot snap = venv_.snapshot();
  ar.write("counters", torch::tensor({step_, updates_, episodes_, iteration_}));
  ar.write("generator_state", gen_.get_state());
  ar.write("venv_first_seeds", torch::tensor(std::vector<int64_t>(snap.first_seeds.begin(), snap.first_seeds.end())));
  ar.write("venv_episode_index", torch::tensor(snap.episode_index));
  ar.write("venv_returns", torch::tensor(snap.returns, torch::kFloat64));
  ar.write("venv_lengths", torch::tensor(std::vector<int64_t>(snap.lengths.begin(), snap.lengths.end())));
  for (size_t i = 0; i < snap.episode_actions.size(); ++i)
    ar.write("venv_actions_" + std::to_string(i), torch::tensor(snap.episode_actions[i], torch::kFloat32));
  ar.write("has_replay_buffer", torch::tensor(with_data));
  if (with_data) buffer_.save(ar);
}

std::string OffPolicyLoop::load(OpenedCheckpoint& c) {
  torch::serialize::InputArchive ar = c.section("loop");
  torch::Tensor t = read_tensor(ar, "counters");
  step_ = t[0].item<int64_t>(), updates_ = t[1].item<int64_t>(), episodes_ = t[2].item<int64_t>(),
  iteration_ = t[3].item<int64_t>();
  gen_.set_state(read_tensor(ar, "generator_state"));
  envs::VectorEnvSnapshot snap;
  const torch::Tensor seeds = read_tensor(ar, "venv_first_seeds");
  for (int64_t i = 0; i < seeds.numel(); ++i)
    snap.first_seeds.push_back(static_cast<uint64_t>(seeds[i].item<int64_t>()));
  t = read_tensor(ar, "venv_episode_index");
  for (int64_t i = 0; i < t.numel(); ++i) snap.episode_index.push_back(t[i].item<int64_t>());
  t = read_tensor(ar, "venv_returns");
  for (int64_t i = 0; i < t.numel(); ++i) snap.returns.push_back(t[i].item<double>());
  t = read_tensor(ar, "venv_lengths");
  for (int64_t i = 0; i < t.numel(); ++i) snap.lengths.push_back(static_cast<int>(t[i].item<int64_t>()));
  for (int64_t i = 0; i < cfg_.n_envs; ++i) {
    t = read_tensor(ar, "venv_actions_" + std::to_string(i)).contiguous();
    snap.episode_actions.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  std::string note;
  if (read_tensor(ar, "has_replay_buffer").item<bool>()) buffer_.load(ar);
  else
    note = "the checkpoint holds no replay buffer (checkpoint.save_replay_buffer: false); the resumed run refills it";
  obs_ = venv_.restore(snap);
  return note;
}

}  // namespace softrl::agents
