#pragma once
// The one softmax / log-sum-exp core. Every objective in softrl goes through these functions.
//
// Conventions (all functions):
//   * They act over the last dimension of `x`.
//   * `temperature` tau > 0 is a constant (no gradient); the functions evaluate on x / tau:
//       logsumexp(x)   = LSE(x / tau) = m + log sum_i exp(x_i / tau - m),  m = max_i x_i / tau
//       log_softmax(x) = x / tau - LSE(x / tau),  softmax(x) = exp(log_softmax(x)).
//     (Not the smooth-max form tau * LSE(x / tau); the gradient of logsumexp is softmax / tau.)
//   * `mask` (optional, bool, broadcastable to x): true marks the entries that take part; a
//     false entry behaves as a logit of -inf. Entries equal to -inf in x are treated the same.
//   * Excluded entries: softmax exactly 0, log_softmax -inf, gradient exactly 0.
//   * A row with no included entry (fully masked, all -inf, or zero width): logsumexp -inf,
//     softmax all 0, log_softmax all -inf, and zero gradient everywhere. No NaN is produced.
//   * Gradients from log_softmax ignore the upstream gradient at excluded entries.
//   * +inf or NaN logits give NaN (undefined input).
// Float32 contiguous CPU tensors use the fused kernels (AVX2+FMA when the CPU has it, else
// portable code); anything else (float64, non-contiguous, other devices, double backward) runs
// an equivalent LibTorch composition with the same conventions, so callers never branch.
#include <torch/torch.h>

namespace softrl {

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
