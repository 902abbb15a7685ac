#pragma once
// What the objectives' tests share: float64 views of tensors and scalar reference functions.
// Float32 inputs; tolerances 1e-5 relative + 1e-6 absolute unless a test states otherwise.
#include <cmath>

#include <torch/torch.h>

namespace softrl::test {
inline torch::Tensor f64(const torch::Tensor& t) { return t.detach().to(torch::kFloat64); }
inline double d(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).item<double>(); }
inline bool close(const torch::Tensor& a, const torch::Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  return torch::allclose(f64(a), f64(b), rtol, atol);
}
inline double logsig(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
inline double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace softrl::test
