// Primitives of the core against independent float64 computations.
// Inputs are float32; references are plain float64 formulas; gradients are compared with float64
// autograd of those formulas. Tolerances: 2e-5 relative + 2e-6 absolute for O(1) inputs (float32
// rounding of a handful of operations plus the core's 3e-5-relative sums), stated per check.
#include <catch2/catch.hpp>

#include "objectives/primitives.h"
#include "tests/objectives_reference.h"
#include "tests/reference.h"

using namespace softrl;
using namespace softrl::test;

namespace {

bool close_with_infinities(const torch::Tensor& got, const torch::Tensor& want, double rtol = 2e-5, double atol = 2e-6) {
  const torch::Tensor g = f64(got), w = f64(want);
  const torch::Tensor inf = w.isinf();
  if (!torch::equal(g.masked_select(inf), w.masked_select(inf))) return false;
  if (g.isnan().any().item<bool>()) return false;
  return ((g - w).abs().masked_fill(inf, 0) <= atol + rtol * w.abs().masked_fill(inf, 0)).all().item<bool>();
}

// Gradient of `ours(x32)` against float64 autograd of `ref(x64)` with upstream weights v.
template <class Ours, class Ref>
bool grad_close(const torch::Tensor& x, Ours ours, Ref ref, double rtol = 5e-5, double atol = 5e-6) {
  const torch::Tensor x32 = x.detach().clone().requires_grad_(true);
  const torch::Tensor x64 = f64(x).requires_grad_(true);
  const torch::Tensor y32 = ours(x32);
  const torch::Tensor v = torch::randn(y32.sizes());
  const torch::Tensor g32 = torch::autograd::grad({(y32 * v).sum()}, {x32})[0];
  const torch::Tensor y64 = ref(x64);
  const torch::Tensor g64 = torch::autograd::grad({(y64 * f64(v)).sum()}, {x64})[0];
  return close_with_infinities(g32, g64, rtol, atol);
}

}  // namespace

TEST_CASE("selective_log_softmax", "[primitives]") {
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({64, 6}) * 5;
  const torch::Tensor idx = torch::randint(0, 6, {64}, torch::kLong);
  auto ref = [&](const torch::Tensor& t) { return ref_log_softmax(t / 0.7).gather(-1, idx.unsqueeze(-1)).squeeze(-1); };
  CHECK(close_with_infinities(selective_log_softmax(x, idx, {.temperature = 0.7}), ref(f64(x))));
  CHECK(grad_close(
      x, [&](const torch::Tensor& t) { return selective_log_softmax(t, idx, {.temperature = 0.7}); }, ref));
  // An excluded index gives -inf.
  const torch::Tensor mask = torch::ones({64, 6}, torch::kBool).scatter(-1, idx.unsqueeze(-1), false);
  CHECK((selective_log_softmax(x, idx, {.mask = mask}) == -kInf).all().item<bool>());
}

TEST_CASE("softplus and log_sigmoid are accurate for tiny and large results", "[primitives]") {
  const torch::Tensor x = torch::tensor({-100.0f, -50.0f, -20.0f, -1.0f, 0.0f, 1e-4f, 3.0f, 30.0f, 80.0f});
  const torch::Tensor x64 = f64(x);
  const torch::Tensor sp_ref = x64.clamp_min(0) + (-x64.abs()).exp().log1p();
  // Relative accuracy everywhere, including softplus(-100) = 3.7e-44 (a float32 subnormal).
  CHECK(close_with_infinities(softrl::softplus(x).narrow(0, 1, 8), sp_ref.narrow(0, 1, 8), 1e-6, 0.0));
  CHECK(close_with_infinities(softrl::log_sigmoid(x), -(x64.neg().clamp_min(0) + (-x64.abs()).exp().log1p()), 1e-6, 1e-44));
  CHECK(grad_close(
      x, [](const torch::Tensor& t) { return softrl::softplus(t); },
      [](const torch::Tensor& t) { return t.exp().log1p(); }));  // float64: exact enough for |x| <= 80
  // At exactly 0 the gradient of log_sigmoid is 1/2 (DPO at initialization sits there).
  const torch::Tensor z = torch::zeros({1}, torch::requires_grad());
  softrl::log_sigmoid(z).sum().backward();
  CHECK(z.grad().item<float>() == 0.5f);
}

