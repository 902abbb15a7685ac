// OREO's soft-Bellman losses against independent float64 computations written plainly here (loops and scalar
// formulas, not the library's code paths), plus the method's identities.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "objectives/primitives.h"
#include "objectives/soft_bellman.h"
#include "tests/objectives_reference.h"

using namespace softrl;
using namespace softrl::test;

namespace {
struct Episode {
  std::vector<double> logp, logp_ref, values, rewards;
};
// Plain per-episode float64 computation of OREO's value and policy losses.
std::pair<double, double> oreo_reference(const std::vector<Episode>& eps, double beta, double gamma) {
  double lv = 0, lp = 0;
  int n = 0;
  for (const Episode& e : eps) {
    const size_t T = e.rewards.size();
    if (T == 0) continue;
    double sv = 0, sp = 0;
    for (size_t t = 0; t < T; ++t) {
      double R = 0, acc = 0;
      for (size_t i = t; i < T; ++i) {
        R += std::pow(gamma, i - t) * e.rewards[i];
        acc += std::pow(gamma, i - t) * (e.logp[i] - e.logp_ref[i]);
      }
      const double res = e.values[t] - R + beta * acc;
      sv += res * res;
      sp += res * res;  // same value; the gradients differ
    }
    lv += sv / T;
    lp += sp / T;
    ++n;
  }
  return {lv / n, lp / n};
}
}  // namespace

TEST_CASE("OREO value and policy losses on a padded batch with unequal lengths", "[oreo]") {
  torch::manual_seed(5);
  const int64_t B = 4, T = 6;
  const std::vector<int64_t> lens = {6, 3, 0, 1};  // includes a zero-length episode
  const torch::Tensor logp = torch::randn({B, T}) - 1;
  const torch::Tensor logp_ref = torch::randn({B, T}) - 1;
  const torch::Tensor values = torch::randn({B, T});
  const torch::Tensor rewards = torch::randn({B, T});
  torch::Tensor valid = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) valid[b].narrow(0, 0, lens[b]).fill_(true);
  // Garbage in the padding must not matter.
  const torch::Tensor pad = valid.logical_not();
  const torch::Tensor logp_p = logp.masked_fill(pad, 1e6), values_p = values.masked_fill(pad, -1e6);

  std::vector<Episode> eps(B);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < lens[b]; ++t) {
      eps[b].logp.push_back(d(logp[b][t]));
      eps[b].logp_ref.push_back(d(logp_ref[b][t]));
      eps[b].values.push_back(d(values[b][t]));
      eps[b].rewards.push_back(d(rewards[b][t]));
    }
  for (double gamma : {1.0, 0.9}) {
    const oreo::SoftBellmanOptions opt{.beta = 0.5, .gamma = gamma, .kl_mode = oreo::KlMode::none};
    const auto [lv_ref, lp_ref] = oreo_reference(eps, 0.5, gamma);
    const torch::Tensor lp = logp_p.clone().requires_grad_(true);
    const torch::Tensor v = values_p.clone().requires_grad_(true);
    oreo::SoftBellmanBatch b{lp, logp_ref, v, rewards, valid};
    oreo::SoftBellmanInfo info;
    const torch::Tensor lval = oreo::value_loss(b, opt, &info);
    CHECK(d(lval) == Approx(lv_ref).epsilon(1e-5));
    CHECK(info.episodes == 3);
    const torch::Tensor lpol = oreo::policy_loss(b, opt);
    CHECK(d(lpol) == Approx(lp_ref).epsilon(1e-5));
    lval.backward();
    lpol.backward();
    CHECK_FALSE(lp.grad().isnan().any().item<bool>());
    CHECK((lp.grad().masked_select(pad) == 0).all().item<bool>());
    CHECK((v.grad().masked_select(pad) == 0).all().item<bool>());
    // Policy gradient: only the current step's log-ratio: d/dl_t = 2 beta res_t / (T n).
    // Value gradient: d/dV_t = 2 res_t / (T n). So grad_l = beta * grad_V on valid steps.
    CHECK(close(lp.grad().masked_select(valid), 0.5 * v.grad().masked_select(valid), 1e-5, 1e-7));
  }
}

TEST_CASE("OREO value loss is zero on an exact soft-Bellman trajectory", "[oreo]") {
  torch::manual_seed(6);
  const int64_t T = 50;
  const double beta = 0.1;
  const torch::Tensor logp = torch::randn({1, T}, torch::kFloat64) - 1;
  const torch::Tensor logp_ref = torch::randn({1, T}, torch::kFloat64) - 1;
  const torch::Tensor rewards = torch::randn({1, T}, torch::kFloat64);
  const torch::Tensor valid = torch::ones({1, T}, torch::kBool);
  // V(s_t) = R_t - beta sum_{i>=t} log ratio_i, built by an explicit backward loop.
  torch::Tensor values = torch::zeros({1, T}, torch::kFloat64);
  double R = 0, acc = 0;
  for (int64_t t = T - 1; t >= 0; --t) {
    R += d(rewards[0][t]);
    acc += d(logp[0][t]) - d(logp_ref[0][t]);
    values[0][t] = R - beta * acc;
  }
  const oreo::SoftBellmanBatch b{logp, logp_ref, values, rewards, valid};
  const oreo::SoftBellmanOptions opt{.beta = beta, .kl_mode = oreo::KlMode::none};
  CHECK(d(oreo::value_loss(b, opt)) < 1e-24);
  CHECK(d(oreo::policy_loss(b, opt)) < 1e-24);
  // Perturbing one value breaks it.
  torch::Tensor v2 = values.clone();
  v2[0][10] += 0.1;
  CHECK(d(oreo::value_loss({logp, logp_ref, v2, rewards, valid}, opt)) == Approx(0.01 / T));
}

