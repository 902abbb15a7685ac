#pragma once

namespace softrl::agents {

// Learning rate: constant, or linear from `initial` to 0 over training (RL Zoo's lin_X).
struct Schedule {
  double initial = 3e-4;
  bool linear = false;
  double at(double progress_remaining) const { return linear ? initial * progress_remaining : initial; }
};

}  // namespace softrl::agents
