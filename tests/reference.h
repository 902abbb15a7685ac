#pragma once
// Float64 references for the core, written with plain LibTorch ops, and tolerance helpers.
#include <limits>

#include <torch/torch.h>

namespace softrl::test {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kU = 1.0 / 16777216.0;  // float32's unit roundoff, 2^-24

// x / tau in float64 with excluded entries at -inf. `scale` is the float32 value of 1 / tau the
// kernels multiply by, so the reference sees the same scaled input as any float32 code does.
inline torch::Tensor ref_scaled(const torch::Tensor& x, const torch::Tensor& mask, double tau) {
  const double scale = static_cast<double>(static_cast<float>(1.0 / tau));
  torch::Tensor xs = x.to(torch::kFloat64) * scale;
  if (mask.defined()) xs = xs.masked_fill(mask.logical_not(), -kInf);
  return xs;
}

inline torch::Tensor ref_logsumexp(const torch::Tensor& xs) {
  const torch::Tensor m = std::get<0>(xs.max(-1, true));
  const torch::Tensor m_safe = m.masked_fill(m == -kInf, 0.0);
  return (m_safe + (xs - m_safe).exp().sum(-1, true).log()).squeeze(-1);
}

inline torch::Tensor ref_log_softmax(const torch::Tensor& xs) {
  const torch::Tensor lse = ref_logsumexp(xs).unsqueeze(-1);
  return (xs - lse.masked_fill(lse == -kInf, 0.0)).masked_fill(lse == -kInf, -kInf);
}

inline torch::Tensor ref_softmax(const torch::Tensor& xs) { return ref_log_softmax(xs).exp(); }

// Largest |x| over finite entries (0 if none).
inline double max_finite_abs(const torch::Tensor& x) {
  const torch::Tensor f = x.to(torch::kFloat64).abs().masked_fill(x.isinf(), 0.0);
  return f.numel() == 0 ? 0.0 : f.max().item<double>();
}

// Largest ratio |got - want| / tol over elements where want is finite; +inf entries of `want`
// must match exactly. Returns > 1 when the tolerance is exceeded anywhere.
inline double worst_ratio(const torch::Tensor& got, const torch::Tensor& want, const torch::Tensor& tol) {
  const torch::Tensor g = got.to(torch::kFloat64);
  const torch::Tensor inf_want = want.isinf();
  if (!torch::equal(g.masked_select(inf_want), want.masked_select(inf_want))) return kInf;
  if (g.isnan().any().item<bool>()) return kInf;
  const torch::Tensor diff = (g - want).abs().masked_fill(inf_want, 0.0);
  return diff.numel() == 0 ? 0.0 : (diff / tol).max().item<double>();
}

}  // namespace softrl::test
