#include "objectives/softmax.h"

#include <limits>
#include <stdexcept>

#include "objectives/kernels/row_kernels.h"

namespace softrl {
namespace {

namespace k = kernels;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
// Rows are split between threads in chunks of at least this many elements.
constexpr int64_t kGrainElements = 1 << 13;

void check_options(const torch::Tensor& x, const SoftmaxOptions& opt, const char* fn) {
  TORCH_CHECK(x.defined(), "softrl::", fn, ": input tensor is undefined");
  TORCH_CHECK(x.dim() >= 1, "softrl::", fn, ": input must have at least one dimension, got a scalar");
  TORCH_CHECK(x.is_floating_point(), "softrl::", fn, ": input must be floating point, got ", x.scalar_type());
  TORCH_CHECK(opt.temperature > 0.0 && std::isfinite(opt.temperature), "softrl::", fn,
              ": temperature must be finite and > 0, got ", opt.temperature);
  if (opt.mask.defined())
    TORCH_CHECK(opt.mask.scalar_type() == torch::kBool, "softrl::", fn, ": mask must be a bool tensor, got ",
                opt.mask.scalar_type());
}

torch::Tensor apply_mask(const torch::Tensor& x, const torch::Tensor& mask) {
  if (!mask.defined()) return x;
  return x.masked_fill(mask.logical_not(), kNegInf);
}

int64_t grain_rows(int64_t cols) { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(cols, 1)); }

template <class F>
void parallel_rows(int64_t rows, int64_t cols, F f) {
  at::parallel_for(0, rows, grain_rows(cols), [&](int64_t begin, int64_t end) { f(begin, end); });
}

struct Rows {
  int64_t rows;
  int64_t cols;
};
Rows rows_of(const torch::Tensor& x) {
  const int64_t cols = x.size(-1);
  return {cols == 0 ? x.numel() : x.numel() / cols, cols};
}

// ---- forward kernels on raw tensors (no autograd) ----

torch::Tensor lse_forward(const torch::Tensor& x, float scale) {
  const Rows rc = rows_of(x);
  auto sizes = x.sizes().vec();
  sizes.pop_back();
  torch::Tensor out = torch::empty(sizes, x.options());
  if (rc.cols == 0) return out.fill_(kNegInf);
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    k::logsumexp_rows(isa, {px + b * rc.cols, e - b, rc.cols, scale}, po + b);
  });
  return out;
}

template <void (*Kernel)(k::Isa, k::RowsIn, float*)>
torch::Tensor rowwise_forward(const torch::Tensor& x, float scale) {
  const Rows rc = rows_of(x);
  torch::Tensor out = torch::empty_like(x, at::MemoryFormat::Contiguous);
  if (x.numel() == 0) return out;
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    Kernel(isa, {px + b * rc.cols, e - b, rc.cols, scale}, po + b * rc.cols);
  });
  return out;
}

template <void (*Kernel)(k::Isa, const float*, const float*, float*, int64_t, int64_t, float)>
torch::Tensor rowwise_backward(const torch::Tensor& y, const torch::Tensor& g, float scale) {
  const Rows rc = rows_of(y);
  const torch::Tensor gc = g.contiguous();
  torch::Tensor gx = torch::empty_like(y, at::MemoryFormat::Contiguous);
  if (y.numel() == 0) return gx;
  const float* py = y.data_ptr<float>();
  const float* pg = gc.data_ptr<float>();
  float* po = gx.data_ptr<float>();
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    const int64_t off = b * rc.cols;
    Kernel(isa, py + off, pg + off, po + off, e - b, rc.cols, scale);
  });
  return gx;
}

torch::Tensor lse_backward(const torch::Tensor& x, const torch::Tensor& lse, const torch::Tensor& g, float scale) {
  const Rows rc = rows_of(x);
  const torch::Tensor gc = g.contiguous();
  torch::Tensor gx = torch::empty_like(x, at::MemoryFormat::Contiguous);
  if (x.numel() == 0) return gx;
  const float* px = x.data_ptr<float>();
  const float* pl = lse.data_ptr<float>();
  const float* pg = gc.data_ptr<float>();
  float* po = gx.data_ptr<float>();
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    k::logsumexp_backward_rows(isa, {px + b * rc.cols, e - b, rc.cols, scale}, pl + b, pg + b, po + b * rc.cols);
  });
  return gx;
}

// ---- autograd functions. Double backward (create_graph) goes through the composition. ----

struct LogSumExpFn : torch::autograd::Function<LogSumExpFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, double temperature) {
    const torch::Tensor out = lse_forward(x, static_cast<float>(1.0 / temperature));
    ctx->save_for_backward({x, out});
    ctx->saved_data["temperature"] = temperature;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double tau = ctx->saved_data["temperature"].toDouble();
    if (torch::GradMode::is_enabled()) {
      const torch::Tensor p = detail::softmax_composed(saved[0], {.temperature = tau});
      return {grads[0].unsqueeze(-1) * p / tau, torch::Tensor()};
    }
    return {lse_backward(saved[0], saved[1], grads[0], static_cast<float>(1.0 / tau)), torch::Tensor()};
  }
};

