#include "agents/core/squashed_gaussian_head.h"

#include <cmath>
#include <stdexcept>

namespace softrl::agents {
namespace {
constexpr double kHalfLog2Pi = 0.9189385332046727;  // log(2 pi) / 2
constexpr double kLog2 = 0.6931471805599453;
constexpr double kHalfRange = 0.5 * (kLogStdMax - kLogStdMin);

// The log-std from the squashed pre-activation t = tanh(pre).
template <typename T>
T log_std_of(T t) {
  return static_cast<T>(kLogStdMin) + static_cast<T>(kHalfRange) * (t + 1);
}

// softplus(x) = log(1 + e^x) without overflow.
template <typename T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <typename T>
void forward(const T* out, const T* eps, T* action, T* log_prob, int64_t rows, int64_t a) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* mu = out + i * 2 * a;
    const T* pre = mu + a;
    T lp = 0;
    for (int64_t j = 0; j < a; ++j) {
      const T ls = log_std_of(std::tanh(pre[j]));
      const T e = eps[i * a + j];
      const T u = mu[j] + std::exp(ls) * e;
      action[i * a + j] = std::tanh(u);
      // Gaussian log density of u minus log|d tanh(u) / du| = 2 (log 2 - u - softplus(-2u)).
      lp += -T(0.5) * e * e - ls - static_cast<T>(kHalfLog2Pi) - 2 * (static_cast<T>(kLog2) - u - softplus(-2 * u));
    }
    log_prob[i] = lp;
  }
}

template <typename T>
void backward(const T* out, const T* eps, const T* action, const T* d_lp, const T* d_act, T* d_out, int64_t rows,
              int64_t a) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* pre = out + i * 2 * a + a;
    T* d_mu = d_out + i * 2 * a;
    T* d_pre = d_mu + a;
    for (int64_t j = 0; j < a; ++j) {
      const T t = std::tanh(pre[j]);
      const T sigma = std::exp(log_std_of(t));
      const T act = action[i * a + j];
      const T du = d_act[i * a + j] * (1 - act * act) + d_lp[i] * 2 * act;
      d_mu[j] = du;
      d_pre[j] = (du * sigma * eps[i * a + j] - d_lp[i]) * static_cast<T>(kHalfRange) * (1 - t * t);
    }
  }
}

void check(const torch::Tensor& out, const torch::Tensor& eps) {
  if (out.dim() != 2 || eps.dim() != 2 || out.size(0) != eps.size(0) || out.size(1) != 2 * eps.size(1) ||
      out.scalar_type() != eps.scalar_type() || !out.is_floating_point())
    throw std::invalid_argument("squashed_gaussian_head: out [B, 2A] and eps [B, A] of one floating type expected");
}
}  // namespace

HeadSample squashed_gaussian_head(const torch::Tensor& out_in, const torch::Tensor& eps_in) {
  check(out_in, eps_in);
  const torch::Tensor out = out_in.detach().contiguous(), eps = eps_in.detach().contiguous();
  const int64_t rows = eps.size(0), a = eps.size(1);
  HeadSample s{torch::empty_like(eps), torch::empty({rows}, eps.options())};
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "squashed_gaussian_head", [&] {
    forward(out.data_ptr<scalar_t>(), eps.data_ptr<scalar_t>(), s.action.data_ptr<scalar_t>(),
            s.log_prob.data_ptr<scalar_t>(), rows, a);
  });
  return s;
}

torch::Tensor squashed_gaussian_head_backward(const torch::Tensor& out_in, const torch::Tensor& eps_in,
                                              const torch::Tensor& action_in, const torch::Tensor& d_log_prob_in,
                                              const torch::Tensor& d_action_in) {
  check(out_in, eps_in);
  const torch::Tensor out = out_in.detach().contiguous(), eps = eps_in.detach().contiguous();
  const torch::Tensor action = action_in.detach().contiguous(), d_lp = d_log_prob_in.detach().contiguous(),
                      d_act = d_action_in.detach().contiguous();
  if (action.sizes() != eps.sizes() || d_act.sizes() != eps.sizes() || d_lp.numel() != eps.size(0))
    throw std::invalid_argument("squashed_gaussian_head_backward: action and d_action [B, A], d_log_prob [B] expected");
  torch::Tensor d_out = torch::empty_like(out);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "squashed_gaussian_head_backward", [&] {
    backward(out.data_ptr<scalar_t>(), eps.data_ptr<scalar_t>(), action.data_ptr<scalar_t>(), d_lp.data_ptr<scalar_t>(),
             d_act.data_ptr<scalar_t>(), d_out.data_ptr<scalar_t>(), eps.size(0), eps.size(1));
  });
  return d_out;
}

}  // namespace softrl::agents
