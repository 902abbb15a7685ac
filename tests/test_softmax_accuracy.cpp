// Property test of the softmax core's accuracy: random rows of every length 1..70000, magnitudes
// 1e-3..1e30, large offsets with small spreads, constant rows, +-inf, masks and temperatures over
// the whole supported range [1e-30, 1e30], on both instruction sets and in float64, against a
// float64 evaluation of the exact formulas (x - M first, log S = log1p(S - 1) with the max entry's
// 1 taken out). Tolerances are float32 rounding steps (u = 2^-24) of each result, plus the one
// rounding no float32 implementation avoids: d = (x - M) / tau itself (difference and scale are
// float32 operations, 2u |d|), which log S turns into an absolute error of 2u E with
// E = sum_j p_j |d_j| (first order), and exp into a relative error of 2u |d| of each p:
//   log_softmax  |y - y*| <= 8u |y*| + 4u E          (|y*| = |d| + log S bounds the rest)
//   softmax      |p - p*| <= 8u p* (1 + |log p*| + E) + FLT_MIN (results below FLT_MIN flush)
//   logsumexp    |l - l*| <= 8u (|l*| + log S*) + 4u E  (M/tau and log S may cancel)
//   gradients    the same relative bounds, times the gradient formula's terms (p/tau for
//                logsumexp; g and p sum(g) for log_softmax; p g and p <g, p> for softmax),
//                whose differences are rounded once, plus the row sum inside the formula
//                (sum g, <g, p>): log2(n) u times the sum of its terms' magnitudes (pairwise
//                summation in LibTorch's float64 autograd; the float32 kernels sum in double).
// The tests fail on the core as it was before these bounds were met (see docs/benchmarks/core.md).
#include <cfloat>
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "objectives/kernels/row_kernels.h"
#include "objectives/softmax.h"
#include "tests/kernel_isas.h"
#include "tests/reference.h"

using namespace softrl;
using namespace softrl::test;
namespace k = softrl::kernels;

namespace {


struct Reference {
  torch::Tensor lse, y, p, log_sum;  // float64
  torch::Tensor e;                   // [rows, 1] sum_j p_j |d_j|
};

// The exact formulas in float64 on the float32 (or float64) input: per row M, d = (x - M) / tau,
// log S = log1p(sum of exp(d) over all but one max entry).
Reference reference(const torch::Tensor& x_in, const torch::Tensor& mask, double tau) {
  torch::Tensor x = x_in.to(torch::kFloat64);
  if (mask.defined()) x = x.masked_fill(mask.logical_not(), -kInf);
  const int64_t rows = x.size(0), cols = x.size(1);
  Reference r{torch::empty({rows}, torch::kFloat64), torch::empty_like(x), torch::empty_like(x),
              torch::empty({rows}, torch::kFloat64), torch::zeros({rows, 1}, torch::kFloat64)};
  auto xa = x.accessor<double, 2>();
  auto ya = r.y.accessor<double, 2>();
  auto pa = r.p.accessor<double, 2>();
  for (int64_t i = 0; i < rows; ++i) {
    double m = -kInf;
    int64_t arg = -1;
    for (int64_t j = 0; j < cols; ++j)
      if (xa[i][j] > m) m = xa[i][j], arg = j;
    if (arg < 0) {  // dead row
      r.lse[i] = -kInf, r.log_sum[i] = -kInf;
      for (int64_t j = 0; j < cols; ++j) ya[i][j] = -kInf, pa[i][j] = 0.0;
      continue;
    }
    long double rest = 0;
    for (int64_t j = 0; j < cols; ++j)
      if (j != arg) rest += std::exp(static_cast<long double>((xa[i][j] - m) / tau));
    const double ls = static_cast<double>(std::log1p(rest));
    r.log_sum[i] = ls;
    r.lse[i] = m / tau + ls;
    double e = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double d = (xa[i][j] - m) / tau;
      ya[i][j] = d - ls;
      pa[i][j] = std::exp(ya[i][j]);
      if (pa[i][j] > 0) e += pa[i][j] * std::abs(d);
    }
    r.e[i][0] = e;
  }
  return r;
}

