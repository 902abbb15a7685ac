#pragma once
// torch::optim::Adam's step applied to one part (along dim 0) of every parameter at a time, so
// that parameters whose gradients are ready on several threads (an ensemble's members, or an
// actor's halves) are stepped on those threads. The state stays the optimizer's own (its checkpoints and a later
// plain step() see the same moments and step count); the arithmetic is Adam's (Kingma & Ba 2015,
// Algorithm 1, with torch's placement of eps: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)).
#include <vector>

#include <torch/torch.h>

#include "agents/core/fused_updates.h"

namespace softrl::agents {

class SlicedAdamStep {
 public:
  // Starts one step of `opt` (plain Adam: no weight decay, no amsgrad): creates missing state as
  // Adam does, counts the step, fixes the bias corrections. Single-threaded; then apply(k, n)
  // for every k in [0, n), from any threads. Part k of a parameter is rows [s0 k / n,
  // s0 (k + 1) / n) of its first dimension (s0 rows); a 0-dimensional one is part 0's.
  explicit SlicedAdamStep(torch::optim::Adam& opt);
  void apply(int64_t part, int64_t parts) const;

 private:
  struct Entry {
    torch::Tensor param, grad, exp_avg, exp_avg_sq;
    AdamCoefficients coefficients;
  };
  std::vector<Entry> entries_;
};

}  // namespace softrl::agents
