// The softmax core against float64 references built from plain LibTorch ops.
//
// Tolerance model (u = 2^-24, the float32 unit roundoff; M = the largest |x / tau| in the case):
// the reference is evaluated on the same float32-scaled logits the kernels see (the scaling is
// one float32 rounding every float32 implementation makes). What remains is: the exp polynomial
// (relative error < 3e-7), float32 accumulation of the row sum (random-walk error, well under
// 2e-5 relative for 1e5 terms split over 16 SIMD accumulators), and the rounding of results
// whose magnitude is up to ~2M (x / tau - LSE), i.e. 2uM absolute in log space, which becomes a
// relative error in probabilities. Hence rel = 3e-5 + 4uM, applied as stated per quantity below.
#include <catch2/catch.hpp>

#include "objectives/diagnostics.h"
#include "objectives/kernels/row_kernels.h"
#include "objectives/softmax.h"
#include "tests/kernel_isas.h"
#include "tests/reference.h"

using namespace softrl;
using namespace softrl::test;
namespace k = softrl::kernels;

namespace {

struct Case {
  torch::Tensor x;     // float32 logits
  torch::Tensor mask;  // bool or undefined
  double tau;
};

Case make_case(int64_t rows, int64_t cols, double logit_scale, double tau, bool masked, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor x = torch::randn({rows, cols}) * logit_scale;
  torch::Tensor mask;
  if (masked) {
    mask = torch::rand({rows, cols}) > 0.3;
    if (rows >= 3) {
      mask[0].fill_(false);      // fully masked row
      x[rows - 1].fill_(-kInf);  // a row of -inf logits
    }
    if (cols >= 2) x.index_put_({torch::rand({rows, cols}) < 0.05}, -kInf);  // scattered -inf logits
  }
  return {x, mask, tau};
}

void check_case(const Case& c) {
  const torch::Tensor xs = ref_scaled(c.x, c.mask, c.tau);
  const double scale = static_cast<double>(static_cast<float>(1.0 / c.tau));
  const double M = max_finite_abs(xs);
  const double rel = 3e-5 + 4 * kU * M;
  const SoftmaxOptions opt{.mask = c.mask, .temperature = c.tau};

  // Forward and backward of ours (float32) and of the reference (float64 autograd).
  const torch::Tensor x32 = c.x.clone().requires_grad_(true);
  const torch::Tensor x64 = c.x.to(torch::kFloat64).requires_grad_(true);
  const torch::Tensor xs64 = ref_scaled(x64, c.mask, c.tau);

  SECTION("logsumexp") {
    const torch::Tensor got = softrl::logsumexp(x32, opt);
    const torch::Tensor want = ref_logsumexp(xs64);
    CHECK(worst_ratio(got, want.detach(), rel * (1.0 + want.detach().abs().masked_fill(want.isinf(), 0.0))) <= 1.0);
    const torch::Tensor g = torch::randn(got.sizes());
    got.backward(g);
    torch::Tensor want_g = torch::autograd::grad({want}, {x64}, {g.to(torch::kFloat64)})[0];
    want_g = want_g.nan_to_num(0.0);  // the reference's dead rows are 0/0; ours must be 0
    const torch::Tensor p = ref_softmax(xs.detach());
    const torch::Tensor tol = scale * rel * g.to(torch::kFloat64).abs().unsqueeze(-1) * p + 1e-30;
    CHECK(worst_ratio(x32.grad(), want_g, tol) <= 1.0);
  }
  SECTION("log_softmax") {
    const torch::Tensor got = softrl::log_softmax(x32, opt);
    const torch::Tensor want = ref_log_softmax(xs64);
    const torch::Tensor lse = ref_logsumexp(xs).abs().masked_fill(ref_logsumexp(xs).isinf(), 0.0).unsqueeze(-1);
    const torch::Tensor fwd_tol = rel * (1.0 + xs.abs().masked_fill(xs.isinf(), 0.0) + lse);
    CHECK(worst_ratio(got, want.detach(), fwd_tol) <= 1.0);
    const torch::Tensor g = torch::randn(got.sizes());
    got.backward(g);
    // Reference gradient with the convention that upstream gradient at excluded entries is ignored.
    const torch::Tensor g64 = g.to(torch::kFloat64).masked_fill(want.detach().isinf(), 0.0);
    const torch::Tensor p = want.detach().exp();
    const torch::Tensor want_g = scale * (g64 - p * g64.sum(-1, true));
    const torch::Tensor tol = scale * rel * (g64.abs() + p * g64.abs().sum(-1, true)) + 1e-30;
    CHECK(worst_ratio(x32.grad(), want_g.masked_fill(want.detach().isinf(), 0.0), tol) <= 1.0);
  }
  SECTION("softmax") {
    const torch::Tensor got = softrl::softmax(x32, opt);
    const torch::Tensor want = ref_softmax(xs64);
    CHECK(worst_ratio(got, want.detach(), rel * want.detach() + 1e-37) <= 1.0);
    const torch::Tensor g = torch::randn(got.sizes());
    got.backward(g);
    torch::Tensor want_g = torch::autograd::grad({want}, {x64}, {g.to(torch::kFloat64)})[0].nan_to_num(0.0);
    const torch::Tensor p = want.detach();
    const torch::Tensor ga = g.to(torch::kFloat64).abs();
    // Probabilities below 2^-126 are flushed to 0: gradient error < scale * 1.2e-38 * (|g| + |<g,p>|).
    const torch::Tensor tol = 2 * scale * rel * p * (ga + (ga * p).sum(-1, true)) + 1e-34;
    CHECK(worst_ratio(x32.grad(), want_g, tol) <= 1.0);
  }
}

struct IsaGuard {
  explicit IsaGuard(k::Isa isa) { k::force_isa(isa); }
  ~IsaGuard() { k::clear_forced_isa(); }
};

}  // namespace

