#include "objectives/gumbel.h"

#include <limits>

namespace softrl {

torch::Tensor gumbel_noise(at::IntArrayRef shape, const torch::TensorOptions& options,
                           c10::optional<at::Generator> generator) {
  torch::Tensor e = torch::empty(shape, options);
  e.exponential_(1.0, generator);
  // Exp(1) draws of exactly 0 would give +inf noise.
  const double tiny =
      e.scalar_type() == torch::kDouble ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  return e.clamp_min_(tiny).log_().neg_();
}

namespace {
struct StraightThroughFn : torch::autograd::Function<StraightThroughFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& y_soft) {
    const torch::Tensor idx = y_soft.argmax(-1, true);
    return torch::zeros_like(y_soft).scatter_(-1, idx, 1.0);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    return {grads[0]};
  }
};
}  // namespace

torch::Tensor straight_through_one_hot(const torch::Tensor& y_soft) { return StraightThroughFn::apply(y_soft); }

torch::Tensor gumbel_softmax_with_noise(const torch::Tensor& logits, const torch::Tensor& noise,
                                        const GumbelSoftmaxOptions& opt) {
  const torch::Tensor y = softmax(logits + noise, {.mask = opt.mask, .temperature = opt.temperature});
  return opt.hard ? straight_through_one_hot(y) : y;
}

torch::Tensor gumbel_softmax(const torch::Tensor& logits, const GumbelSoftmaxOptions& opt,
                             c10::optional<at::Generator> generator) {
  return gumbel_softmax_with_noise(logits, gumbel_noise(logits.sizes(), logits.options(), generator), opt);
}

torch::Tensor gumbel_log_density(const torch::Tensor& g, const torch::Tensor& mu) {
  const torch::Tensor z = g - mu;
  return -z - torch::exp(-z);
}

}  // namespace softrl
