#include "agents/core/fused_updates.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace softrl::agents {
namespace {
void require_alike(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  if (!a.is_contiguous() || !b.is_contiguous() || a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type() ||
      !(a.scalar_type() == torch::kFloat || a.scalar_type() == torch::kDouble))
    throw std::invalid_argument(std::string(what) +
                                ": tensors must be contiguous, of one shape and of one type (float or double)");
}

// Written through raw pointers: count the write as an in-place op would, so that a graph that
// saved the tensor refuses to differentiate with its new values.
void modified(const torch::Tensor& t) { t.unsafeGetTensorImpl()->bump_version(); }

// Plain loops the compiler vectorizes (sqrt and division are exact in every instruction set, and
// without floating-point contraction every clone rounds the same way); the AVX2 clone is chosen
// at load time where the CPU has it.
// The builtins, not std::sqrt: the library's inline overloads are not inlined into a clone
// compiled for another target, and a call stops vectorization.
[[gnu::always_inline]] inline float root(float x) { return __builtin_sqrtf(x); }
[[gnu::always_inline]] inline double root(double x) { return __builtin_sqrt(x); }

template <typename T>
[[gnu::always_inline]] inline void adam_loop(T* p, const T* g, T* m, T* v, int64_t n, const AdamCoefficients& c) {
  const T b1 = static_cast<T>(c.beta1), a1 = static_cast<T>(1 - c.beta1);
  const T b2 = static_cast<T>(c.beta2), a2 = static_cast<T>(1 - c.beta2);
  const T eps = static_cast<T>(c.eps), neg_step = static_cast<T>(-c.step_size), sqrt_bc2 = static_cast<T>(c.sqrt_bc2);
  for (int64_t i = 0; i < n; ++i) {
    const T mi = m[i] * b1 + a1 * g[i];
    const T vi = v[i] * b2 + a2 * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] + neg_step * (mi / (root(vi) / sqrt_bc2 + eps));
  }
}

template <typename T>
[[gnu::always_inline]] inline void blend_loop(T* t, const T* s, int64_t n, double tau) {
  const T keep = static_cast<T>(1 - tau), take = static_cast<T>(tau);
  for (int64_t i = 0; i < n; ++i) t[i] = t[i] * keep + s[i] * take;
}

__attribute__((target_clones("arch=haswell", "default"))) void adam_float(float* p, const float* g, float* m, float* v,
                                                                          int64_t n, const AdamCoefficients& c) {
  adam_loop(p, g, m, v, n, c);
}
__attribute__((target_clones("arch=haswell", "default"))) void adam_double(double* p, const double* g, double* m,
                                                                           double* v, int64_t n,
                                                                           const AdamCoefficients& c) {
  adam_loop(p, g, m, v, n, c);
}
__attribute__((target_clones("arch=haswell", "default"))) void blend_float(float* t, const float* s, int64_t n,
                                                                           double tau) {
  blend_loop(t, s, n, tau);
}
__attribute__((target_clones("arch=haswell", "default"))) void blend_double(double* t, const double* s, int64_t n,
                                                                            double tau) {
  blend_loop(t, s, n, tau);
}
}  // namespace

void adam_step(const torch::Tensor& param, const torch::Tensor& grad, const torch::Tensor& exp_avg,
               const torch::Tensor& exp_avg_sq, const AdamCoefficients& c) {
  require_alike(param, grad, "adam_step");
  require_alike(param, exp_avg, "adam_step");
  require_alike(param, exp_avg_sq, "adam_step");
  const int64_t n = param.numel();
  if (param.scalar_type() == torch::kFloat)
    adam_float(param.data_ptr<float>(), grad.data_ptr<float>(), exp_avg.data_ptr<float>(), exp_avg_sq.data_ptr<float>(),
               n, c);
  else
    adam_double(param.data_ptr<double>(), grad.data_ptr<double>(), exp_avg.data_ptr<double>(),
                exp_avg_sq.data_ptr<double>(), n, c);
  modified(param);
}

void polyak_blend(const torch::Tensor& target, const torch::Tensor& source, double tau) {
  require_alike(target, source, "polyak_blend");
  if (target.scalar_type() == torch::kFloat)
    blend_float(target.data_ptr<float>(), source.data_ptr<float>(), target.numel(), tau);
  else blend_double(target.data_ptr<double>(), source.data_ptr<double>(), target.numel(), tau);
  modified(target);
}

}  // namespace softrl::agents