TEST_CASE("OREO truncation bootstrap, clipping and KL regularizers", "[oreo]") {
  const torch::Tensor z = torch::zeros({1, 3});
  const torch::Tensor valid = torch::ones({1, 3}, torch::kBool);
  oreo::SoftBellmanBatch b{z, z, z, torch::ones({1, 3}), valid};
  b.truncated = torch::tensor({true});
  b.bootstrap_value = torch::tensor({10.0f});
  // gamma 0.5: R_2 = 1 + 0.5*10, R_1 = 1 + 0.5 R_2, R_0 = 1 + 0.5 R_1
  const torch::Tensor R = oreo::returns_to_go(b, 0.5);
  CHECK(close(R, torch::tensor({{1 + 0.5 * (1 + 0.5 * 6.0), 1 + 0.5 * 6.0, 6.0}}, torch::kFloat64)));

  // clip_log caps the accumulated log-ratio: logp - ref = 1 per step, 3 steps, clip 2.
  oreo::SoftBellmanBatch c{torch::ones({1, 3}), z, z, z, valid};
  oreo::SoftBellmanInfo info;
  oreo::value_loss(c, {.beta = 1.0, .clip_log = 2.0, .kl_mode = oreo::KlMode::none}, &info);
  // accumulated: [3, 2, 1] -> clipped [2, 2, 1]; loss = (4 + 4 + 1) / 3
  CHECK(info.value_loss == Approx(3.0));

  // Exact KL regularizer against a plain float64 KL, and the k3 option.
  torch::manual_seed(8);
  const torch::Tensor logits = torch::randn({2, 3, 4}, torch::requires_grad());
  const torch::Tensor logits_ref = torch::randn({2, 3, 4});
  oreo::SoftBellmanBatch k{torch::zeros({2, 3}), torch::zeros({2, 3}), torch::zeros({2, 3}), torch::zeros({2, 3}),
                           torch::tensor({{true, true, false}, {true, false, false}})};
  k.logits = logits;
  k.logits_ref = logits_ref;
  const double coef = 0.5;
  const torch::Tensor loss = oreo::policy_loss(k, {.beta = 1.0, .kl_coef = coef, .kl_mode = oreo::KlMode::exact});
  double ref = 0;
  for (auto [bb, t] : {std::pair{0, 0}, {0, 1}, {1, 0}}) {
    const torch::Tensor p = torch::softmax(f64(logits[bb][t]), -1), q = torch::softmax(f64(logits_ref[bb][t]), -1);
    ref += d((p * (p.log() - q.log())).sum());
  }
  CHECK(d(loss) == Approx(coef * ref / 3).epsilon(1e-5));
  oreo::SoftBellmanBatch k3b{torch::tensor({{-1.0f, -2.0f}}), torch::tensor({{-1.5f, -1.0f}}), torch::zeros({1, 2}),
                             torch::zeros({1, 2}), torch::ones({1, 2}, torch::kBool)};
  oreo::SoftBellmanInfo k3info;
  oreo::policy_loss(k3b, {.beta = 0.0, .kl_coef = 1.0, .kl_mode = oreo::KlMode::k3}, &k3info);
  CHECK(k3info.kl == Approx(((std::exp(-0.5) + 0.5 - 1) + (std::exp(1.0) - 1 - 1)) / 2));
}

TEST_CASE("Gaussian log-density and KL (continuous OREO) against float64 loops", "[oreo]") {
  torch::manual_seed(4);
  const torch::Tensor mu_p = torch::randn({5, 3}) * 2, ls_p = torch::randn({5, 3}) * 0.7;
  const torch::Tensor mu_q = torch::randn({5, 3}) * 2, ls_q = torch::randn({5, 3}) * 0.7;
  const torch::Tensor u = torch::randn({5, 3}) * 3;
  const torch::Tensor kl = gaussian_kl(mu_p, ls_p, mu_q, ls_q), lp = gaussian_log_prob(u, mu_p, ls_p);
  for (int64_t i = 0; i < 5; ++i) {
    double ref_kl = 0, ref_lp = 0;
    for (int64_t j = 0; j < 3; ++j) {
      const double sp = std::exp(d(ls_p[i][j])), sq = std::exp(d(ls_q[i][j])), m = d(mu_p[i][j]) - d(mu_q[i][j]);
      ref_kl += std::log(sq / sp) + (sp * sp + m * m) / (2 * sq * sq) - 0.5;
      const double z = (d(u[i][j]) - d(mu_p[i][j])) / sp;
      ref_lp += -0.5 * z * z - std::log(sp) - 0.5 * std::log(2 * M_PI);
    }
    // float32 results: a few rounding steps of the terms summed (|terms| <= ~50).
    CHECK(d(kl[i]) == Approx(ref_kl).epsilon(1e-5).margin(1e-5));
    CHECK(d(lp[i]) == Approx(ref_lp).epsilon(1e-5));
  }
  // KL of identical distributions is 0; and the regulariser accepts it as kl_per_step.
  CHECK(d(gaussian_kl(mu_p, ls_p, mu_p, ls_p).abs().max()) == 0.0);
  oreo::SoftBellmanBatch b{torch::zeros({1, 2}), torch::zeros({1, 2}), torch::zeros({1, 2}), torch::zeros({1, 2}),
                           torch::tensor({{true, false}})};
  b.kl_per_step = torch::tensor({{0.25f, 100.0f}});
  oreo::SoftBellmanInfo info;
  oreo::policy_loss(b, {.beta = 1.0, .kl_coef = 2.0, .kl_mode = oreo::KlMode::exact}, &info);
  CHECK(info.kl == 0.25);
  CHECK(info.policy_loss == 0.5);
}