// log_softmax and softmax share their autograd plumbing; an Op supplies the kernels and the
// differentiable backward formula used for double backward.
template <class Op>
struct RowwiseFn : torch::autograd::Function<RowwiseFn<Op>> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, double temperature) {
    const torch::Tensor y = rowwise_forward<Op::forward_kernel>(x, static_cast<float>(1.0 / temperature));
    ctx->save_for_backward({x, y});
    ctx->saved_data["temperature"] = temperature;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double tau = ctx->saved_data["temperature"].toDouble();
    if (torch::GradMode::is_enabled()) return {Op::composed_backward(saved[0], grads[0], tau), torch::Tensor()};
    return {rowwise_backward<Op::backward_kernel>(saved[1], grads[0], static_cast<float>(1.0 / tau)),
            torch::Tensor()};
  }
};

struct LogSoftmaxOp {
  static constexpr auto forward_kernel = k::log_softmax_rows;
  static constexpr auto backward_kernel = k::log_softmax_backward_rows;
  static torch::Tensor composed_backward(const torch::Tensor& x, const torch::Tensor& grad, double tau) {
    const torch::Tensor y = detail::log_softmax_composed(x, {.temperature = tau});
    const torch::Tensor g = grad.masked_fill(y == kNegInf, 0.0);
    return (g - y.exp() * g.sum(-1, true)) / tau;
  }
};
using LogSoftmaxFn = RowwiseFn<LogSoftmaxOp>;

struct SoftmaxOp {
  static constexpr auto forward_kernel = k::softmax_rows;
  static constexpr auto backward_kernel = k::softmax_backward_rows;
  static torch::Tensor composed_backward(const torch::Tensor& x, const torch::Tensor& grad, double tau) {
    const torch::Tensor y = detail::softmax_composed(x, {.temperature = tau});
    return y * (grad - (grad * y).sum(-1, true)) / tau;
  }
};
using SoftmaxFn = RowwiseFn<SoftmaxOp>;

bool needs_graph(const torch::Tensor& x) { return x.requires_grad() && torch::GradMode::is_enabled(); }

template <class Fn, class Direct>
torch::Tensor fused(const torch::Tensor& x_in, const SoftmaxOptions& opt, Direct direct) {
  const torch::Tensor x = apply_mask(x_in, opt.mask);
  if (needs_graph(x)) return Fn::apply(x, opt.temperature);
  return direct(x.contiguous(), static_cast<float>(1.0 / opt.temperature));
}

// Rows with no included entry, and the input with those rows zeroed so that LibTorch's own
// ops (and their gradients) stay finite there.
struct Guarded {
  torch::Tensor xs;    // x / tau with masked entries -inf
  torch::Tensor dead;  // [..., 1] true for rows with nothing included
  torch::Tensor safe;  // xs with dead rows set to 0
};
Guarded guard(const torch::Tensor& x, const SoftmaxOptions& opt) {
  Guarded g;
  g.xs = apply_mask(x / opt.temperature, opt.mask);
  g.dead = (g.xs == kNegInf).all(-1, /*keepdim=*/true);
  g.safe = g.xs.masked_fill(g.dead, 0.0);
  return g;
}

}  // namespace

namespace detail {

bool uses_fused_kernels(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && x.dim() >= 1;
}

torch::Tensor logsumexp_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.size(-1) == 0) return torch::logsumexp(x, -1);  // -inf for empty rows
  const Guarded g = guard(x, opt);
  return torch::logsumexp(g.safe, -1, true).masked_fill(g.dead, kNegInf).squeeze(-1);
}

torch::Tensor log_softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.numel() == 0) return x.clone();
  const Guarded g = guard(x, opt);
  return torch::log_softmax(g.safe, -1).masked_fill(g.xs == kNegInf, kNegInf);
}

torch::Tensor softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.numel() == 0) return x.clone();
  const Guarded g = guard(x, opt);
  return torch::softmax(g.safe, -1).masked_fill(g.xs == kNegInf, 0.0);
}

}  // namespace detail

torch::Tensor logsumexp(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "logsumexp");
  const bool fused_ok = detail::uses_fused_kernels(x) && (!opt.mask.defined() || opt.mask.device().is_cpu());
  if (!fused_ok) return detail::logsumexp_composed(x, opt);
  return fused<LogSumExpFn>(x, opt, lse_forward);
}

torch::Tensor log_softmax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "log_softmax");
  if (!detail::uses_fused_kernels(x)) return detail::log_softmax_composed(x, opt);
  return fused<LogSoftmaxFn>(x, opt, rowwise_forward<k::log_softmax_rows>);
}

torch::Tensor softmax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "softmax");
  if (!detail::uses_fused_kernels(x)) return detail::softmax_composed(x, opt);
  return fused<SoftmaxFn>(x, opt, rowwise_forward<k::softmax_rows>);
}

}  // namespace softrl
