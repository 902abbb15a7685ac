#include "envs/bipedal_walker.h"

#include <box2d/box2d.h>

#include <algorithm>
#include <cmath>

#include "envs/box2d_util.h"

namespace softrl::envs {
using namespace walker;

namespace {
EnvSpec make_spec(bool hardcore) {
  EnvSpec s;
  s.id = hardcore ? "BipedalWalkerHardcore-v3" : "BipedalWalker-v3";
  s.max_episode_steps = hardcore ? 2000 : 1600;
  s.reward_threshold = 300.0;
  const float pi = static_cast<float>(M_PI);
  std::vector<float> lo = {-pi, -5, -5, -5, -pi, -5, -pi, -5, 0, -pi, -5, -pi, -5, 0};
  std::vector<float> hi = {pi, 5, 5, 5, pi, 5, pi, 5, 5, pi, 5, pi, 5, 5};
  for (int i = 0; i < kLidarRays; ++i) {
    lo.push_back(-1);
    hi.push_back(1);
  }
  s.observation_space = Space::box(lo, hi);
  s.action_space = Space::box({-1, -1, -1, -1}, {1, 1, 1, 1});
  return s;
}
double sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }
b2Vec2 v(double x, double y) { return b2Vec2(static_cast<float>(x), static_cast<float>(y)); }
enum TerrainState { kGrass = 0, kStump = 1, kStairs = 2, kPit = 3, kStates = 4 };
}  // namespace

// Closest ground hit: non-ground fixtures are filtered (-1), others clip the ray (fraction).
class BipedalWalker::Lidar final : public b2RayCastCallback {
 public:
  float fraction = 1.0f;
  b2Vec2 p2;
  float ReportFixture(b2Fixture* fixture, const b2Vec2& point, const b2Vec2&, float f) override {
    if ((fixture->GetFilterData().categoryBits & 1) == 0) return -1.0f;
    p2 = point;
    fraction = f;
    return f;
  }
};

BipedalWalker::BipedalWalker(bool hardcore)
    : Env(make_spec(hardcore)),
      hardcore_(hardcore),
      contacts_(std::make_unique<b2::GroundContacts>()) {}

BipedalWalker::~BipedalWalker() = default;

namespace {
struct WalkerState {
  std::vector<std::byte> world;
  Rng rng;
  b2::GroundContacts contacts;
  b2Body* hull;
  std::array<b2Body*, 4> legs;
  std::array<b2RevoluteJoint*, 4> joints;
  bool has_prev_shaping;
  double prev_shaping;
  std::vector<double> terrain_x, terrain_y;
  std::vector<TerrainPolygon> obstacles;
  std::array<std::array<double, 2>, kLidarRays> lidar_p2;
};
}  // namespace

std::shared_ptr<const EnvSnapshot::TaskState> BipedalWalker::save_task() const {
  return std::make_shared<const SavedTaskState<WalkerState>>(
      WalkerState{world_.save(), rng_, *contacts_, hull_, legs_, joints_, has_prev_shaping_, prev_shaping_, terrain_x_,
                  terrain_y_, obstacles_, lidar_p2_});
}

void BipedalWalker::load_task(const EnvSnapshot::TaskState& state) {
  const auto& s = dynamic_cast<const SavedTaskState<WalkerState>&>(state).value;
  world_.load(s.world);
  rng_ = s.rng;
  *contacts_ = s.contacts;
  hull_ = s.hull, legs_ = s.legs, joints_ = s.joints;
  has_prev_shaping_ = s.has_prev_shaping, prev_shaping_ = s.prev_shaping;
  terrain_x_ = s.terrain_x, terrain_y_ = s.terrain_y, obstacles_ = s.obstacles, lidar_p2_ = s.lidar_p2;
}

void BipedalWalker::add_obstacle(const TerrainPolygon& p) {
  b2Body* body = b2::make_body(*world_.get(), b2_staticBody, b2Vec2(0, 0));
  std::vector<b2Vec2> verts;
  for (const auto& q : p.v) verts.push_back(v(q[0], q[1]));
  b2::add_polygon(body, verts, {.friction = static_cast<float>(kFriction)});
  obstacles_.push_back(p);
}

