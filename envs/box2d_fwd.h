#pragma once
// Forward declarations for task headers, so they need not include <box2d/box2d.h>.
class b2World;
class b2Body;
class b2RevoluteJoint;

namespace softrl::envs::b2 {
class GroundContacts;
}