TEST_CASE("entropy, kl and soft cross-entropy", "[primitives]") {
  torch::manual_seed(2);
  const torch::Tensor a = torch::randn({32, 5}) * 3;
  const torch::Tensor b = torch::randn({32, 5}) * 3;
  const torch::Tensor mask = torch::rand({32, 5}) > 0.25;
  mask[0].fill_(false);
  const SoftmaxOptions opt{.mask = mask, .temperature = 1.5};
  auto ref_ls = [&](const torch::Tensor& t) { return ref_log_softmax(t.masked_fill(mask.logical_not(), -kInf) / 1.5); };
  auto xlogy = [](const torch::Tensor& p, const torch::Tensor& l) { return (p * l.masked_fill(p == 0, 0)).sum(-1); };

  auto ent_ref = [&](const torch::Tensor& t) { return -xlogy(ref_ls(t).exp(), ref_ls(t)); };
  CHECK(close_with_infinities(entropy(a, opt), ent_ref(f64(a))));
  CHECK(entropy(a, opt)[0].item<float>() == 0.0f);  // fully masked row
  // Gradient against the closed form dH/dx_i = -p_i (log p_i + H) / tau.
  {
    const torch::Tensor x = a.clone().requires_grad_(true);
    entropy(x, opt).sum().backward();
    const torch::Tensor ls = ref_ls(f64(a)), p = ls.exp();
    const torch::Tensor want = (-p * (ls.masked_fill(p == 0, 0) + ent_ref(f64(a)).unsqueeze(-1)) / 1.5);
    CHECK(close_with_infinities(x.grad(), want, 5e-5, 5e-6));
  }

  auto kl_ref = [&](const torch::Tensor& p_logits, const torch::Tensor& q_logits) {
    const torch::Tensor lp = ref_ls(p_logits), lq = ref_ls(q_logits);
    return xlogy(lp.exp(), lp - lq.masked_fill(lp == -kInf, 0));
  };
  CHECK(close_with_infinities(kl(a, b, opt), kl_ref(f64(a), f64(b))));
  CHECK(grad_close(
      a, [&](const torch::Tensor& t) { return kl(t, b, opt); },
      [&](const torch::Tensor& t) { return kl_ref(t, f64(b)); }));
  CHECK(grad_close(
      b, [&](const torch::Tensor& t) { return kl(a, t, opt); },
      [&](const torch::Tensor& t) { return kl_ref(f64(a), t); }));

  const torch::Tensor q = softrl::softmax(torch::randn({32, 5}), {.mask = mask});
  auto ce_ref = [&](const torch::Tensor& u) { return -xlogy(f64(q), ref_ls(u)); };
  CHECK(close_with_infinities(soft_cross_entropy(a, q, opt), ce_ref(f64(a))));
  CHECK(grad_close(
      a, [&](const torch::Tensor& t) { return soft_cross_entropy(t, q, opt); }, ce_ref));
}

TEST_CASE("reverse cumulative logsumexp", "[primitives]") {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({10, 9}) * 4;
  auto ref = [](const torch::Tensor& t) { return t.flip(-1).logcumsumexp(-1).flip(-1); };
  CHECK(close_with_infinities(reverse_cumulative_logsumexp(x), ref(f64(x))));
  CHECK(grad_close(
      x, [](const torch::Tensor& t) { return reverse_cumulative_logsumexp(t); }, ref));
  // With a mask, excluded entries drop out of every suffix; an all-excluded suffix is -inf.
  const torch::Tensor mask = torch::ones({10, 9}, torch::kBool);
  mask.narrow(1, 6, 3).fill_(false);
  const torch::Tensor got = reverse_cumulative_logsumexp(x, {.mask = mask});
  CHECK(close_with_infinities(got.narrow(1, 0, 6), ref(f64(x).narrow(1, 0, 6))));
  CHECK((got.narrow(1, 6, 3) == -kInf).all().item<bool>());
}

TEST_CASE("stablemax and log_stablemax", "[primitives]") {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({16, 7}) * 10;
  auto s = [](const torch::Tensor& t) { return torch::where(t >= 0, t + 1, 1 / (1 - t.clamp_max(0))); };
  auto ref = [&](const torch::Tensor& t) { return s(t) / s(t).sum(-1, true); };
  CHECK(close_with_infinities(stablemax(x), ref(f64(x))));
  CHECK(close_with_infinities(log_stablemax(x), ref(f64(x)).log()));
  CHECK(grad_close(
      x, [](const torch::Tensor& t) { return stablemax(t); }, ref));
  CHECK(grad_close(
      x, [](const torch::Tensor& t) { return log_stablemax(t); },
      [&](const torch::Tensor& t) { return ref(t).log(); }));
  // Not shift invariant, unlike softmax.
  CHECK_FALSE(torch::allclose(stablemax(x), stablemax(x + 5)));
  const torch::Tensor none = torch::zeros({2, 7}, torch::kBool);
  CHECK((stablemax(x.narrow(0, 0, 2), {.mask = none}) == 0).all().item<bool>());
}