void BipedalWalker::generate_terrain() {
  int state = kGrass;
  double velocity = 0.0, y = kTerrainHeight, original_y = 0.0;
  int64_t counter = kTerrainStartpad;
  bool oneshot = false;
  int64_t stair_steps = 0, stair_width = 0, stair_height = 0;
  terrain_x_.clear();
  terrain_y_.clear();
  obstacles_.clear();
  const double ts = kTerrainStep;
  for (int i = 0; i < kTerrainLength; ++i) {
    const double x = i * ts;
    terrain_x_.push_back(x);
    if (state == kGrass && !oneshot) {
      velocity = 0.8 * velocity + 0.01 * sign(kTerrainHeight - y);
      if (i > kTerrainStartpad) velocity += rng_.uniform(-1, 1) / kScale;
      y += velocity;
    } else if (state == kPit && oneshot) {
      counter = rng_.integers(3, 5);
      const TerrainPolygon p{{{{x, y}, {x + ts, y}, {x + ts, y - 4 * ts}, {x, y - 4 * ts}}}};
      add_obstacle(p);
      TerrainPolygon q = p;
      for (auto& c : q.v) c[0] += ts * static_cast<double>(counter);
      add_obstacle(q);
      counter += 2;
      original_y = y;
    } else if (state == kPit && !oneshot) {
      y = original_y;
      if (counter > 1) y -= 4 * ts;
    } else if (state == kStump && oneshot) {
      counter = rng_.integers(1, 3);
      const double c = static_cast<double>(counter);
      add_obstacle({{{{x, y}, {x + c * ts, y}, {x + c * ts, y + c * ts}, {x, y + c * ts}}}});
    } else if (state == kStairs && oneshot) {
      stair_height = rng_.random() > 0.5 ? 1 : -1;
      stair_width = rng_.integers(4, 5);  // one value: draws nothing, as NumPy
      stair_steps = rng_.integers(3, 5);
      original_y = y;
      for (int64_t s = 0; s < stair_steps; ++s) {
        const double w = static_cast<double>(stair_width), h = static_cast<double>(stair_height);
        const double sd = static_cast<double>(s);
        add_obstacle({{{{x + (sd * w) * ts, y + (sd * h) * ts},
                        {x + ((1 + sd) * w) * ts, y + (sd * h) * ts},
                        {x + ((1 + sd) * w) * ts, y + (-1 + sd * h) * ts},
                        {x + (sd * w) * ts, y + (-1 + sd * h) * ts}}}});
      }
      counter = stair_steps * stair_width;
    } else if (state == kStairs && !oneshot) {
      const double s = static_cast<double>(stair_steps * stair_width - counter - stair_height);
      const double n = s / static_cast<double>(stair_width);
      y = original_y + (n * static_cast<double>(stair_height)) * ts;
    }
    oneshot = false;
    terrain_y_.push_back(y);
    counter -= 1;
    if (counter == 0) {
      counter = rng_.integers(kTerrainGrass / 2, kTerrainGrass);
      if (state == kGrass && hardcore_) {
        state = static_cast<int>(rng_.integers(1, kStates));
      } else {
        state = kGrass;
      }
      oneshot = true;
    }
  }
  // One static body per segment, two-sided edges (not a chain: keeps the ghost collisions).
  for (int i = 0; i < kTerrainLength - 1; ++i) {
    b2Body* body = b2::make_body(*world_.get(), b2_staticBody, b2Vec2(0, 0));
    b2::add_edge(body, v(terrain_x_[i], terrain_y_[i]), v(terrain_x_[i + 1], terrain_y_[i + 1]),
                 {.friction = static_cast<float>(kFriction), .category = 0x0001});
  }
}

void BipedalWalker::generate_clouds() {
  // Visual only, but the 110 draws shift the stream before the initial push.
  for (int i = 0; i < kTerrainLength / 20; ++i) {
    rng_.uniform(0, kTerrainLength);
    for (int a = 0; a < 5; ++a) {
      rng_.uniform(0, 5 * kTerrainStep);
      rng_.uniform(0, 5 * kTerrainStep);
    }
  }
}

