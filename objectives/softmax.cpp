#include "objectives/softmax.h"

#include <limits>
#include <stdexcept>

#include <torch/csrc/autograd/functions/utils.h>

#include "objectives/kernels/row_kernels.h"

namespace softrl {
namespace {

namespace k = kernels;
using torch::autograd::variable_list;

// Rows are split between threads in chunks of at least this many elements (about 15-60 us of
// kernel time): handing a chunk to another thread costs ~20 us on the 2-core VM, so a batch of
// 4096 four-action rows (~16 us on one thread) runs faster on one thread than split in two.
constexpr int64_t kGrainElements = 1 << 16;

void check_options(const torch::Tensor& x, const SoftmaxOptions& opt, const char* fn) {
  TORCH_CHECK(x.defined(), "softrl::", fn, ": input tensor is undefined");
  TORCH_CHECK(x.dim() >= 1, "softrl::", fn, ": input must have at least one dimension, got a scalar");
  TORCH_CHECK(x.is_floating_point(), "softrl::", fn, ": input must be floating point, got ", x.scalar_type());
  // 1 / tau must be a normal float32 (the kernels scale by it): tau in [1e-30, 1e30].
  TORCH_CHECK(opt.temperature >= kMinTemperature && opt.temperature <= kMaxTemperature, "softrl::", fn,
              ": temperature must be in [1e-30, 1e30], got ", opt.temperature);
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

// logsumexp; with `parts`, also each row's shift M and log-sum (for the backward).
torch::Tensor lse_forward(const torch::Tensor& x, float scale, torch::Tensor* parts = nullptr) {
  const Rows rc = rows_of(x);
  auto sizes = x.sizes().vec();
  sizes.pop_back();
  torch::Tensor out = torch::empty(sizes, x.options());
  if (parts) *parts = torch::full({2, rc.rows}, kNegInf, x.options());
  if (rc.cols == 0) return out.fill_(kNegInf);
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  float* pm = parts ? parts->data_ptr<float>() : nullptr;
  float* pl = parts ? pm + rc.rows : nullptr;
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    k::logsumexp_rows(isa, {px + b * rc.cols, e - b, rc.cols, scale}, po + b, pm ? pm + b : nullptr,
                      pl ? pl + b : nullptr);
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

torch::Tensor lse_backward(const torch::Tensor& x, const torch::Tensor& parts, const torch::Tensor& g, float scale) {
  const Rows rc = rows_of(x);
  const torch::Tensor gc = g.contiguous();
  torch::Tensor gx = torch::empty_like(x, at::MemoryFormat::Contiguous);
  if (x.numel() == 0) return gx;
  const float* px = x.data_ptr<float>();
  const float* pm = parts.data_ptr<float>();
  const float* pl = pm + rc.rows;
  const float* pg = gc.data_ptr<float>();
  float* po = gx.data_ptr<float>();
  const k::Isa isa = k::active_isa();
  parallel_rows(rc.rows, rc.cols, [&](int64_t b, int64_t e) {
    k::logsumexp_backward_rows(isa, {px + b * rc.cols, e - b, rc.cols, scale}, pm + b, pl + b, pg + b,
                               po + b * rc.cols);
  });
  return gx;
}

// ---- autograd nodes. Double backward (create_graph) goes through the composition. ----
// Written as plain torch::autograd::Node subclasses rather than torch::autograd::Function: on
// short rows ([256, 4]) the kernels take ~1.3 us of a 7.6 us forward+backward, and Function's
// generic plumbing (the saved_data map, wrapping of outputs, per-call input bookkeeping) added 1.1 us.

using torch::autograd::SavedVariable;

// The node of one fused op: saves x, and the op's output or the logsumexp's row parts.
template <class Op>
struct FusedNode final : torch::autograd::Node {
  SavedVariable x, saved;  // saved: y (log_softmax, softmax) or parts (logsumexp)
  double temperature = 1.0;

  variable_list apply(variable_list&& grads) override {
    const torch::Tensor& g = grads[0];
    if (!g.defined()) return {torch::Tensor()};
    // As LibTorch's generated nodes do: the engine may release a graph's variables from another
    // thread (backward through a shared graph on two threads).
    std::lock_guard<std::mutex> lock(mutex_);
    const std::shared_ptr<Node> self = shared_from_this();
    const torch::Tensor xs = x.unpack(self), ss = saved.unpack(self);
    if (torch::GradMode::is_enabled()) return {Op::composed_backward(xs, g, temperature)};
    return {Op::backward(xs, ss, g, static_cast<float>(1.0 / temperature))};
  }
  std::string name() const override { return Op::name; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    x.reset_data();
    saved.reset_data();
  }
};

struct LogSumExpOp {
  static constexpr const char* name = "softrl::LogSumExpBackward";
  static torch::Tensor forward(const torch::Tensor& x, float scale, torch::Tensor* parts) {
    return lse_forward(x, scale, parts);
  }
  static torch::Tensor backward(const torch::Tensor& x, const torch::Tensor& parts, const torch::Tensor& g,
                                float scale) {
    return lse_backward(x, parts, g, scale);
  }
  static torch::Tensor composed_backward(const torch::Tensor& x, const torch::Tensor& grad, double tau) {
    return grad.unsqueeze(-1) * detail::softmax_composed(x, {.temperature = tau}) / tau;
  }
};

struct LogSoftmaxOp {
  static constexpr const char* name = "softrl::LogSoftmaxBackward";
  static torch::Tensor forward(const torch::Tensor& x, float scale, torch::Tensor*) {
    return rowwise_forward<k::log_softmax_rows>(x, scale);
  }
  static torch::Tensor backward(const torch::Tensor&, const torch::Tensor& y, const torch::Tensor& g, float scale) {
    return rowwise_backward<k::log_softmax_backward_rows>(y, g, scale);
  }
  static torch::Tensor composed_backward(const torch::Tensor& x, const torch::Tensor& grad, double tau) {
    const torch::Tensor y = detail::log_softmax_composed(x, {.temperature = tau});
    const torch::Tensor g = grad.masked_fill(y == kNegInf, 0.0);
    return (g - y.exp() * g.sum(-1, true)) / tau;
  }
};

struct SoftmaxOp {
  static constexpr const char* name = "softrl::SoftmaxBackward";
  static torch::Tensor forward(const torch::Tensor& x, float scale, torch::Tensor*) {
    return rowwise_forward<k::softmax_rows>(x, scale);
  }
  static torch::Tensor backward(const torch::Tensor&, const torch::Tensor& y, const torch::Tensor& g, float scale) {
    return rowwise_backward<k::softmax_backward_rows>(y, g, scale);
  }
  static torch::Tensor composed_backward(const torch::Tensor& x, const torch::Tensor& grad, double tau) {
    const torch::Tensor y = detail::softmax_composed(x, {.temperature = tau});
    return y * (grad - (grad * y).sum(-1, true)) / tau;
  }
};

// Runs the op's kernel and, when x needs a gradient, records the node in the graph.
template <class Op>
torch::Tensor run_with_graph(const torch::Tensor& x, double temperature) {
  const float scale = static_cast<float>(1.0 / temperature);
  torch::Tensor parts;
  torch::Tensor out = Op::forward(x, scale, &parts);  // raw kernels: nothing recorded
  auto node = std::shared_ptr<FusedNode<Op>>(new FusedNode<Op>(), torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  node->temperature = temperature;
  torch::autograd::set_history(out, node);
  node->x = SavedVariable(x, /*is_output=*/false);
  node->saved = parts.defined() ? SavedVariable(parts, false) : SavedVariable(out, /*is_output=*/true);
  return out;
}

bool needs_graph(const torch::Tensor& x) { return x.requires_grad() && torch::GradMode::is_enabled(); }

template <class Op>
torch::Tensor fused(const torch::Tensor& x_in, const SoftmaxOptions& opt) {
  const torch::Tensor x = apply_mask(x_in, opt.mask).contiguous();
  if (needs_graph(x)) return run_with_graph<Op>(x, opt.temperature);
  return Op::forward(x, static_cast<float>(1.0 / opt.temperature), nullptr);
}

// The composition's shifted logits: d = (x - M) / tau with M the row's largest included entry
// (the difference first: exact for nearby values, whatever |x|), excluded entries -inf, and rows
// with nothing included (dead) or holding a NaN marked. M carries no gradient: the gradient of
// M/tau + log sum exp(d) with respect to x is softmax(x / tau) / tau either way.
struct Shifted {
  torch::Tensor d;         // (x - M) / tau; 0 on dead rows (kept finite for LibTorch's ops)
  torch::Tensor m;         // [..., 1] M, 0 on dead rows
  torch::Tensor log_sum;   // [..., 1] log sum exp(d), as log1p(sum - 1)
  torch::Tensor dead;      // [..., 1]
  torch::Tensor excluded;  // entries that take no part
};
Shifted shift_rows(const torch::Tensor& x, const SoftmaxOptions& opt) {
  Shifted s;
  const torch::Tensor xm = apply_mask(x, opt.mask);
  s.excluded = xm == kNegInf;
  s.dead = s.excluded.all(-1, /*keepdim=*/true);
  // max() skips nothing: a NaN anywhere gives a NaN M, hence a NaN row.
  const auto [m, arg] = xm.detach().max(-1, /*keepdim=*/true);
  s.m = m.masked_fill(s.dead, 0.0);
  s.d = ((xm - s.m) / opt.temperature).masked_fill(s.dead, 0.0);
  // sum - 1 without rounding 1 + tiny: the max entry contributes expm1(d) (0, with the gradient of
  // exp(d)), the others exp(d). log S = log1p(sum - 1) then keeps its accuracy near 0.
  const torch::Tensor is_max = torch::arange(s.d.size(-1), arg.options()) == arg;
  const torch::Tensor terms = torch::where(is_max, torch::expm1(s.d), s.d.exp());
  s.log_sum = torch::log1p(terms.sum(-1, true));
  s.excluded = s.excluded.logical_and(m.isnan().logical_not());  // a NaN row stays NaN everywhere
  return s;
}

}  // namespace

namespace detail {

bool uses_fused_kernels(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() >= 1;
}

torch::Tensor logsumexp_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.size(-1) == 0) return torch::full(x.sizes().slice(0, x.dim() - 1), kNegInf, x.options());
  const Shifted s = shift_rows(x, opt);
  return (s.m / opt.temperature + s.log_sum).masked_fill(s.dead, kNegInf).squeeze(-1);
}

torch::Tensor log_softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.numel() == 0) return x.clone();
  const Shifted s = shift_rows(x, opt);
  return (s.d - s.log_sum).masked_fill(s.excluded, kNegInf);
}

torch::Tensor softmax_composed(const torch::Tensor& x, const SoftmaxOptions& opt) {
  if (x.numel() == 0) return x.clone();
  const Shifted s = shift_rows(x, opt);
  return (s.d - s.log_sum).exp().masked_fill(s.excluded, 0.0);
}

}  // namespace detail

torch::Tensor logsumexp(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "logsumexp");
  const bool fused_ok = detail::uses_fused_kernels(x) && (!opt.mask.defined() || opt.mask.device().is_cpu());
  if (!fused_ok) return detail::logsumexp_composed(x, opt);
  return fused<LogSumExpOp>(x, opt);
}

torch::Tensor log_softmax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "log_softmax");
  if (!detail::uses_fused_kernels(x)) return detail::log_softmax_composed(x, opt);
  return fused<LogSoftmaxOp>(x, opt);
}

torch::Tensor softmax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  check_options(x, opt, "softmax");
  if (!detail::uses_fused_kernels(x)) return detail::softmax_composed(x, opt);
  return fused<SoftmaxOp>(x, opt);
}

}  // namespace softrl
