#pragma once
// Rasterizes a task's world to a 600x400 RGB frame (Gymnasium's layout and colours, without
// particles or clouds). Supported: LunarLander and BipedalWalker (normal and hardcore).
#include "envs/env.h"
#include "envs/image.h"

namespace softrl::envs {

constexpr int kFrameWidth = 600, kFrameHeight = 400;

// Throws EnvError for an environment that cannot be rendered or has not been reset.
Image render(const Env& env);

}  // namespace softrl::envs