std::vector<float> BipedalWalker::reset_task(std::optional<uint64_t> seed) {
  if (seed) rng_.seed(*seed);
  world_.recreate(0.0f, -10.0f);  // a fresh world per reset (v3 determinism fix)
  const auto scope = world_.scope();
  world_->SetContactListener(contacts_.get());
  has_prev_shaping_ = false;
  generate_terrain();
  generate_clouds();

  const double init_x = kTerrainStep * kTerrainStartpad / 2;
  const double init_y = kTerrainHeight + 2 * kLegH;
  hull_ = b2::make_body(*world_.get(), b2_dynamicBody, v(init_x, init_y));
  const double poly[5][2] = {{-30, 9}, {6, 9}, {34, 1}, {34, -8}, {-30, -8}};
  std::vector<b2Vec2> verts;
  for (const auto& p : poly) verts.push_back(v(p[0] / kScale, p[1] / kScale));
  b2::add_polygon(hull_, verts, {.density = 5.0f, .friction = 0.1f, .category = 0x0020, .mask = 0x001});
  hull_->ApplyForceToCenter(v(rng_.uniform(-kInitialRandom, kInitialRandom), 0), true);

  for (int k = 0; k < 2; ++k) {
    const double i = k == 0 ? -1.0 : 1.0;
    b2Body* upper = b2::make_body(*world_.get(), b2_dynamicBody, v(init_x, init_y - kLegH / 2 - kLegDown),
                                  static_cast<float>(i * 0.05));
    b2::add_box(upper, static_cast<float>(kLegW / 2), static_cast<float>(kLegH / 2),
                {.density = 1.0f, .category = 0x0020, .mask = 0x001});
    b2::RevoluteParams hip;
    hip.anchor_a = v(0, kLegDown);
    hip.anchor_b = v(0, kLegH / 2);
    hip.max_motor_torque = static_cast<float>(kMotorsTorque);
    hip.motor_speed = static_cast<float>(i);
    hip.lower = -0.8f;
    hip.upper = 1.1f;
    joints_[2 * k] = b2::make_revolute(*world_.get(), hull_, upper, hip);

    b2Body* lower = b2::make_body(*world_.get(), b2_dynamicBody, v(init_x, init_y - kLegH * 3 / 2 - kLegDown),
                                  static_cast<float>(i * 0.05));
    b2::add_box(lower, static_cast<float>(0.8 * kLegW / 2), static_cast<float>(kLegH / 2),
                {.density = 1.0f, .category = 0x0020, .mask = 0x001});
    b2::RevoluteParams knee;
    knee.anchor_a = v(0, -kLegH / 2);
    knee.anchor_b = v(0, kLegH / 2);
    knee.max_motor_torque = static_cast<float>(kMotorsTorque);
    knee.motor_speed = 1.0f;
    knee.lower = -1.6f;
    knee.upper = -0.1f;
    joints_[2 * k + 1] = b2::make_revolute(*world_.get(), upper, lower, knee);
    legs_[2 * k] = upper;
    legs_[2 * k + 1] = lower;
  }
  contacts_->track(hull_, {legs_[1], legs_[3]});  // only the lower legs report ground contact
  const std::span<const float> obs = advance({0, 0, 0, 0}).obs;
  return {obs.begin(), obs.end()};
}

StepResult BipedalWalker::step_task(std::span<const float> action) {
  const auto scope = world_.scope();
  return advance({action[0], action[1], action[2], action[3]});
}

StepResult BipedalWalker::advance(const std::array<double, 4>& a) {
  for (int k = 0; k < 4; ++k) {
    const double speed = (k % 2 == 0) ? kSpeedHip : kSpeedKnee;
    b2::set_motor(joints_[k], static_cast<float>(speed * sign(a[k])),
                  static_cast<float>(kMotorsTorque * std::clamp(std::abs(a[k]), 0.0, 1.0)));
  }
  world_->Step(static_cast<float>(1.0 / kFps), b2::kVelocityIterations, b2::kPositionIterations);

  const b2Vec2 pos = hull_->GetPosition();
  const b2Vec2 vel = hull_->GetLinearVelocity();
  std::array<double, kLidarRays> lidar{};
  for (int i = 0; i < kLidarRays; ++i) {
    Lidar cb;
    const b2Vec2 p2 = v(pos.x + std::sin(1.5 * i / 10.0) * kLidarRange, pos.y - std::cos(1.5 * i / 10.0) * kLidarRange);
    cb.p2 = p2;
    world_->RayCast(&cb, pos, p2);
    lidar[i] = cb.fraction;
    lidar_p2_[i] = {cb.p2.x, cb.p2.y};
  }
  auto joint_angle = [&](int k) { return static_cast<double>(joints_[k]->GetJointAngle()); };
  auto joint_speed = [&](int k) { return static_cast<double>(joints_[k]->GetJointSpeed()); };
  const double hull_angle = hull_->GetAngle();
  const std::array<double, 14> body = {
      hull_angle,
      2.0 * hull_->GetAngularVelocity() / kFps,
      0.3 * vel.x * (600.0 / kScale) / kFps,
      0.3 * vel.y * (400.0 / kScale) / kFps,
      joint_angle(0),
      joint_speed(0) / kSpeedHip,
      joint_angle(1) + 1.0,
      joint_speed(1) / kSpeedKnee,
      contacts_->leg(0) ? 1.0 : 0.0,
      joint_angle(2),
      joint_speed(2) / kSpeedHip,
      joint_angle(3) + 1.0,
      joint_speed(3) / kSpeedKnee,
      contacts_->leg(1) ? 1.0 : 0.0,
  };
  std::array<double, 14 + kLidarRays> s;
  std::copy(body.begin(), body.end(), s.begin());
  std::copy(lidar.begin(), lidar.end(), s.begin() + 14);
  StepResult r;
  r.obs = write_obs(s);
  const double shaping = 130 * pos.x / kScale - 5.0 * std::abs(s[0]);
  if (has_prev_shaping_) r.reward = shaping - prev_shaping_;
  prev_shaping_ = shaping;
  has_prev_shaping_ = true;
  for (double ak : a) r.reward -= 0.00035 * kMotorsTorque * std::clamp(std::abs(ak), 0.0, 1.0);
  if (contacts_->game_over() || pos.x < 0) {
    r.reward = -100;
    r.terminated = true;
  }
  if (pos.x > (kTerrainLength - kTerrainGrass) * kTerrainStep) r.terminated = true;
  return r;
}

