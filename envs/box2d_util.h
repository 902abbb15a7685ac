#pragma once
// Box2D 2.4.1 helpers shared by the tasks: pybox2d's implicit defaults made explicit.
#include <box2d/box2d.h>

#include <cstdint>
#include <vector>

namespace softrl::envs::b2 {

constexpr float kDefaultFriction = 0.2f;  // pybox2d fixtureDef default
constexpr int kVelocityIterations = 6 * 30;
constexpr int kPositionIterations = 2 * 30;

struct FixtureParams {
  float density = 0.0f;
  float friction = kDefaultFriction;
  float restitution = 0.0f;
  uint16_t category = 0x0001;
  uint16_t mask = 0xFFFF;
};

b2Fixture* add_polygon(b2Body* body, const std::vector<b2Vec2>& vertices, const FixtureParams& p);
b2Fixture* add_box(b2Body* body, float half_w, float half_h, const FixtureParams& p);
b2Fixture* add_edge(b2Body* body, b2Vec2 a, b2Vec2 b, const FixtureParams& p);
b2Body* make_body(b2World& world, b2BodyType type, b2Vec2 position, float angle = 0.0f);

struct RevoluteParams {
  b2Vec2 anchor_a, anchor_b;
  float lower = 0, upper = 0;
  float max_motor_torque = 0, motor_speed = 0;
};
// referenceAngle = bodyB.angle - bodyA.angle, as pybox2d's revoluteJointDef sets silently.
b2RevoluteJoint* make_revolute(b2World& world, b2Body* a, b2Body* b, const RevoluteParams& p);

// Gymnasium's contact listener for both tasks: a contact that begins on the `terminal` body ends
// the episode; each tracked leg has a single flag that any BeginContact sets and any EndContact
// clears (not a counter: a leg touching two edges and leaving one reads false - kept as is).
class GroundContacts final : public b2ContactListener {
 public:
  void track(const b2Body* terminal, std::vector<const b2Body*> legs);
  bool game_over() const { return game_over_; }
  bool leg(size_t i) const { return flags_[i]; }
  void BeginContact(b2Contact* c) override { update(c, true); }
  void EndContact(b2Contact* c) override { update(c, false); }

 private:
  void update(b2Contact* c, bool begin);
  const b2Body* terminal_ = nullptr;
  std::vector<const b2Body*> legs_;
  std::vector<bool> flags_;
  bool game_over_ = false;
};

// pybox2d's setters always wake both bodies; 2.4.1's only when the value changes.
void set_motor(b2RevoluteJoint* joint, float speed, float max_torque);

}  // namespace softrl::envs::b2
