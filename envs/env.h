#pragma once
// The environment interface every learner sees (through VectorEnv), Gymnasium-style:
// reset(seed) / step(action) -> float32 observation, reward, terminated, truncated.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.h"

namespace softrl::envs {

// Raised for invalid use of an environment (bad action, step after the end, unknown id/option).
struct EnvError : InputError {
  using InputError::InputError;
};

struct Space {
  enum class Kind { box, discrete };
  Kind kind = Kind::box;
  int64_t n = 0;                 // discrete: number of actions
  std::vector<float> low, high;  // box: per-dimension bounds
  int64_t dim() const { return kind == Kind::discrete ? 1 : static_cast<int64_t>(low.size()); }
  static Space box(std::vector<float> low, std::vector<float> high);
  static Space discrete(int64_t n);
};

struct EnvSpec {
  std::string id;
  int max_episode_steps = 0;
  double reward_threshold = 0.0;
  Space observation_space;
  Space action_space;
};

struct StepResult {
  // A view of the env's own observation buffer (no allocation per step): valid until the env's
  // next step() or reset(); copy it to keep it.
  std::span<const float> obs;
  double reward = 0.0;
  bool terminated = false;  // a true end of the MDP (crash, landing, fall, goal)
  bool truncated = false;   // the time limit; may be true together with terminated
};

// An exact copy of an environment's state (physics, random stream, counters), for the same Env
// object only; restore() continues exactly as the environment did after snapshot() (the same next
// observation and reward for the same action). Cheap to copy: the task's part is shared.
struct EnvSnapshot {
  struct TaskState {
    virtual ~TaskState() = default;
  };
  const void* owner = nullptr;
  int elapsed = 0;
  bool needs_reset = true;
  std::vector<float> obs;
  std::shared_ptr<const TaskState> task;
};

// A task's saved state of any copyable type T.
template <class T>
struct SavedTaskState final : EnvSnapshot::TaskState {
  explicit SavedTaskState(T v) : value(std::move(v)) {}
  T value;
};

// Template method: the base class owns the time limit and the use checks; tasks implement
// reset_task / step_task. Actions are float spans; a discrete action is one integral value.
class Env {
 public:
  virtual ~Env() = default;
  const EnvSpec& spec() const { return spec_; }

  // With a seed the task's RNG is rebuilt; without, it continues its stream (Gymnasium).
  std::vector<float> reset(std::optional<uint64_t> seed = std::nullopt);
  StepResult step(std::span<const float> action);

  int elapsed_steps() const { return elapsed_; }
  // Snapshots (value-guided search, tests). Throws EnvError for a task without them.
  EnvSnapshot snapshot() const;
  void restore(const EnvSnapshot& s);
  bool needs_reset() const { return needs_reset_; }

 protected:
  explicit Env(EnvSpec spec) : spec_(std::move(spec)), obs_(spec_.observation_space.dim()) {}
  virtual std::vector<float> reset_task(std::optional<uint64_t> seed) = 0;
  virtual StepResult step_task(std::span<const float> action) = 0;
  virtual std::shared_ptr<const EnvSnapshot::TaskState> save_task() const;
  virtual void load_task(const EnvSnapshot::TaskState& state);
  // Stores a task's observation (computed in double) as float32 in the env's buffer.
  template <size_t N>
  std::span<const float> write_obs(const std::array<double, N>& values) {
    static_assert(N > 0);
    for (size_t i = 0; i < N && i < obs_.size(); ++i) obs_[i] = static_cast<float>(values[i]);
    return obs_;
  }

 private:
  EnvSpec spec_;
  std::vector<float> obs_;
  int elapsed_ = 0;
  bool needs_reset_ = true;
};

// A policy usable wherever a learned one is (evaluation, data collection). Stateful policies
// (the walker heuristic's gait machine) are told when an episode starts.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual void begin_episode() {}
  virtual std::vector<float> act(std::span<const float> obs) = 0;
};

}  // namespace softrl::envs
