#pragma once
// Rasterizes a task's world to a 600x400 RGB frame (Gymnasium's layout and colours, without
// particles or clouds). Supported: LunarLander and BipedalWalker (normal and hardcore).
#include "envs/env.h"
#include "envs/image.h"

namespace softrl::envs {

constexpr int kFrameWidth = 600, kFrameHeight = 400;

// The renderers of the registry's entries (envs::render in envs/registry.h picks the task's).
Image render_lander(const Env& env);
Image render_walker(const Env& env);

}  // namespace softrl::envs
