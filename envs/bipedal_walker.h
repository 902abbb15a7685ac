#pragma once
// BipedalWalker-v3 and BipedalWalkerHardcore-v3 as Gymnasium 1.x defines them (gymnasium/envs/box2d/bipedal_walker.py),
// on Box2D 2.4.1.
#include <array>
#include <memory>

#include "envs/box2d_arena.h"
#include "envs/box2d_fwd.h"
#include "envs/env.h"
#include "envs/rng.h"

namespace softrl::envs {

namespace walker {
constexpr double kFps = 50.0, kScale = 30.0;
constexpr double kMotorsTorque = 80.0, kSpeedHip = 4.0, kSpeedKnee = 6.0;
constexpr double kLidarRange = 160.0 / kScale;
constexpr double kInitialRandom = 5.0;
constexpr double kLegDown = -8.0 / kScale, kLegW = 8.0 / kScale, kLegH = 34.0 / kScale;
constexpr double kTerrainStep = 14.0 / kScale;
constexpr int kTerrainLength = 200, kTerrainGrass = 10, kTerrainStartpad = 20;
constexpr double kTerrainHeight = 400.0 / kScale / 4;
constexpr double kFriction = 2.5;
constexpr int kLidarRays = 10;
}  // namespace walker

struct TerrainPolygon {
  std::array<std::array<double, 2>, 4> v;
};

class BipedalWalker final : public Env {
 public:
  explicit BipedalWalker(bool hardcore = false);
  ~BipedalWalker() override;

  const b2World* world() const { return world_.get(); }
  const b2Body* hull() const { return hull_; }
  const b2Body* leg(int i) const { return legs_[i]; }               // [upper(-1), lower(-1), upper(+1), lower(+1)]
  const b2RevoluteJoint* joint(int i) const { return joints_[i]; }  // [hip(-1), knee(-1), hip(+1), knee(+1)]
  const std::vector<double>& terrain_x() const { return terrain_x_; }
  const std::vector<double>& terrain_y() const { return terrain_y_; }
  const std::vector<TerrainPolygon>& obstacles() const { return obstacles_; }
  const std::array<std::array<double, 2>, walker::kLidarRays>& lidar_hits() const { return lidar_p2_; }
  const Rng& rng() const { return rng_; }
  Rng& rng() { return rng_; }  // tests script draws before reset()
  bool hardcore() const { return hardcore_; }

 protected:
  std::vector<float> reset_task(std::optional<uint64_t> seed) override;
  StepResult step_task(std::span<const float> action) override;
  std::shared_ptr<const EnvSnapshot::TaskState> save_task() const override;
  void load_task(const EnvSnapshot::TaskState& state) override;

 private:
  class Lidar;
  void generate_terrain();
  void generate_clouds();
  void add_obstacle(const TerrainPolygon& p);
  StepResult advance(const std::array<double, 4>& action);

  bool hardcore_;
  Rng rng_;
  std::unique_ptr<b2::GroundContacts> contacts_;
  b2::ArenaWorld world_;
  b2Body* hull_ = nullptr;
  std::array<b2Body*, 4> legs_{};
  std::array<b2RevoluteJoint*, 4> joints_{};
  bool has_prev_shaping_ = false;
  double prev_shaping_ = 0.0;
  std::vector<double> terrain_x_, terrain_y_;
  std::vector<TerrainPolygon> obstacles_;
  std::array<std::array<double, 2>, walker::kLidarRays> lidar_p2_{};
};

// Gymnasium's BipedalWalkerHeuristics gait machine. The first action of an episode
// is zero; afterwards it acts on the latest observation.
class BipedalWalkerHeuristic final : public Policy {
 public:
  void begin_episode() override;
  std::vector<float> act(std::span<const float> s) override;

 private:
  int state_ = 1, moving_leg_ = 0, supporting_leg_ = 1;
  double supporting_knee_angle_ = 0.1;
  bool first_ = true;
};

}  // namespace softrl::envs