// Largest ratio |got - want| / bound over the entries (want rounded to got's type first, so that
// an overflow to +-inf in both counts as equal); <= 1 passes.
double worst(const torch::Tensor& got_in, const torch::Tensor& want64, const torch::Tensor& bound) {
  const torch::Tensor got = got_in.to(torch::kFloat64);
  const torch::Tensor want = want64.to(got_in.scalar_type()).to(torch::kFloat64);
  const torch::Tensor same = (got == want) | (got.isnan() & want.isnan());
  const torch::Tensor ratio = ((got - want).abs() / bound).masked_fill(same, 0.0);
  return ratio.numel() ? ratio.nan_to_num(1e300).max().item<double>() : 0.0;
}

struct RowCase {
  torch::Tensor x, mask;
  double tau;
  std::string what;
};

// Random cases: length, magnitude, offset, temperature, and the special entries.
std::vector<RowCase> random_cases(uint64_t seed, int count) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  const std::vector<int64_t> lengths = {1,  2,  3,  4,  5,   7,   8,    9,    15,    16,
                                        17, 31, 33, 64, 100, 257, 1000, 4097, 65537, 70000};
  std::vector<RowCase> out;
  for (int c = 0; c < count; ++c) {
    RowCase rc;
    const int64_t cols = u01(gen) < 0.6 ? lengths[gen() % lengths.size()] : 1 + static_cast<int64_t>(gen() % 70000);
    const int64_t rows = cols > 1000 ? 2 : 9;  // 9 rows: one full AVX2 block of 8 and a partial one
    const double magnitude = std::pow(10.0, -3 + 33 * u01(gen));
    const double offsets[] = {0.0, 1e4, -1e4, 1e15, -1e30, 3e37};
    const double offset = offsets[gen() % 6] * (u01(gen) < 0.5 ? 1.0 : 0.0);
    const double taus[] = {1e-30, 1e-10, 0.05, 1.0, 20.0, 1e10, 1e30};
    rc.tau = u01(gen) < 0.5 ? taus[gen() % 7] : std::pow(10.0, -30 + 60 * u01(gen));
    torch::manual_seed(gen());
    // spread relative to the offset (float32 can only hold spreads > u * |offset|)
    const double spread =
        offset != 0.0 && u01(gen) < 0.7 ? std::abs(offset) * std::pow(10.0, -6 * u01(gen)) : magnitude;
    rc.x = (torch::randn({rows, cols}, torch::kFloat64) * spread + offset).to(torch::kFloat32);
    const int kind = static_cast<int>(gen() % 6);
    if (kind == 1) rc.x[0].fill_(static_cast<float>(offset - magnitude));  // a constant row
    if (kind == 2) rc.x.index_put_({0, static_cast<int64_t>(gen() % cols)}, -INFINITY);
    if (kind == 3) rc.mask = torch::rand({rows, cols}) > 0.5;
    if (kind == 4 && rows > 1) rc.x[1].fill_(-INFINITY);  // a dead row
    rc.what = "cols " + std::to_string(cols) + " magnitude " + std::to_string(magnitude) + " offset " +
              std::to_string(offset) + " spread " + std::to_string(spread) + " tau " + std::to_string(rc.tau) +
              " kind " + std::to_string(kind);
    out.push_back(rc);
  }
  return out;
}

