// DPO's, ADPO's and Plackett-Luce's losses against independent float64 computations written plainly here (loops and
// scalar formulas, not the library's code paths), plus the method's identities.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "objectives/preference.h"
#include "tests/objectives_reference.h"

using namespace softrl;
using namespace softrl::test;

// ---------------------------------------------------------------- DPO / ADPO
TEST_CASE("DPO variants against scalar formulas", "[preference]") {
  torch::manual_seed(9);
  const torch::Tensor lw = torch::randn({16}) * 20, ll = torch::randn({16}) * 20;
  const torch::Tensor rw = torch::randn({16}) * 20, rl = torch::randn({16}) * 20;
  lw[0] = 60.0f;  // extreme log-ratios (+-50 and beyond)
  ll[1] = 55.0f;
  const double beta = 0.1, eps = 0.2;
  for (auto variant : {preference::DpoVariant::sigmoid, preference::DpoVariant::conservative,
                       preference::DpoVariant::robust, preference::DpoVariant::ipo}) {
    const torch::Tensor w = lw.clone().requires_grad_(true);
    preference::PreferenceInfo info;
    const torch::Tensor loss =
        preference::dpo_loss(w, ll, rw, rl, {.beta = beta, .variant = variant, .label_noise = eps}, &info);
    double ref = 0, acc = 0;
    std::vector<double> grad(16);
    for (int i = 0; i < 16; ++i) {
      const double h = (d(lw[i]) - d(rw[i])) - (d(ll[i]) - d(rl[i]));
      const double x = beta * h;
      switch (variant) {
        case preference::DpoVariant::sigmoid:
          ref += -logsig(x);
          grad[i] = -beta * sig(-x);
          break;
        case preference::DpoVariant::conservative:
          ref += -(1 - eps) * logsig(x) - eps * logsig(-x);
          grad[i] = beta * (-(1 - eps) * sig(-x) + eps * sig(x));
          break;
        case preference::DpoVariant::robust:
          ref += (-(1 - eps) * logsig(x) + eps * logsig(-x)) / (1 - 2 * eps);
          grad[i] = beta * (-(1 - eps) * sig(-x) - eps * sig(x)) / (1 - 2 * eps);
          break;
        case preference::DpoVariant::ipo:
          ref += std::pow(h - 1 / (2 * beta), 2);
          grad[i] = 2 * (h - 1 / (2 * beta));
          break;
      }
      acc += (d(lw[i]) - d(rw[i])) > (d(ll[i]) - d(rl[i]));
    }
    CHECK(d(loss) == Approx(ref / 16).epsilon(2e-5));
    loss.backward();
    CHECK(close(w.grad(), torch::tensor(grad, torch::kFloat64) / 16, 1e-4, 1e-6));
    CHECK(info.accuracy == Approx(acc / 16));
  }
}

TEST_CASE("ADPO identities", "[preference]") {
  torch::manual_seed(10);
  const torch::Tensor li = torch::randn({32}) * 5, lj = torch::randn({32}) * 5;
  const torch::Tensor ri = torch::randn({32}) * 5, rj = torch::randn({32}) * 5;
  const double beta = 0.1;
  SECTION("pairwise with hard q = 1 and tau = 1/beta equals DPO exactly") {
    const torch::Tensor a = preference::adpo_pairwise_loss(li, lj, ri, rj, torch::ones({32}), 1.0 / beta);
    const torch::Tensor b = preference::dpo_loss(li, lj, ri, rj, {.beta = beta});
    CHECK(close(a, b, 1e-6, 1e-7));
  }
  SECTION("listwise with two candidates equals pairwise") {
    const torch::Tensor q = torch::rand({32});
    const double tau = 0.7;
    const torch::Tensor pair = preference::adpo_pairwise_loss(li, lj, ri, rj, q, tau);
    const torch::Tensor list = preference::adpo_listwise_loss(torch::stack({li, lj}, -1), torch::stack({ri, rj}, -1),
                                                              torch::stack({q, 1 - q}, -1), tau);
    CHECK(close(pair, list, 1e-5, 1e-6));
  }
  SECTION("the optimum pi ~ pi_ref q^tau is a stationary point") {
    const double tau = 0.5;
    const torch::Tensor l_ref = torch::randn({8, 5}, torch::kFloat64);
    const torch::Tensor q = torch::softmax(torch::randn({8, 5}, torch::kFloat64), -1);
    // log pi* = log pi_ref + tau log q + c (any per-group constant c).
    const torch::Tensor l = (l_ref + tau * q.log() + torch::randn({8, 1}, torch::kFloat64)).requires_grad_(true);
    preference::adpo_listwise_loss(l, l_ref, q, tau).backward();
    CHECK(l.grad().abs().max().item<double>() < 1e-12);
    // ... and a perturbation has a non-zero gradient.
    const torch::Tensor l2 = (l.detach() + 0.1 * torch::randn({8, 5}, torch::kFloat64)).requires_grad_(true);
    preference::adpo_listwise_loss(l2, l_ref, q, tau).backward();
    CHECK(l2.grad().abs().max().item<double>() > 1e-3);
  }
  SECTION("listwise value and gradient (p~ - q) / tau with masked groups") {
    const torch::Tensor l = torch::randn({6, 4}).requires_grad_(true);
    const torch::Tensor l_ref = torch::randn({6, 4});
    const torch::Tensor mask = torch::tensor({true, true, true, false}).expand({6, 4}).clone();
    mask[5] = torch::tensor({true, true, false, false});
    const torch::Tensor rewards = torch::randn({6, 4});
    const torch::Tensor q = preference::adpo_targets(rewards, 0.5, preference::TargetMode::soft_zscore, mask);
    CHECK((q.masked_select(mask.logical_not()) == 0).all().item<bool>());
    CHECK(close(q.sum(-1), torch::ones({6}), 1e-6, 1e-6));
    const double tau = 2.0;
    const torch::Tensor loss = preference::adpo_listwise_loss(l, l_ref, q, tau, mask);
    loss.backward();
    double ref = 0;
    torch::Tensor gref = torch::zeros({6, 4}, torch::kFloat64);
    for (int g = 0; g < 6; ++g) {
      double z = 0;
      for (int i = 0; i < 4; ++i)
        if (mask[g][i].item<bool>()) z += std::exp((d(l[g][i]) - d(l_ref[g][i])) / tau);
      for (int i = 0; i < 4; ++i) {
        if (!mask[g][i].item<bool>()) continue;
        const double p = std::exp((d(l[g][i]) - d(l_ref[g][i])) / tau) / z;
        ref += -d(q[g][i]) * std::log(p);
        gref[g][i] = (p - d(q[g][i])) / tau / 6;
      }
    }
    CHECK(d(loss) == Approx(ref / 6).epsilon(1e-5));
    CHECK(close(l.grad(), gref, 1e-4, 1e-6));
  }
  SECTION("hard targets pick the best candidate; tau at both ends of its range stays finite") {
    const torch::Tensor rewards = torch::tensor({{1.0f, 3.0f, 2.0f}});
    CHECK(torch::equal(preference::adpo_targets(rewards, 1.0, preference::TargetMode::hard),
                       torch::tensor({{0.0f, 1.0f, 0.0f}})));
    const torch::Tensor l = torch::tensor({{-60.0f, 0.0f, 50.0f}}, torch::requires_grad());
    for (double tau : {0.05, 20.0}) {
      const torch::Tensor loss = preference::adpo_listwise_loss(
          l, torch::zeros({1, 3}), preference::adpo_targets(rewards, 1.0, preference::TargetMode::hard), tau);
      loss.backward();
      CHECK(std::isfinite(d(loss)));
      CHECK_FALSE(l.grad().isnan().any().item<bool>());
      l.mutable_grad().zero_();
    }
  }
}

