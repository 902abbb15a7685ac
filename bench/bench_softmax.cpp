#include "bench/bench_softmax.h"

#include "common/json.h"

#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "common/runtime.h"

#include "bench/timing.h"
#include "objectives/kernels/row_kernels.h"
#include "objectives/softmax.h"

namespace softrl::bench {
namespace {

struct Row {
  std::string pass;  // forward | forward+backward
  std::string shape;
  std::string op;
  double ours_gbs = 0.0, torch_gbs = 0.0;
  double ours_us = 0.0, torch_us = 0.0;
  double of_ceiling = 0.0;   // ours_gbs / the ceiling measured for this shape in the same run (0: none)
  double of_two_pass = 0.0;  // long rows, log_softmax / softmax forward: ours_gbs / the two-pass ceiling's
  int64_t entries = 0;       // of the shape's input
};

// Below this input size (the short-row shapes: 4-64 KB) a ceiling call measures LibTorch's per-call
// overhead, not bandwidth: no roofline fraction there (they are compared per call instead). A rule
// on size, not on the ceiling's measured time, so that a fast minute of the host does not drop it.
constexpr double kCeilingMinBytes = 1 << 20;

// The two-pass ceiling's name (see time_two_pass), measured for rows of kLongRow entries or more
// (rows beyond a core's L2; shorter rows' second read hits the cache).
constexpr const char* kTwoPassOp = "sum+copy";
constexpr int64_t kLongRow = 65536;

// The autograd engine's floor at short rows: forward+backward of x.neg(), a time without bytes.
constexpr const char* kFloorOp = "neg (floor)";

std::string shape_name(int64_t r, int64_t c) {
  char buf[48];  // (snprintf: GCC 12 warns falsely on the inlined string concatenation here)
  std::snprintf(buf, sizeof buf, "[%lld, %lld]", static_cast<long long>(r), static_cast<long long>(c));
  return buf;
}

// Bytes moved per call, counting each tensor read or written once (the roofline convention):
// logsumexp and the row sum read x; log_softmax / softmax / copy read x and write y. Backward adds: logsumexp
// reads x and writes gx; log_softmax / softmax read y and g and write gx.
double bytes_per_call(const std::string& op, bool backward, int64_t n) {
  const double f = 4.0 * static_cast<double>(n);
  if (op == "logsumexp") return backward ? 3 * f : f;
  if (op == "read") return f;
  if (op == "copy" || op == kTwoPassOp) return 2 * f;
  return backward ? 5 * f : 2 * f;
}

using Unary = std::function<torch::Tensor(const torch::Tensor&)>;

struct Op {
  std::string name;
  Unary ours, theirs;
};

std::vector<Op> ops() {
  return {
      {"logsumexp", [](const torch::Tensor& x) { return softrl::logsumexp(x); },
       [](const torch::Tensor& x) { return torch::logsumexp(x, -1); }},
      {"log_softmax", [](const torch::Tensor& x) { return softrl::log_softmax(x); },
       [](const torch::Tensor& x) { return torch::log_softmax(x, -1); }},
      {"softmax", [](const torch::Tensor& x) { return softrl::softmax(x); },
       [](const torch::Tensor& x) { return torch::softmax(x, -1); }},
  };
}

double time_forward(const Unary& f, const torch::Tensor& x, const TimingOptions& t) {
  torch::NoGradGuard ng;
  return median_seconds_per_call([&] { (void)f(x); }, t);
}

double time_forward_backward(const Unary& f, const torch::Tensor& x, const TimingOptions& t) {
  const torch::Tensor xg = x.detach().requires_grad_(true);
  torch::Tensor g;
  {
    torch::NoGradGuard ng;
    g = torch::rand_like(f(x));
  }
  return median_seconds_per_call(
      [&] {
        torch::Tensor y = f(xg);
        y.backward(g);
        xg.mutable_grad() = torch::Tensor();
      },
      t);
}

// The least traffic of any exact log_softmax or softmax over rows larger than the caches: each
// needs its row's whole sum before its first output, so the row is read twice (for the sum, then
// beside the output's write) where the copy reads it once. Timed as LibTorch's sum and copy_ of
// one row after the other, rows shared among the threads as the kernels share them; its bytes are
// counted as the copy's, so ours / it is the share of what two passes allow.
double time_two_pass(const torch::Tensor& x, const TimingOptions& t) {
  torch::NoGradGuard ng;
  torch::Tensor dst = torch::empty_like(x), total = torch::empty({x.size(0), 1});
  return median_seconds_per_call(
      [&] {
        at::parallel_for(0, x.size(0), 1, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            torch::Tensor row_total = total[i];
            torch::sum_out(row_total, x[i], {-1}, true);
            dst[i].copy_(x[i]);
          }
        });
      },
      t);
}