void BipedalWalkerHeuristic::begin_episode() {
  state_ = 1;
  moving_leg_ = 0;
  supporting_leg_ = 1;
  supporting_knee_angle_ = 0.1;
  first_ = true;
}

std::vector<float> BipedalWalkerHeuristic::act(std::span<const float> s) {
  if (first_) {
    first_ = false;
    return {0, 0, 0, 0};
  }
  constexpr int kStayOnOneLeg = 1, kPutOtherDown = 2, kPushOff = 3;
  constexpr double kSpeed = 0.29, kSupportKneeAngle = 0.1;
  const int moving_base = 4 + 5 * moving_leg_;
  const int supporting_base = 4 + 5 * supporting_leg_;
  std::array<std::optional<double>, 2> hip_targ, knee_targ;
  std::array<double, 2> hip_todo{0, 0}, knee_todo{0, 0};
  if (state_ == kStayOnOneLeg) {
    hip_targ[moving_leg_] = 1.1;
    knee_targ[moving_leg_] = -0.6;
    supporting_knee_angle_ += 0.03;
    if (s[2] > kSpeed) supporting_knee_angle_ += 0.03;
    supporting_knee_angle_ = std::min(supporting_knee_angle_, kSupportKneeAngle);
    knee_targ[supporting_leg_] = supporting_knee_angle_;
    if (s[supporting_base + 0] < 0.10) state_ = kPutOtherDown;
  }
  if (state_ == kPutOtherDown) {
    hip_targ[moving_leg_] = 0.1;
    knee_targ[moving_leg_] = kSupportKneeAngle;
    knee_targ[supporting_leg_] = supporting_knee_angle_;
    if (s[moving_base + 4] != 0.0f) {
      state_ = kPushOff;
      supporting_knee_angle_ = std::min(static_cast<double>(s[moving_base + 2]), kSupportKneeAngle);
    }
  }
  if (state_ == kPushOff) {
    knee_targ[moving_leg_] = supporting_knee_angle_;
    knee_targ[supporting_leg_] = 1.0;
    if (s[supporting_base + 2] > 0.88 || s[2] > 1.2 * kSpeed) {
      state_ = kStayOnOneLeg;
      moving_leg_ = 1 - moving_leg_;
      supporting_leg_ = 1 - moving_leg_;
    }
  }
  // Python truthiness: a target of None or 0.0 is skipped.
  auto truthy = [](const std::optional<double>& t) { return t.has_value() && *t != 0.0; };
  if (truthy(hip_targ[0])) hip_todo[0] = 0.9 * (*hip_targ[0] - s[4]) - 0.25 * s[5];
  if (truthy(hip_targ[1])) hip_todo[1] = 0.9 * (*hip_targ[1] - s[9]) - 0.25 * s[10];
  if (truthy(knee_targ[0])) knee_todo[0] = 4.0 * (*knee_targ[0] - s[6]) - 0.25 * s[7];
  if (truthy(knee_targ[1])) knee_todo[1] = 4.0 * (*knee_targ[1] - s[11]) - 0.25 * s[12];
  for (int k = 0; k < 2; ++k) {
    hip_todo[k] -= 0.9 * (0 - s[0]) - 1.5 * s[1];
    knee_todo[k] -= 15.0 * s[3];
  }
  const std::array<double, 4> raw = {hip_todo[0], knee_todo[0], hip_todo[1], knee_todo[1]};
  std::vector<float> a(4);
  for (int k = 0; k < 4; ++k) a[k] = static_cast<float>(std::clamp(0.5 * raw[k], -1.0, 1.0));
  return a;
}

}  // namespace softrl::envs