TEST_CASE("Plackett-Luce loss against an explicit product of choices", "[preference]") {
  torch::manual_seed(12);
  const torch::Tensor l = torch::randn({3, 4}).requires_grad_(true);
  const torch::Tensor l_ref = torch::randn({3, 4});
  const torch::Tensor rewards = torch::randn({3, 4});
  const torch::Tensor mask = torch::ones({3, 4}, torch::kBool);
  mask[2][1] = false;
  const double beta = 0.5;
  const torch::Tensor loss = preference::plackett_luce_loss(l, l_ref, rewards, beta, mask);
  double ref = 0;
  for (int g = 0; g < 3; ++g) {
    std::vector<int> idx;
    for (int i = 0; i < 4; ++i)
      if (mask[g][i].item<bool>()) idx.push_back(i);
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return d(rewards[g][a]) > d(rewards[g][b]); });
    for (size_t k = 0; k < idx.size(); ++k) {
      double z = 0;
      for (size_t j = k; j < idx.size(); ++j) z += std::exp(beta * (d(l[g][idx[j]]) - d(l_ref[g][idx[j]])));
      ref -= beta * (d(l[g][idx[k]]) - d(l_ref[g][idx[k]])) - std::log(z);
    }
  }
  CHECK(d(loss) == Approx(ref / 3).epsilon(1e-5));
  // Two candidates: Plackett-Luce equals DPO on the (better, worse) pair.
  const torch::Tensor two = preference::plackett_luce_loss(l.narrow(1, 0, 2), l_ref.narrow(1, 0, 2),
                                                           torch::tensor({1.0f, 0.0f}).expand({3, 2}), beta);
  const torch::Tensor dpo =
      preference::dpo_loss(l.select(1, 0), l.select(1, 1), l_ref.select(1, 0), l_ref.select(1, 1), {.beta = beta});
  CHECK(close(two, dpo, 1e-5, 1e-6));
}

TEST_CASE("preference losses at extreme log-ratios stay exact and finite", "[preference]") {
  // beta h = +-50 and beyond: -log sigma(-50) = 50 exactly in float64, gradient sigma(-x).
  const torch::Tensor lw = torch::tensor({50.0f, -50.0f, 80.0f, -80.0f}, torch::requires_grad());
  const torch::Tensor zero = torch::zeros({4});
  const torch::Tensor loss = preference::dpo_loss(lw, zero, zero, zero, {.beta = 1.0});
  double ref = 0;
  for (double h : {50.0, -50.0, 80.0, -80.0}) ref += -logsig(h);
  CHECK(d(loss) == Approx(ref / 4).epsilon(1e-6));
  loss.backward();
  CHECK(d(lw.grad()[1]) == Approx(-0.25).epsilon(1e-6));
  CHECK(d(lw.grad()[0]) == Approx(-sig(-50.0) / 4).epsilon(1e-3));
  const torch::Tensor pl = preference::adpo_pairwise_loss(lw, zero, zero, zero, torch::full({4}, 0.3f), 1.0);
  CHECK(std::isfinite(d(pl)));
}