TEST_CASE("squashed Gaussian log-prob", "[primitives]") {
  torch::manual_seed(5);
  const torch::Tensor u = torch::randn({20, 3}) * 3;
  const torch::Tensor mu = torch::randn({20, 3});
  const torch::Tensor ls = torch::randn({20, 3}) * 0.5;
  const torch::Tensor scale = torch::tensor({1.0f, 2.0f, 0.5f});
  // Reference: Gaussian density minus the log-Jacobian of a = scale * tanh(u), plain float64,
  // with 1 - tanh(u)^2 = 1 / cosh(u)^2 (finite in float64 for the |u| used here).
  auto ref_at = [&](const torch::Tensor& uu, const torch::Tensor& m, const torch::Tensor& l) {
    const torch::Tensor sd = f64(l).exp();
    const torch::Tensor logn = -0.5 * ((uu - f64(m)) / sd).pow(2) - sd.log() - 0.5 * std::log(2 * M_PI);
    return (logn - f64(scale).log() + 2 * uu.cosh().log()).sum(-1);
  };
  auto ref = [&](const torch::Tensor& uu) { return ref_at(uu, mu, ls); };
  CHECK(close_with_infinities(squashed_gaussian_log_prob(u, mu, ls, scale), ref(f64(u)), 2e-5, 2e-5));
  CHECK(grad_close(
      u, [&](const torch::Tensor& t) { return squashed_gaussian_log_prob(t, mu, ls, scale); }, ref));
  // Large |u| where 1 - tanh^2 underflows in float32: still finite and matching float64.
  const torch::Tensor big = torch::full({1, 3}, 30.0f);
  const torch::Tensor want = ref_at(f64(big), mu[0].unsqueeze(0), ls[0].unsqueeze(0));
  CHECK(std::isfinite(squashed_gaussian_log_prob(big, mu[0].unsqueeze(0), ls[0].unsqueeze(0), scale).item<float>()));
  const torch::Tensor got = squashed_gaussian_log_prob(big, mu[0].unsqueeze(0), ls[0].unsqueeze(0), scale);
  INFO("got " << got.item<double>() << " want " << want.item<double>());
  CHECK(close_with_infinities(got, want, 1e-5, 1e-3));
}

TEST_CASE("k3 KL estimator", "[primitives]") {
  const torch::Tensor l = torch::tensor({0.0f, -1.0f, -3.0f, -1e-6f, -50.0f});
  const torch::Tensor lr = torch::tensor({0.0f, -2.0f, -1.0f, 0.0f, -0.5f});
  const torch::Tensor d = f64(lr) - f64(l);
  const torch::Tensor want = d.exp() - d - 1;
  CHECK(close_with_infinities(k3_kl(l, lr), want, 1e-5, 1e-12));
  CHECK((k3_kl(l, lr) >= 0).all().item<bool>());
  // Tiny differences: expm1 keeps the d^2/2 term that exp(d) - d - 1 in float32 loses.
  CHECK(k3_kl(torch::tensor({0.0f}), torch::tensor({1e-4f})).item<float>() == Approx(5.0002e-9).epsilon(1e-3));
  CHECK(grad_close(
      l, [&](const torch::Tensor& t) { return k3_kl(t, lr); },
      [&](const torch::Tensor& t) { return (f64(lr) - t).exp() - (f64(lr) - t) - 1; }));
}

TEST_CASE("group statistics", "[primitives]") {
  const torch::Tensor r =
      torch::tensor({{1.0, 2.0, 3.0, 6.0}, {5.0, 5.0, 5.0, 5.0}, {4.0, 0.0, 0.0, 0.0}}, torch::kFloat64);
  const torch::Tensor mask =
      torch::tensor({{true, true, true, true}, {true, true, true, false}, {true, false, false, false}});
  const GroupStats st = group_normalize(r, {.mask = mask, .eps = 1e-6});
  // Row 0: mean 3, Bessel std sqrt(14/3).
  const double sd = std::sqrt(14.0 / 3.0);
  CHECK(st.mean[0].item<double>() == Approx(3.0));
  CHECK(st.std[0].item<double>() == Approx(sd));
  CHECK(st.advantages[0][3].item<double>() == Approx(3.0 / (sd + 1e-6)));
  CHECK_FALSE(st.zero_std[0].item<bool>());
  // Zero variance and singleton groups: advantages exactly 0, flagged.
  CHECK((st.advantages[1] == 0).all().item<bool>());
  CHECK((st.advantages[2] == 0).all().item<bool>());
  CHECK(st.zero_std[1].item<bool>());
  CHECK(st.zero_std[2].item<bool>());
  CHECK(st.count[2].item<double>() == 1.0);
  // Sums of advantages within a group are zero.
  CHECK(st.advantages.sum(-1).abs().max().item<double>() < 1e-12);
  // 0.1 * 3 summed in floating point is not exactly representable: still exactly zero.
  const GroupStats flat = group_normalize(torch::full({1, 3}, 0.1f));
  CHECK((flat.advantages == 0).all().item<bool>());
  CHECK(group_normalize(r, {.scale_by_std = false}).advantages[0][0].item<double>() == Approx(-2.0));
}