// The roofline: logsumexp only reads its input (forward) or reads x and writes gx beside a read
// of x (backward, 3 tensors of n, the read ceiling's rate); the others read and write, so their
// ceiling is the copy's. of_ceiling = ours / ceiling; its inverse is ours / the ideal time.
void add_ceilings(std::vector<Row>& rows) {
  for (Row& r : rows) {
    if (r.op == "copy" || r.op == "read (sum)" || r.op == kTwoPassOp || r.op == kFloorOp) continue;
    const std::string ceiling_op = r.op == "logsumexp" ? "read (sum)" : "copy";
    for (const Row& c : rows) {
      if (c.shape == r.shape && c.op == ceiling_op && 4.0 * static_cast<double>(c.entries) >= kCeilingMinBytes)
        r.of_ceiling = r.ours_gbs / c.ours_gbs;
      if (c.shape == r.shape && c.op == kTwoPassOp && r.pass == c.pass && r.op != "logsumexp")
        r.of_two_pass = r.ours_gbs / c.ours_gbs;
    }
  }
}

void print_table(std::ostream& out, const std::vector<Row>& rows, const std::string& pass) {
  char buf[256];
  out << "\n" << pass << " (GB/s; per-call microseconds for short rows)\n";
  std::snprintf(buf, sizeof buf, "%-16s %-12s %10s %10s %8s %10s %10s %10s %10s\n", "shape", "op", "ours GB/s",
                "torch GB/s", "speedup", "of ceiling", "of 2-pass", "ours us", "torch us");
  out << buf;
  for (const Row& r : rows) {
    if (r.pass != pass) continue;
    const double speed = r.torch_us / r.ours_us;
    if (r.op == kFloorOp) {  // a time only: no bytes of its own to count
      std::snprintf(buf, sizeof buf, "%-16s %-12s %10s %10s %8s %10s %10s %10.2f %10s\n", r.shape.c_str(), r.op.c_str(),
                    "", "", "", "", "", r.ours_us, "");
      out << buf;
      continue;
    }
    char ceiling[32] = "", two_pass[32] = "";
    if (r.of_ceiling > 0) std::snprintf(ceiling, sizeof ceiling, "%.0f %%", 100 * r.of_ceiling);
    if (r.of_two_pass > 0) std::snprintf(two_pass, sizeof two_pass, "%.0f %%", 100 * r.of_two_pass);
    std::snprintf(buf, sizeof buf, "%-16s %-12s %10.2f %10.2f %7.2fx %10s %10s %10.2f %10.2f\n", r.shape.c_str(),
                  r.op.c_str(), r.ours_gbs, r.torch_gbs, speed, ceiling, two_pass, r.ours_us, r.torch_us);
    out << buf;
  }
}

}  // namespace

