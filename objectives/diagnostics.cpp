#include "objectives/diagnostics.h"

#include "objectives/softmax.h"

namespace softrl {

double softmax_collapse_fraction(const torch::Tensor& logits, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = logits.detach().to(torch::kFloat32);
  if (mask.defined()) x = x.masked_fill(mask.logical_not(), kNegInf);
  const torch::Tensor counted = (x != kNegInf).sum(-1) >= 2;
  const int64_t rows = counted.sum().item<int64_t>();
  if (rows == 0) return 0.0;
  const torch::Tensor m = x.amax(-1, true).masked_fill(counted.unsqueeze(-1).logical_not(), 0.0);
  const torch::Tensor s = (x - m).exp().sum(-1);
  return static_cast<double>((s == 1.0).logical_and(counted).sum().item<int64_t>()) / static_cast<double>(rows);
}

}  // namespace softrl
