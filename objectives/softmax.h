#pragma once
// The one softmax / log-sum-exp core. Every objective in softrl goes through these functions.
//
// Conventions (all functions):
//   * They act over the last dimension of `x`.
//   * `temperature` tau in [1e-30, 1e30] is a constant (no gradient; outside that range 1/tau is
//     not a normal float32, and the functions refuse it); they evaluate on x / tau, shifted by the
//     row's largest entry M first:
//       logsumexp(x)   = M / tau + log sum_i exp((x_i - M) / tau)
//       log_softmax(x) = (x - M) / tau - log sum_i exp((x_i - M) / tau),  softmax = exp(log_softmax).
//     (Not the smooth-max form tau * LSE(x / tau); the gradient of logsumexp is softmax / tau.)
//   * `mask` (optional, bool, broadcastable to x): true marks the entries that take part; a
//     false entry behaves as a logit of -inf. Entries equal to -inf in x are treated the same.
//   * Excluded entries: softmax exactly 0, log_softmax -inf, gradient exactly 0.
//   * A row with no included entry (fully masked, all -inf, or zero width): logsumexp -inf,
//     softmax all 0, log_softmax all -inf, and zero gradient everywhere. No NaN is produced.
//   * Gradients from log_softmax ignore the upstream gradient at excluded entries.
//   * A NaN anywhere in a row makes the row's results (and gradients) NaN, masked or not, so that
//     NaN guards downstream see it; +inf logits give NaN too (undefined input).
// Accuracy (float32): within a few float32 rounding steps of the exact value of the formulas above
// for any |x|, row length and tau in range (tests/test_softmax.cpp states the bounds).
// Float32 CPU tensors use the fused kernels (AVX-512 or AVX2+FMA when the CPU has it, else portable code;
// non-contiguous ones are made contiguous first); anything else (float64, other devices, double
// backward) runs an equivalent LibTorch composition with the same conventions.
#include <limits>

#include <torch/torch.h>

namespace softrl {

// The temperatures the core takes: outside, 1/tau is not a finite float (configs validate against it).
constexpr double kMinTemperature = 1e-30, kMaxTemperature = 1e30;
// The log-probability of an excluded entry (what a mask fills in).
inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct SoftmaxOptions {
  torch::Tensor mask = {};   // undefined = every entry included
  double temperature = 1.0;  // tau > 0
};

torch::Tensor logsumexp(const torch::Tensor& x, const SoftmaxOptions& opt = {});  // shape x[..., :-1]
torch::Tensor log_softmax(const torch::Tensor& x, const SoftmaxOptions& opt = {});
torch::Tensor softmax(const torch::Tensor& x, const SoftmaxOptions& opt = {});

namespace detail {
// The LibTorch compositions used as fallback; exposed so tests can compare both paths.
torch::Tensor logsumexp_composed(const torch::Tensor& x, const SoftmaxOptions& opt);
torch::Tensor log_softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt);
torch::Tensor softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt);
// True when x would use the fused kernels.
bool uses_fused_kernels(const torch::Tensor& x);
}  // namespace detail

}  // namespace softrl