int run_softmax_bench(const SoftmaxBenchOptions& opt, std::ostream& out) {
  set_compute_threads(resolve_threads(opt.threads));
  const TimingOptions t{opt.quick ? 0.01 : 0.1, opt.quick ? 3 : 5};
  std::vector<std::pair<int64_t, int64_t>> shapes = {
      {opt.quick ? 8 : 64, opt.quick ? 131072 : 1048576}, {16384, 1000}, {4096, 4}, {256, 4}};
  torch::manual_seed(0);
  std::vector<Row> rows;
  for (const auto& [r, c] : shapes) {
    const torch::Tensor x = torch::randn({r, c}) * 4.0;
    const int64_t n = r * c;
    const size_t first_row = rows.size();
    for (bool backward : {false, true}) {
      const std::string pass = backward ? "forward+backward" : "forward";
      if (!backward) {
        torch::Tensor dst = torch::empty_like(x);
        const double s = median_seconds_per_call([&] { dst.copy_(x); }, t);
        const double gbs = bytes_per_call("copy", false, n) / s / 1e9;
        rows.push_back({pass, shape_name(r, c), "copy", gbs, gbs, s * 1e6, s * 1e6});
        torch::Tensor total = torch::empty({r});
        const double sr = median_seconds_per_call([&] { torch::sum_out(total, x, -1); }, t);
        const double rgbs = bytes_per_call("read", false, n) / sr / 1e9;
        rows.push_back({pass, shape_name(r, c), "read (sum)", rgbs, rgbs, sr * 1e6, sr * 1e6});
        if (c >= kLongRow) {
          const double s2 = time_two_pass(x, t);
          const double gbs2 = bytes_per_call(kTwoPassOp, false, n) / s2 / 1e9;
          rows.push_back({pass, shape_name(r, c), kTwoPassOp, gbs2, gbs2, s2 * 1e6, s2 * 1e6});
        }
      }
      if (backward && c <= 16) {
        // The floor of any op through LibTorch's autograd engine at this shape: the cheapest op
        // (negation: one allocation forward, one backward) with the same forward, backward and
        // gradient reset as the ops below. No implementation can go below it per call.
        const Unary neg = [](const torch::Tensor& v) { return v.neg(); };
        const double s = time_forward_backward(neg, x, t);
        rows.push_back({pass, shape_name(r, c), kFloorOp, 0, 0, s * 1e6, s * 1e6});
      }
      for (const Op& op : ops()) {
        const double so = backward ? time_forward_backward(op.ours, x, t) : time_forward(op.ours, x, t);
        const double st = backward ? time_forward_backward(op.theirs, x, t) : time_forward(op.theirs, x, t);
        const double b = bytes_per_call(op.name, backward, n);
        rows.push_back({pass, shape_name(r, c), op.name, b / so / 1e9, b / st / 1e9, so * 1e6, st * 1e6});
      }
    }
    for (size_t k = first_row; k < rows.size(); ++k) rows[k].entries = n;
  }
  add_ceilings(rows);
  if (opt.json) {
    std::vector<std::string> results;
    for (const Row& r : rows)
      results.push_back(JsonObject()
                            .add("pass", r.pass)
                            .add("shape", r.shape)
                            .add("op", r.op)
                            .add("ours_gbs", r.ours_gbs)
                            .add("torch_gbs", r.torch_gbs)
                            .add("ours_us", r.ours_us)
                            .add("torch_us", r.torch_us)
                            .add("of_ceiling", r.of_ceiling)
                            .add("of_two_pass_ceiling", r.of_two_pass)
                            .str());
    out << JsonObject()
               .add("isa", kernels::isa_name(kernels::active_isa()))
               .add("threads", static_cast<int>(torch::get_num_threads()))
               .raw("results", json_array(results))
               .str()
        << "\n";
    return 0;
  }
  out << "softrl bench softmax: kernels " << kernels::isa_name(kernels::active_isa()) << ", "
      << torch::get_num_threads() << " threads, LibTorch " << TORCH_VERSION << "\n";
  out << "bytes: each tensor read or written counted once; ceilings: copy (read+write), read (sum) (read only); "
         "2-pass: sum+copy per row, the least traffic of log_softmax / softmax over rows beyond the caches\n";
  print_table(out, rows, "forward");
  print_table(out, rows, "forward+backward");
  return 0;
}

}  // namespace softrl::bench
