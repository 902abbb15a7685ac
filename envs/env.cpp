#include "envs/env.h"

#include <cmath>
#include <sstream>

namespace softrl::envs {

Space Space::box(std::vector<float> low, std::vector<float> high) {
  Space s;
  s.kind = Kind::box;
  s.low = std::move(low);
  s.high = std::move(high);
  return s;
}

Space Space::discrete(int64_t n) {
  Space s;
  s.kind = Kind::discrete;
  s.n = n;
  return s;
}

std::vector<float> Env::reset(std::optional<uint64_t> seed) {
  elapsed_ = 0;
  needs_reset_ = false;
  return reset_task(seed);
}

StepResult Env::step(std::span<const float> action) {
  if (needs_reset_)
    throw EnvError(spec_.id + ": step() called " +
                   (elapsed_ == 0 ? std::string("before reset()") : "after the episode ended; call reset() first"));
  const Space& as = spec_.action_space;
  if (static_cast<int64_t>(action.size()) != as.dim()) {
    std::ostringstream m;
    m << spec_.id << ": action has " << action.size() << " values, expected " << as.dim();
    throw EnvError(m.str());
  }
  if (as.kind == Space::Kind::discrete) {
    const float a = action[0];
    if (!(a >= 0 && a < static_cast<float>(as.n)) || std::floor(a) != a) {
      std::ostringstream m;
      m << spec_.id << ": discrete action " << a << " is not one of 0.." << as.n - 1;
      throw EnvError(m.str());
    }
  } else {
    for (float a : action)
      if (std::isnan(a)) throw EnvError(spec_.id + ": action contains NaN");
  }
  StepResult r = step_task(action);
  ++elapsed_;
  if (elapsed_ >= spec_.max_episode_steps) r.truncated = true;
  if (r.terminated || r.truncated) needs_reset_ = true;
  return r;
}

EnvSnapshot Env::snapshot() const {
  return {.owner = this, .elapsed = elapsed_, .needs_reset = needs_reset_, .obs = obs_, .task = save_task()};
}

void Env::restore(const EnvSnapshot& s) {
  if (s.owner != this || !s.task)
    throw EnvError(spec_.id + ": restore() needs a snapshot taken from this same environment object");
  load_task(*s.task);
  elapsed_ = s.elapsed;
  needs_reset_ = s.needs_reset;
  obs_ = s.obs;
}

std::shared_ptr<const EnvSnapshot::TaskState> Env::save_task() const {
  throw EnvError(spec_.id + ": this environment does not support snapshots");
}

void Env::load_task(const EnvSnapshot::TaskState&) {
  throw EnvError(spec_.id + ": this environment does not support snapshots");
}

}  // namespace softrl::envs