TEST_CASE("core matches float64 reference on small and RL shapes", "[core]") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},   {3, 2},   {5, 3},   {256, 4}, {4096, 4},
                                                           {37, 16}, {19, 17}, {11, 33}, {7, 1000}};
  for (k::Isa isa : isas()) {
    for (auto [r, c] : shapes) {
      for (double tau : {0.05, 1.0, 20.0}) {
        for (double ls : {1.0, 100.0, 1e4}) {
          for (bool masked : {false, true}) {
            DYNAMIC_SECTION(k::isa_name(isa) << " [" << r << "x" << c << "] tau " << tau << " scale " << ls
                                             << (masked ? " masked" : "")) {
              IsaGuard guard(isa);
              check_case(make_case(r, c, ls, tau, masked, static_cast<uint64_t>(r * 131 + c)));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("core matches float64 reference on long rows", "[core][long]") {
  for (k::Isa isa : isas()) {
    for (auto [tau, ls] : {std::pair{1.0, 1.0}, std::pair{0.05, 1e4}, std::pair{20.0, 100.0}}) {
      for (bool masked : {false, true}) {
        DYNAMIC_SECTION(k::isa_name(isa) << " [16x100000] tau " << tau << " scale " << ls
                                         << (masked ? " masked" : "")) {
          IsaGuard guard(isa);
          check_case(make_case(16, 100000, ls, tau, masked, 7));
        }
      }
    }
  }
}

TEST_CASE("fully masked rows give defined values and zero gradients", "[core]") {
  for (k::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (int64_t cols : {1, 4, 16, 17, 1000}) {
      const torch::Tensor x = torch::randn({9, cols}).requires_grad_(true);
      const torch::Tensor mask = torch::zeros({9, cols}, torch::kBool);
      const SoftmaxOptions opt{.mask = mask};
      const torch::Tensor lse = softrl::logsumexp(x, opt);
      const torch::Tensor ls = softrl::log_softmax(x, opt);
      const torch::Tensor sm = softrl::softmax(x, opt);
      CHECK((lse == -kInf).all().item<bool>());
      CHECK((ls == -kInf).all().item<bool>());
      CHECK((sm == 0).all().item<bool>());
      const torch::Tensor total =
          lse.sum() * 0 + (sm * torch::randn_like(sm)).sum() + ls.masked_fill(ls.isinf(), 0).sum();
      total.backward();
      CHECK_FALSE(x.grad().isnan().any().item<bool>());
      CHECK((x.grad() == 0).all().item<bool>());
    }
  }
}

TEST_CASE("zero-width rows", "[core]") {
  const torch::Tensor x = torch::zeros({3, 0});
  CHECK((softrl::logsumexp(x) == -kInf).all().item<bool>());
  CHECK(softrl::logsumexp(x).sizes() == at::IntArrayRef{3});
  CHECK(softrl::log_softmax(x).sizes() == x.sizes());
  CHECK(softrl::softmax(x.to(torch::kFloat64)).sizes() == x.sizes());
}

TEST_CASE("AVX2 and scalar paths agree", "[core]") {
  if (!k::cpu_has_avx2_fma()) SUCCEED("no AVX2 on this CPU");
  for (auto [r, c] : {std::pair<int64_t, int64_t>{300, 4}, {64, 1000}, {5, 70001}}) {
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn({r, c}) * 30;
    torch::Tensor a, b;
    {
      IsaGuard g(k::Isa::scalar);
      a = softrl::log_softmax(x);
    }
    {
      IsaGuard g(k::Isa::avx2);
      b = softrl::log_softmax(x);
    }
    const double M = max_finite_abs(x);
    // Both are within rel * (1 + |x| + |lse|) of float64; their difference within twice that.
    CHECK((a - b).abs().max().item<double>() <= 2 * (3e-5 + 4 * kU * M) * (1 + 3 * M));
  }
}

TEST_CASE("fallback compositions: float64, non-contiguous, double backward", "[core]") {
  torch::manual_seed(11);
  SECTION("float64 input uses the composition and is exact to float64 rounding") {
    const torch::Tensor x = torch::randn({50, 7}, torch::kFloat64) * 10;
    const torch::Tensor mask = torch::rand({50, 7}) > 0.2;
    REQUIRE_FALSE(softrl::detail::uses_fused_kernels(x));
    const SoftmaxOptions opt{.mask = mask, .temperature = 0.3};
    const torch::Tensor xs = ref_scaled(x, mask, 0.3);
    // ref_scaled multiplies by float32(1/0.3); the composition divides by 0.3 in float64.
    const double tol = 1e-6;
    CHECK(worst_ratio(softrl::logsumexp(x, opt), ref_logsumexp(x.masked_fill(mask.logical_not(), -kInf) / 0.3),
                      torch::full({50}, tol, torch::kFloat64)) <= 1.0);
    CHECK(worst_ratio(softrl::softmax(x, opt), ref_softmax(xs), torch::full({50, 7}, tol, torch::kFloat64)) <= 1.0);
  }
  SECTION("non-contiguous float32 input gives exactly the contiguous result (made contiguous first)") {
    const torch::Tensor base = torch::randn({40, 30});
    const torch::Tensor xt = base.t();
    REQUIRE(softrl::detail::uses_fused_kernels(xt));
    CHECK(torch::equal(softrl::log_softmax(xt), softrl::log_softmax(xt.contiguous())));
    CHECK(torch::equal(softrl::softmax(xt), softrl::softmax(xt.contiguous())));
  }
  SECTION("double backward (create_graph) matches float64 autograd") {
    const torch::Tensor x = torch::randn({6, 5}).requires_grad_(true);
    const torch::Tensor x64 = x.detach().to(torch::kFloat64).requires_grad_(true);
    const torch::Tensor v = torch::randn({6, 5});
    for (int which = 0; which < 3; ++which) {
      auto f = [&](const torch::Tensor& t, bool ours) -> torch::Tensor {
        if (which == 0) return (ours ? softrl::logsumexp(t, {.temperature = 0.5}) : ref_logsumexp(t / 0.5)).sum();
        if (which == 1)
          return ((ours ? softrl::log_softmax(t, {.temperature = 0.5}) : ref_log_softmax(t / 0.5)) * v.to(t.dtype()))
              .sum();
        return ((ours ? softrl::softmax(t, {.temperature = 0.5}) : ref_softmax(t / 0.5)) * v.to(t.dtype())).sum();
      };
      const torch::Tensor g1 = torch::autograd::grad({f(x, true)}, {x}, {}, true, true)[0];
      const torch::Tensor h1 = torch::autograd::grad({(g1 * v).sum()}, {x})[0];
      const torch::Tensor g2 = torch::autograd::grad({f(x64, false)}, {x64}, {}, true, true)[0];
      const torch::Tensor h2 = torch::autograd::grad({(g2 * v.to(torch::kFloat64)).sum()}, {x64})[0];
      CHECK(torch::allclose(h1.to(torch::kFloat64), h2, 1e-4, 1e-5));
    }
  }
}

TEST_CASE("the fused ops' autograd nodes keep LibTorch's graph rules", "[core]") {
  torch::manual_seed(12);
  const torch::Tensor x = torch::randn({5, 9}).requires_grad_(true);
  const torch::Tensor gy = torch::randn({5, 9});
  SECTION("an output changed in place after the forward cannot be differentiated") {
    // log_softmax and softmax save their output for the backward; LibTorch's version counter
    // must catch an in-place change of it, as it does for its own ops.
    for (bool soft : {false, true}) {
      torch::Tensor y = soft ? softrl::softmax(x) : softrl::log_softmax(x);
      y.mul_(2);
      CHECK_THROWS_WITH(y.backward(gy), Catch::Contains("modified by an inplace operation"));
    }
  }
  SECTION("a graph is freed after its backward unless retained, and a retained one gives the same gradient") {
    const torch::Tensor g = torch::randn({5});
    torch::Tensor lse = softrl::logsumexp(x, {.temperature = 0.7});
    CHECK(std::string(lse.grad_fn()->name()) == "softrl::LogSumExpBackward");
    const torch::Tensor g1 = torch::autograd::grad({lse}, {x}, {g}, /*retain_graph=*/true)[0];
    const torch::Tensor g2 = torch::autograd::grad({lse}, {x}, {g})[0];
    CHECK(torch::equal(g1, g2));
    CHECK_THROWS_WITH(torch::autograd::grad({lse}, {x}, {g}), Catch::Contains("second time"));
  }
  SECTION("a gradient flows through a masked input to the logits, not to excluded entries") {
    const torch::Tensor mask = torch::rand({5, 9}) > 0.3;
    const torch::Tensor gx = torch::autograd::grad({softrl::log_softmax(x, {.mask = mask})}, {x}, {gy})[0];
    CHECK(gx.masked_select(mask.logical_not()).abs().max().item<float>() == 0.0f);
    CHECK(gx.masked_select(mask).abs().max().item<float>() > 0.0f);
  }
}

TEST_CASE("results do not depend on the thread count", "[core]") {
  const int before = torch::get_num_threads();
  torch::manual_seed(5);
  const torch::Tensor a = torch::randn({4099, 4});
  const torch::Tensor b = torch::randn({37, 5000});
  auto run = [&](int threads) {
    torch::set_num_threads(threads);
    return std::vector<torch::Tensor>{softrl::softmax(a), softrl::log_softmax(b), softrl::logsumexp(b)};
  };
  const auto one = run(1);
  const auto two = run(2);
  torch::set_num_threads(before);
  for (size_t i = 0; i < one.size(); ++i) CHECK(torch::equal(one[i], two[i]));
}

TEST_CASE("bad arguments are rejected with clear messages", "[core]") {
  const torch::Tensor x = torch::randn({2, 3});
  CHECK_THROWS_WITH(softrl::softmax(x, {.temperature = 0.0}), Catch::Contains("temperature must be in [1e-30, 1e30]"));
  CHECK_THROWS_WITH(softrl::logsumexp(x, {.mask = torch::ones({2, 3})}), Catch::Contains("mask must be a bool"));
  CHECK_THROWS_WITH(softrl::log_softmax(torch::tensor(1.0)), Catch::Contains("at least one dimension"));
}

TEST_CASE("softmax collapse diagnostic", "[core]") {
  // exp(-20) = 2e-9 < u / 2: absorbed into 1; exp(-5) = 6.7e-3 is not.
  const torch::Tensor x = torch::tensor({{0.0f, -20.0f, -25.0f}, {0.0f, -5.0f, -30.0f}, {3.0f, 3.0f, 3.0f}});
  CHECK(softmax_collapse_fraction(x) == Approx(1.0 / 3.0));
  const torch::Tensor mask = torch::tensor({{true, false, false}, {true, true, true}, {true, true, true}});
  CHECK(softmax_collapse_fraction(x, mask) == Approx(0.0));  // row 0 has one entry: not counted
  CHECK(softmax_collapse_fraction(torch::full({4, 2}, 0.0f).masked_fill(torch::ones({4, 2}, torch::kBool), -kInf)) ==
        0.0);
}
