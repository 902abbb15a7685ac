#pragma once
// Gumbel sampling on the softmax core (Jang et al. 2017, arXiv 1611.01144; Maddison et al. 2017, arXiv 1611.00712).
#include <optional>

#include <torch/torch.h>

#include "objectives/softmax.h"

namespace softrl {

// Standard Gumbel(0, 1) noise drawn as -log(E), E ~ Exp(1) (never log(0) from a uniform).
torch::Tensor gumbel_noise(at::IntArrayRef shape, const torch::TensorOptions& options,
                           c10::optional<at::Generator> generator = c10::nullopt);

struct GumbelSoftmaxOptions {
  double temperature = 1.0;
  bool hard = false;        // straight-through: forward exactly one-hot, backward of the soft sample
  torch::Tensor mask = {};  // excluded entries are never sampled
};
// softmax((logits + g) / tau) with fresh Gumbel noise g.
torch::Tensor gumbel_softmax(const torch::Tensor& logits, const GumbelSoftmaxOptions& opt = {},
                             c10::optional<at::Generator> generator = c10::nullopt);
// The same, with the noise given (so callers can store it and tests can control it).
torch::Tensor gumbel_softmax_with_noise(const torch::Tensor& logits, const torch::Tensor& noise,
                                        const GumbelSoftmaxOptions& opt = {});

// Forward: one_hot(argmax(y_soft)) exactly; backward: the gradient passes to y_soft unchanged.
torch::Tensor straight_through_one_hot(const torch::Tensor& y_soft);

// Log-density of Gumbel(location mu, scale 1) at g: -(g - mu) - exp(-(g - mu)), elementwise.
// Gradient w.r.t. mu: 1 - exp(-(g - mu)).
torch::Tensor gumbel_log_density(const torch::Tensor& g, const torch::Tensor& mu);

}  // namespace softrl