// Checks forward values and gradients of the three ops for one case on the current path.
void check_case(const RowCase& c, torch::ScalarType dtype) {
  const double u = dtype == torch::kFloat32 ? kU : 1.0 / 9007199254740992.0;
  const double tiny = dtype == torch::kFloat32 ? FLT_MIN : DBL_MIN;
  const SoftmaxOptions opt{.mask = c.mask, .temperature = c.tau};
  const torch::Tensor x = c.x.to(dtype);
  const Reference r = reference(x, c.mask, c.tau);
  INFO(c.what << " " << dtype);

  const torch::Tensor y_bound = 8 * u * r.y.abs() + 4 * u * r.e + tiny;
  const torch::Tensor logp = r.y.abs().nan_to_num(0, 0, 0) + r.e;
  const torch::Tensor p_bound = 8 * u * r.p * (1 + logp) + tiny;
  const torch::Tensor l_bound =
      8 * u * (r.lse.abs() + r.log_sum.abs()).nan_to_num(0, 0, 0) + 4 * u * r.e.squeeze(1) + tiny;
  CHECK(worst(softrl::log_softmax(x, opt), r.y, y_bound) <= 1.0);
  CHECK(worst(softrl::softmax(x, opt), r.p, p_bound) <= 1.0);
  CHECK(worst(softrl::logsumexp(x, opt), r.lse, l_bound) <= 1.0);

  // Gradients (dead rows: 0; excluded entries: 0).
  torch::manual_seed(3);
  const torch::Tensor g = torch::randn(x.sizes(), torch::kFloat64);
  const torch::Tensor g_row = torch::randn({x.size(0)}, torch::kFloat64);
  const torch::Tensor live = r.p > 0;
  const double inv_tau = 1.0 / c.tau;
  auto grad = [&](int which) {
    const torch::Tensor xv = x.detach().requires_grad_(true);
    torch::Tensor out;
    if (which == 0) out = (softrl::logsumexp(xv, opt) * g_row.to(dtype)).sum();
    if (which == 1) out = (softrl::log_softmax(xv, opt).masked_fill(~live, 0) * g.to(dtype)).sum();
    if (which == 2) out = (softrl::softmax(xv, opt) * g.to(dtype)).sum();
    out.backward();
    return xv.grad();
  };
  {  // logsumexp: g p / tau
    const torch::Tensor want = g_row.unsqueeze(1) * r.p * inv_tau;
    CHECK(worst(grad(0), want, p_bound * g_row.abs().unsqueeze(1) * inv_tau + tiny) <= 1.0);
  }
  {  // log_softmax: (g - p sum g) / tau over live entries
    const torch::Tensor gl = g.masked_fill(~live, 0);
    const torch::Tensor psum = r.p * gl.sum(1, true);
    const torch::Tensor want = ((gl - psum) * inv_tau).masked_fill(~live, 0);
    const double lg = std::log2(static_cast<double>(x.size(1))) + 1;
    const torch::Tensor sum_err = lg * r.p * gl.abs().sum(1, true);
    const torch::Tensor bound = 8 * u * (gl.abs() + psum.abs() * (1 + logp) + sum_err) * inv_tau + tiny;
    CHECK(worst(grad(1), want, bound) <= 1.0);
  }
  {  // softmax: p (g - <g, p>) / tau
    const torch::Tensor dot = (g * r.p).sum(1, true);
    const torch::Tensor want = r.p * (g - dot) * inv_tau;
    const double lg = std::log2(static_cast<double>(x.size(1))) + 1;
    const torch::Tensor sum_err = lg * (g.abs() * r.p).sum(1, true);
    const torch::Tensor bound = 8 * u * r.p * ((1 + logp) * (g.abs() + dot.abs()) + sum_err) * inv_tau + tiny;
    CHECK(worst(grad(2), want, bound) <= 1.0);
  }
}

}  // namespace

TEST_CASE("core accuracy: random rows within a few float32 rounding steps of the exact result", "[softmax][accuracy]") {
  const std::vector<RowCase> cases = random_cases(2026, 120);
  for (k::Isa isa : isas()) {
    k::force_isa(isa);
    INFO(k::isa_name(isa));
    for (const RowCase& c : cases) check_case(c, torch::kFloat32);
  }
  k::clear_forced_isa();
  for (const RowCase& c : cases) check_case(c, torch::kFloat64);
}

