#include "envs/box2d_util.h"

namespace softrl::envs::b2 {
namespace {
b2Fixture* attach(b2Body* body, const b2Shape& shape, const FixtureParams& p) {
  b2FixtureDef fd;
  fd.shape = &shape;
  fd.density = p.density;
  fd.friction = p.friction;
  fd.restitution = p.restitution;
  fd.filter.categoryBits = p.category;
  fd.filter.maskBits = p.mask;
  return body->CreateFixture(&fd);
}
}  // namespace

b2Fixture* add_polygon(b2Body* body, const std::vector<b2Vec2>& vertices, const FixtureParams& p) {
  b2PolygonShape shape;
  shape.Set(vertices.data(), static_cast<int32>(vertices.size()));
  return attach(body, shape, p);
}

b2Fixture* add_box(b2Body* body, float half_w, float half_h, const FixtureParams& p) {
  b2PolygonShape shape;
  shape.SetAsBox(half_w, half_h);
  return attach(body, shape, p);
}

b2Fixture* add_edge(b2Body* body, b2Vec2 a, b2Vec2 b, const FixtureParams& p) {
  b2EdgeShape shape;
  shape.SetTwoSided(a, b);
  return attach(body, shape, p);
}

b2Body* make_body(b2World& world, b2BodyType type, b2Vec2 position, float angle) {
  b2BodyDef bd;
  bd.type = type;
  bd.position = position;
  bd.angle = angle;
  return world.CreateBody(&bd);
}

b2RevoluteJoint* make_revolute(b2World& world, b2Body* a, b2Body* b, const RevoluteParams& p) {
  b2RevoluteJointDef jd;
  jd.bodyA = a;
  jd.bodyB = b;
  jd.localAnchorA = p.anchor_a;
  jd.localAnchorB = p.anchor_b;
  jd.referenceAngle = b->GetAngle() - a->GetAngle();
  jd.enableMotor = true;
  jd.enableLimit = true;
  jd.lowerAngle = p.lower;
  jd.upperAngle = p.upper;
  jd.maxMotorTorque = p.max_motor_torque;
  jd.motorSpeed = p.motor_speed;
  return static_cast<b2RevoluteJoint*>(world.CreateJoint(&jd));
}

void GroundContacts::track(const b2Body* terminal, std::vector<const b2Body*> legs) {
  terminal_ = terminal;
  legs_ = std::move(legs);
  flags_.assign(legs_.size(), false);
  game_over_ = false;
}

void GroundContacts::update(b2Contact* c, bool begin) {
  const b2Body* a = c->GetFixtureA()->GetBody();
  const b2Body* b = c->GetFixtureB()->GetBody();
  if (begin && (a == terminal_ || b == terminal_)) game_over_ = true;
  for (size_t i = 0; i < legs_.size(); ++i)
    if (a == legs_[i] || b == legs_[i]) flags_[i] = begin;
}

void set_motor(b2RevoluteJoint* joint, float speed, float max_torque) {
  joint->SetMotorSpeed(speed);
  joint->SetMaxMotorTorque(max_torque);
  joint->GetBodyA()->SetAwake(true);
  joint->GetBodyB()->SetAwake(true);
}

}  // namespace softrl::envs::b2
