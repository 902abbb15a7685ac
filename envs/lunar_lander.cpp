#include "envs/lunar_lander.h"

#include <box2d/box2d.h>

#include <algorithm>
#include <cmath>

#include "envs/box2d_util.h"

namespace softrl::envs {
using namespace lunar;

namespace {
EnvSpec make_spec(bool continuous) {
  EnvSpec s;
  s.id = continuous ? "LunarLanderContinuous-v3" : "LunarLander-v3";
  s.max_episode_steps = 1000;
  s.reward_threshold = 200.0;
  const float pi = static_cast<float>(M_PI);
  s.observation_space = Space::box({-2.5f, -2.5f, -10.f, -10.f, -2 * pi, -10.f, 0.f, 0.f},
                                   {2.5f, 2.5f, 10.f, 10.f, 2 * pi, 10.f, 1.f, 1.f});
  s.action_space = continuous ? Space::box({-1.f, -1.f}, {1.f, 1.f}) : Space::discrete(4);
  return s;
}
}  // namespace

LunarLander::LunarLander(const LunarLanderOptions& opt)
    : Env(make_spec(opt.continuous)),
      opt_(opt),
      contacts_(std::make_unique<b2::GroundContacts>()) {
  if (!(opt.gravity > -12.0 && opt.gravity < 0.0))
    throw EnvError(spec().id + ": gravity must be in (-12, 0), got " + std::to_string(opt.gravity));
  if (opt.wind_power < 0 || opt.turbulence_power < 0)
    throw EnvError(spec().id + ": wind_power and turbulence_power must be >= 0");
}

LunarLander::~LunarLander() = default;

namespace {
struct LanderState {
  std::vector<std::byte> world;
  Rng rng;
  b2::GroundContacts contacts;
  b2Body *moon, *lander;
  std::array<b2Body*, 2> legs;
  std::array<b2RevoluteJoint*, 2> joints;
  bool has_prev_shaping;
  double prev_shaping;
  int64_t wind_idx, torque_idx;
  double helipad_y;
  std::array<double, kChunks> chunk_x, smooth_y;
};
}  // namespace

std::shared_ptr<const EnvSnapshot::TaskState> LunarLander::save_task() const {
  return std::make_shared<const SavedTaskState<LanderState>>(
      LanderState{world_.save(), rng_, *contacts_, moon_, lander_, legs_, joints_, has_prev_shaping_, prev_shaping_,
                  wind_idx_, torque_idx_, helipad_y_, chunk_x_, smooth_y_});
}

void LunarLander::load_task(const EnvSnapshot::TaskState& state) {
  const auto& s = dynamic_cast<const SavedTaskState<LanderState>&>(state).value;
  world_.load(s.world);
  rng_ = s.rng;
  *contacts_ = s.contacts;
  moon_ = s.moon, lander_ = s.lander, legs_ = s.legs, joints_ = s.joints;
  has_prev_shaping_ = s.has_prev_shaping, prev_shaping_ = s.prev_shaping;
  wind_idx_ = s.wind_idx, torque_idx_ = s.torque_idx;
  helipad_y_ = s.helipad_y, chunk_x_ = s.chunk_x, smooth_y_ = s.smooth_y;
}

bool LunarLander::leg_contact(int i) const { return contacts_->leg(static_cast<size_t>(i)); }

std::vector<float> LunarLander::reset_task(std::optional<uint64_t> seed) {
  if (seed) rng_.seed(*seed);
  world_.recreate(0.0f, static_cast<float>(opt_.gravity));  // a fresh world per reset (v3 determinism fix)
  const auto scope = world_.scope();
  world_->SetContactListener(contacts_.get());
  has_prev_shaping_ = false;

  // Terrain: 12 heights drawn, 5 overwritten by the pad, smoothed with 0.33 and height[-1].
  std::array<double, kChunks + 1> height{};
  for (double& h : height) h = rng_.uniform(0.0, kH / 2);
  for (int i = 0; i < kChunks; ++i) chunk_x_[i] = kW / (kChunks - 1) * i;
  helipad_y_ = kH / 4;
  for (int i = kChunks / 2 - 2; i <= kChunks / 2 + 2; ++i) height[i] = helipad_y_;
  for (int i = 0; i < kChunks; ++i) {
    const double prev = i == 0 ? height[kChunks] : height[i - 1];
    smooth_y_[i] = 0.33 * (prev + height[i] + height[i + 1]);
  }

  moon_ = b2::make_body(*world_.get(), b2_staticBody, b2Vec2(0, 0));
  b2::add_edge(moon_, b2Vec2(0, 0), b2Vec2(static_cast<float>(kW), 0), {});
  for (int i = 0; i < kChunks - 1; ++i)
    b2::add_edge(moon_, b2Vec2(static_cast<float>(chunk_x_[i]), static_cast<float>(smooth_y_[i])),
                 b2Vec2(static_cast<float>(chunk_x_[i + 1]), static_cast<float>(smooth_y_[i + 1])),
                 {.density = 0.0f, .friction = 0.1f});

  lander_ = b2::make_body(*world_.get(), b2_dynamicBody, b2Vec2(static_cast<float>(kW / 2), static_cast<float>(kH)));
  const double poly[6][2] = {{-14, 17}, {-17, 0}, {-17, -10}, {17, -10}, {17, 0}, {14, 17}};
  std::vector<b2Vec2> verts;
  for (const auto& p : poly) verts.emplace_back(static_cast<float>(p[0] / kScale), static_cast<float>(p[1] / kScale));
  b2::add_polygon(lander_, verts, {.density = 5.0f, .friction = 0.1f, .category = 0x0010, .mask = 0x001});
  const double fx = rng_.uniform(-kInitialRandom, kInitialRandom);
  const double fy = rng_.uniform(-kInitialRandom, kInitialRandom);
  lander_->ApplyForceToCenter(b2Vec2(static_cast<float>(fx), static_cast<float>(fy)), true);
  if (opt_.enable_wind) {
    wind_idx_ = rng_.integers(-9999, 9999);
    torque_idx_ = rng_.integers(-9999, 9999);
  }

  for (int k = 0; k < 2; ++k) {
    const double i = k == 0 ? -1.0 : 1.0;  // legs[0] is the i = -1 leg, on the +x side
    legs_[k] = b2::make_body(*world_.get(), b2_dynamicBody,
                             b2Vec2(static_cast<float>(kW / 2 - i * kLegAway / kScale), static_cast<float>(kH)),
                             static_cast<float>(i * 0.05));
    b2::add_box(legs_[k], static_cast<float>(kLegW / kScale), static_cast<float>(kLegH / kScale),
                {.density = 1.0f, .category = 0x0020, .mask = 0x001});
    b2::RevoluteParams jp;
    jp.anchor_a = b2Vec2(0, 0);
    jp.anchor_b = b2Vec2(static_cast<float>(i * kLegAway / kScale), static_cast<float>(kLegDown / kScale));
    jp.max_motor_torque = static_cast<float>(kLegSpringTorque);
    jp.motor_speed = static_cast<float>(0.3 * i);
    jp.lower = k == 0 ? 0.9f - 0.5f : -0.9f;
    jp.upper = k == 0 ? 0.9f : -0.9f + 0.5f;
    joints_[k] = b2::make_revolute(*world_.get(), lander_, legs_[k], jp);
  }
  contacts_->track(lander_, {legs_[0], legs_[1]});
  const std::span<const float> obs = advance(0.0, 0.0, 0).obs;  // the reset step: a no-op physics step
  return {obs.begin(), obs.end()};
}

StepResult LunarLander::step_task(std::span<const float> action) {
  const auto scope = world_.scope();
  if (opt_.continuous) {
    return advance(std::clamp(static_cast<double>(action[0]), -1.0, 1.0),
                   std::clamp(static_cast<double>(action[1]), -1.0, 1.0), -1);
  }
  return advance(0.0, 0.0, static_cast<int>(action[0]));
}

StepResult LunarLander::advance(double a0, double a1, int discrete_action) {
  const bool continuous = discrete_action < 0;
  if (opt_.enable_wind && !(contacts_->leg(0) || contacts_->leg(1))) {
    const double w = static_cast<double>(wind_idx_), t = static_cast<double>(torque_idx_);
    const double wind_mag = std::tanh(std::sin(0.02 * w) + std::sin(M_PI * 0.01 * w)) * opt_.wind_power;
    ++wind_idx_;
    lander_->ApplyForceToCenter(b2Vec2(static_cast<float>(wind_mag), 0.0f), true);
    const double torque_mag = std::tanh(std::sin(0.02 * t) + std::sin(M_PI * 0.01 * t)) * opt_.turbulence_power;
    ++torque_idx_;
    lander_->ApplyTorque(static_cast<float>(torque_mag), true);
  }

  const double angle = lander_->GetAngle();
  const double tip[2] = {std::sin(angle), std::cos(angle)};
  const double side[2] = {-tip[1], tip[0]};
  const double d0 = rng_.uniform(-1.0, 1.0) / kScale;
  const double d1 = rng_.uniform(-1.0, 1.0) / kScale;

  double m_power = 0.0;
  if ((continuous && a0 > 0.0) || (!continuous && discrete_action == 2)) {
    m_power = continuous ? (std::clamp(a0, 0.0, 1.0) + 1.0) * 0.5 : 1.0;
    const double ox = tip[0] * (kMainEngineYLocation / kScale + 2 * d0) + side[0] * d1;
    const double oy = -tip[1] * (kMainEngineYLocation / kScale + 2 * d0) - side[1] * d1;
    const b2Vec2 pos = lander_->GetPosition();
    lander_->ApplyLinearImpulse(b2Vec2(static_cast<float>(-ox * kMainEnginePower * m_power),
                                       static_cast<float>(-oy * kMainEnginePower * m_power)),
                                b2Vec2(static_cast<float>(pos.x + ox), static_cast<float>(pos.y + oy)), true);
  }
  double s_power = 0.0;
  if ((continuous && std::abs(a1) > 0.5) || (!continuous && (discrete_action == 1 || discrete_action == 3))) {
    const double direction = continuous ? (a1 > 0 ? 1.0 : -1.0) : static_cast<double>(discrete_action - 2);
    s_power = continuous ? std::clamp(std::abs(a1), 0.5, 1.0) : 1.0;
    const double ox = tip[0] * d0 + side[0] * (3 * d1 + direction * kSideEngineAway / kScale);
    const double oy = -tip[1] * d0 - side[1] * (3 * d1 + direction * kSideEngineAway / kScale);
    const b2Vec2 pos = lander_->GetPosition();
    // Gymnasium's x offset uses 17 px where 14 was meant (kept: a documented v3 quirk).
    const double px = pos.x + ox - tip[0] * 17.0 / kScale;
    const double py = pos.y + oy + tip[1] * kSideEngineHeight / kScale;
    lander_->ApplyLinearImpulse(b2Vec2(static_cast<float>(-ox * kSideEnginePower * s_power),
                                       static_cast<float>(-oy * kSideEnginePower * s_power)),
                                b2Vec2(static_cast<float>(px), static_cast<float>(py)), true);
  }

  world_->Step(static_cast<float>(1.0 / kFps), b2::kVelocityIterations, b2::kPositionIterations);

  const b2Vec2 pos = lander_->GetPosition();
  const b2Vec2 vel = lander_->GetLinearVelocity();
  const std::array<double, 8> s = {
      (pos.x - kW / 2) / (kW / 2),
      (pos.y - (helipad_y_ + kLegDown / kScale)) / (kH / 2),
      vel.x * (kW / 2) / kFps,
      vel.y * (kH / 2) / kFps,
      static_cast<double>(lander_->GetAngle()),
      20.0 * lander_->GetAngularVelocity() / kFps,
      contacts_->leg(0) ? 1.0 : 0.0,
      contacts_->leg(1) ? 1.0 : 0.0,
  };
  StepResult r;
  r.obs = write_obs(s);
  const double shaping = -100 * std::sqrt(s[0] * s[0] + s[1] * s[1]) - 100 * std::sqrt(s[2] * s[2] + s[3] * s[3]) -
                         100 * std::abs(s[4]) + 10 * s[6] + 10 * s[7];
  if (has_prev_shaping_) r.reward = shaping - prev_shaping_;
  prev_shaping_ = shaping;
  has_prev_shaping_ = true;
  r.reward -= m_power * 0.30;
  r.reward -= s_power * 0.03;
  if (contacts_->game_over() || std::abs(s[0]) >= 1.0) {
    r.terminated = true;
    r.reward = -100;
  }
  if (!lander_->IsAwake()) {
    r.terminated = true;
    r.reward = +100;
  }
  return r;
}

std::vector<float> LunarLanderHeuristic::act(std::span<const float> s) {
  double angle_targ = std::clamp(s[0] * 0.5 + s[2] * 1.0, -0.4, 0.4);
  const double hover_targ = 0.55 * std::abs(s[0]);
  double angle_todo = (angle_targ - s[4]) * 0.5 - s[5] * 1.0;
  double hover_todo = (hover_targ - s[1]) * 0.5 - s[3] * 0.5;
  if (s[6] != 0.0f || s[7] != 0.0f) {
    angle_todo = 0;
    hover_todo = -s[3] * 0.5;
  }
  if (continuous_) {
    return {static_cast<float>(std::clamp(hover_todo * 20 - 1, -1.0, 1.0)),
            static_cast<float>(std::clamp(-angle_todo * 20, -1.0, 1.0))};
  }
  int a = 0;
  if (hover_todo > std::abs(angle_todo) && hover_todo > 0.05) a = 2;
  else if (angle_todo < -0.05) a = 3;
  else if (angle_todo > +0.05) a = 1;
  return {static_cast<float>(a)};
}

}  // namespace softrl::envs
