#pragma once
// LunarLander-v3 and LunarLanderContinuous-v3 as Gymnasium 1.x defines them (gymnasium/envs/box2d/lunar_lander.py), on
// Box2D 2.4.1.
#include <array>
#include <memory>

#include "envs/box2d_arena.h"
#include "envs/box2d_fwd.h"
#include "envs/env.h"
#include "envs/rng.h"

namespace softrl::envs {

struct LunarLanderOptions {
  bool continuous = false;
  double gravity = -10.0;  // in (-12, 0)
  bool enable_wind = false;
  double wind_power = 15.0;       // [0, 20] recommended
  double turbulence_power = 1.5;  // [0, 2] recommended
};

namespace lunar {
constexpr double kFps = 50.0, kScale = 30.0;
constexpr double kMainEnginePower = 13.0, kSideEnginePower = 0.6;
constexpr double kInitialRandom = 1000.0;
constexpr double kLegAway = 20.0, kLegDown = 18.0, kLegW = 2.0, kLegH = 8.0;
constexpr double kLegSpringTorque = 40.0;
constexpr double kSideEngineHeight = 14.0, kSideEngineAway = 12.0, kMainEngineYLocation = 4.0;
constexpr double kW = 600.0 / kScale, kH = 400.0 / kScale;
constexpr int kChunks = 11;
}  // namespace lunar

class LunarLander final : public Env {
 public:
  explicit LunarLander(const LunarLanderOptions& opt = {});
  ~LunarLander() override;

  // Read-only views for tests and rendering.
  const b2World* world() const { return world_.get(); }
  const b2Body* lander() const { return lander_; }
  const b2Body* leg(int i) const { return legs_[i]; }
  const b2RevoluteJoint* leg_joint(int i) const { return joints_[i]; }
  bool leg_contact(int i) const;
  const std::array<double, lunar::kChunks>& terrain_x() const { return chunk_x_; }
  const std::array<double, lunar::kChunks>& terrain_y() const { return smooth_y_; }
  double helipad_y() const { return helipad_y_; }
  const Rng& rng() const { return rng_; }
  const LunarLanderOptions& options() const { return opt_; }

 protected:
  std::vector<float> reset_task(std::optional<uint64_t> seed) override;
  StepResult step_task(std::span<const float> action) override;
  std::shared_ptr<const EnvSnapshot::TaskState> save_task() const override;
  void load_task(const EnvSnapshot::TaskState& state) override;

 private:
  StepResult advance(double main_throttle, double lateral, int discrete_action);

  LunarLanderOptions opt_;
  Rng rng_;
  std::unique_ptr<b2::GroundContacts> contacts_;
  b2::ArenaWorld world_;
  b2Body* moon_ = nullptr;
  b2Body* lander_ = nullptr;
  std::array<b2Body*, 2> legs_{};
  std::array<b2RevoluteJoint*, 2> joints_{};
  bool has_prev_shaping_ = false;
  double prev_shaping_ = 0.0;
  int64_t wind_idx_ = 0, torque_idx_ = 0;
  double helipad_y_ = 0.0;
  std::array<double, lunar::kChunks> chunk_x_{}, smooth_y_{};
};

// Gymnasium's hand-written controller (lunar_lander.py's `heuristic`), for either action space.
class LunarLanderHeuristic final : public Policy {
 public:
  explicit LunarLanderHeuristic(bool continuous) : continuous_(continuous) {}
  std::vector<float> act(std::span<const float> s) override;

 private:
  bool continuous_;
};

}  // namespace softrl::envs
