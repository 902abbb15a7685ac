#pragma once
// Cheap numerical health checks worth logging every update.
#include <torch/torch.h>

namespace softrl {

// Softmax Collapse (Prieto et al. 2025, "Grokking at the Edge of Numerical Stability"): the fraction of rows, among
// rows with at least two included entries, whose float32 sum sum_k exp(x_k - max x) is exactly 1, i.e. every non-max
// term was absorbed by rounding (then log_softmax(max) = 0 and its gradient vanishes). Evaluated in float32 whatever
// the input type, under no_grad. Returns 0 when no row qualifies.
double softmax_collapse_fraction(const torch::Tensor& logits, const torch::Tensor& mask = {});

}  // namespace softrl