TEST_CASE("core accuracy: the reported failures", "[softmax][accuracy]") {
  for (k::Isa isa : isas()) {
    k::force_isa(isa);
    INFO(k::isa_name(isa));
    // large |x|: -log_softmax([1000, 990])[0] = log1p(e^-10) = 4.5399e-5
    const torch::Tensor a = softrl::log_softmax(torch::tensor({{1000.0f, 990.0f}}));
    CHECK(-a[0][0].item<double>() == Approx(std::log1p(std::exp(-10.0))).epsilon(4 * kU));
    // softmax of [1e4, 1e4+1, 1e4+2, 1e4+3] sums to 1
    const torch::Tensor b = softrl::softmax(torch::tensor({{1e4f, 1e4f + 1, 1e4f + 2, 1e4f + 3}}));
    CHECK(b.sum().item<double>() == Approx(1.0).epsilon(4 * kU));
    // constant rows: log_softmax = -log n, softmax = 1/n, gradient of logsumexp = 1/n
    for (float v : {-1e30f, 3e38f, -3e38f}) {
      const torch::Tensor row = torch::full({1, 5}, v).requires_grad_(true);
      CHECK(softrl::log_softmax(row.detach())[0][2].item<double>() == Approx(-std::log(5.0)).epsilon(4 * kU));
      CHECK(softrl::softmax(row.detach())[0][2].item<double>() == Approx(0.2).epsilon(4 * kU));
      softrl::logsumexp(row).sum().backward();
      CHECK(row.grad()[0][3].item<double>() == Approx(0.2).epsilon(4 * kU));
    }
    // float64 and float32: the gradient of logsumexp([1e15, 1e15]) is 0.5
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const torch::Tensor big = torch::full({1, 2}, 1e15, dtype).requires_grad_(true);
      softrl::logsumexp(big).sum().backward();
      CHECK(big.grad()[0][0].item<double>() == 0.5);
    }
    // long constant rows sum to 1 (float32 accumulation grew with n)
    for (int64_t n : {65537, 1000003}) {
      const torch::Tensor s = softrl::softmax(torch::full({1, n}, 0.3f));
      CHECK(s.to(torch::kFloat64).sum().item<double>() == Approx(1.0).epsilon(16 * kU));
    }
    // extreme temperatures inside the range: tau = 1e-30 puts all the mass (and gradient 1e30) on the max
    const torch::Tensor t = torch::tensor({{0.0f, -1.0f, -2.0f}}).requires_grad_(true);
    CHECK(softrl::softmax(t.detach(), {.temperature = 1e-30})[0][0].item<double>() == 1.0);
    softrl::logsumexp(t, {.temperature = 1e-30}).sum().backward();
    CHECK(t.grad()[0][0].item<double>() == Approx(1e30).epsilon(4 * kU));
    CHECK(t.grad()[0][1].item<double>() == 0.0);
    const torch::Tensor hot = softrl::softmax(
        torch::zeros({1, 4}), {.mask = torch::tensor({{true, true, true, false}}), .temperature = 1e30});
    CHECK(hot[0][0].item<double>() == Approx(1.0 / 3).epsilon(4 * kU));
    CHECK(hot[0][3].item<double>() == 0.0);
    CHECK_THROWS_WITH(softrl::softmax(torch::zeros({1, 4}), {.temperature = 1e-40}), Catch::Contains("[1e-30, 1e30]"));
    CHECK_THROWS_WITH(softrl::softmax(torch::zeros({1, 4}), {.temperature = 1e46}), Catch::Contains("[1e-30, 1e30]"));
  }
  k::clear_forced_isa();
}

TEST_CASE("core accuracy: a NaN reaches every output of its row, masked or alone", "[softmax][accuracy]") {
  const float nan = std::nanf("");
  for (k::Isa isa : isas()) {
    k::force_isa(isa);
    INFO(k::isa_name(isa));
    for (int64_t cols : {1, 3, 20}) {
      torch::Tensor x = torch::full({9, cols}, -INFINITY);
      x[4][cols - 1] = nan;  // NaN with the rest -inf (or alone)
      x[5][0] = nan;         // NaN with finite entries
      if (cols > 1) x[5][cols - 1] = 2.0f;
      const torch::Tensor mask = torch::ones({9, cols}, torch::kBool);
      INFO("cols " << cols);
      for (const SoftmaxOptions& opt : {SoftmaxOptions{}, SoftmaxOptions{.mask = mask}}) {
        CHECK(softrl::log_softmax(x, opt)[4].isnan().all().item<bool>());
        CHECK(softrl::softmax(x, opt)[4].isnan().all().item<bool>());
        CHECK(std::isnan(softrl::logsumexp(x, opt)[4].item<float>()));
        CHECK(softrl::log_softmax(x, opt)[5].isnan().all().item<bool>());
        CHECK(std::isnan(softrl::logsumexp(x, opt)[5].item<float>()));
        CHECK(softrl::log_softmax(x, opt)[0].isneginf().all().item<bool>());  // dead rows stay dead
        const torch::Tensor xv = x.clone().requires_grad_(true);
        softrl::logsumexp(xv, opt).sum().backward();
        CHECK(xv.grad()[4].isnan().any().item<bool>());
        CHECK((xv.grad()[0] == 0).all().item<bool>());
      }
    }
  }
  k::clear_forced_isa();
  const torch::Tensor d = torch::tensor({{std::nan(""), -kInf, -kInf}}, torch::kFloat64);
  CHECK(std::isnan(softrl::logsumexp(d).item<double>()));
  CHECK(softrl::log_softmax(d).isnan().all().item<bool>());
}
