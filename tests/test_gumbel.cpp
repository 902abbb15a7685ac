// Gumbel sampling: moments, Gumbel-max frequencies (chi-square), straight-through behaviour and
// the Gumbel log-density with its gradient.
#include <cmath>

#include <catch2/catch.hpp>

#include "objectives/gumbel.h"
#include "tests/reference.h"

using namespace softrl;

TEST_CASE("Gumbel noise has the moments of Gumbel(0, 1)", "[gumbel]") {
  at::Generator gen = at::detail::createCPUGenerator(1234);
  const int64_t n = 400000;
  const torch::Tensor g = gumbel_noise({n}, torch::TensorOptions().dtype(torch::kFloat64), gen);
  const double euler_gamma = 0.5772156649015329;
  const double var = M_PI * M_PI / 6.0;
  // Standard errors: sd / sqrt(n) = 0.0020 for the mean; the variance estimate's is
  // sqrt((mu4 - var^2) / n) with mu4 = 14.61: 0.0053. Bounds are 5 standard errors.
  CHECK(std::abs(g.mean().item<double>() - euler_gamma) < 5 * std::sqrt(var / n));
  CHECK(std::abs(g.var().item<double>() - var) < 5 * std::sqrt((14.6114 - var * var) / n));
  CHECK(std::isfinite(g.max().item<double>()));
}

TEST_CASE("Gumbel-max frequencies match the categorical distribution", "[gumbel]") {
  at::Generator gen = at::detail::createCPUGenerator(99);
  const torch::Tensor logits = torch::tensor({0.0f, -1.0f, 1.5f, 0.3f, -3.0f});
  const torch::Tensor p = torch::softmax(logits.to(torch::kFloat64), -1);
  const int64_t n = 200000;
  const torch::Tensor noise = gumbel_noise({n, 5}, torch::TensorOptions(), gen);
  const torch::Tensor picks = (logits + noise).argmax(-1);
  const torch::Tensor counts = torch::bincount(picks, {}, 5).to(torch::kFloat64);
  const torch::Tensor expected = p * static_cast<double>(n);
  const double chi2 = ((counts - expected).pow(2) / expected).sum().item<double>();
  // 4 degrees of freedom: the 0.999 quantile is 18.47.
  CHECK(chi2 < 18.47);
}

TEST_CASE("Gumbel-softmax: soft sample, straight-through forward and backward", "[gumbel]") {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const torch::Tensor logits = torch::randn({64, 6}, gen);
  const torch::Tensor noise = gumbel_noise({64, 6}, torch::TensorOptions(), gen);
  const torch::Tensor mask = torch::rand({64, 6}, gen) > 0.2;
  mask.select(1, 0).fill_(true);

  const torch::Tensor a = logits.clone().requires_grad_(true);
  const torch::Tensor soft = gumbel_softmax_with_noise(a, noise, {.temperature = 0.5, .mask = mask});
  const torch::Tensor want = torch::softmax(((logits + noise) / 0.5).masked_fill(mask.logical_not(), -1e30), -1);
  CHECK(torch::allclose(soft, want, 1e-5, 1e-6));
  CHECK((soft.masked_select(mask.logical_not()) == 0).all().item<bool>());

  const torch::Tensor b = logits.clone().requires_grad_(true);
  const torch::Tensor hard = gumbel_softmax_with_noise(b, noise, {.temperature = 0.5, .hard = true, .mask = mask});
  // Forward: exactly one-hot, at the soft sample's argmax, never on an excluded entry.
  CHECK(((hard == 0) | (hard == 1)).all().item<bool>());
  CHECK((hard.sum(-1) == 1).all().item<bool>());
  CHECK(torch::equal(hard.argmax(-1), soft.argmax(-1)));
  CHECK((hard.masked_select(mask.logical_not()) == 0).all().item<bool>());
  // Backward equals the soft path's.
  const torch::Tensor v = torch::randn({64, 6}, gen);
  (soft * v).sum().backward();
  (hard * v).sum().backward();
  CHECK(torch::allclose(a.grad(), b.grad(), 0.0, 0.0));
}

TEST_CASE("Gumbel log-density and its gradient", "[gumbel]") {
  const torch::Tensor g = torch::tensor({0.5, -1.0, 3.0, 0.0}, torch::kFloat64);
  const torch::Tensor mu =
      torch::tensor({0.0, 0.5, -1.0, 0.0}, torch::TensorOptions().dtype(torch::kFloat64).requires_grad(true));
  const torch::Tensor z = g - mu.detach();
  CHECK(torch::allclose(gumbel_log_density(g, mu), -z - (-z).exp(), 1e-14, 0.0));
  gumbel_log_density(g, mu).sum().backward();
  CHECK(torch::allclose(mu.grad(), 1 - (-z).exp(), 1e-14, 0.0));
  // Integrates to 1 (trapezoid on [-10, 30]).
  const torch::Tensor grid = torch::linspace(-10, 30, 400001, torch::kFloat64);
  const double mass =
      torch::trapezoid(gumbel_log_density(grid, torch::zeros({1}, torch::kFloat64)).exp(), grid).item<double>();
  CHECK(mass == Approx(1.0).epsilon(1e-8));
}
