// Objectives of every method against independent float64 computations written plainly here
// (loops and scalar formulas, not the library's code paths), plus the identities of each method.
// Float32 inputs; tolerances 1e-5 relative + 1e-6 absolute unless stated (a few float32 ops).
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "objectives/grpo.h"
#include "objectives/preference.h"
#include "objectives/sac.h"
#include "objectives/soft_bellman.h"

using namespace softrl;

namespace {
torch::Tensor f64(const torch::Tensor& t) { return t.detach().to(torch::kFloat64); }
double d(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).item<double>(); }
bool close(const torch::Tensor& a, const torch::Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  return torch::allclose(f64(a), f64(b), rtol, atol);
}
double logsig(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }
double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

// ---------------------------------------------------------------- SAC
TEST_CASE("SAC continuous losses match hand-computed values", "[sac]") {
  const torch::Tensor r = torch::tensor({1.0f, -0.5f, 2.0f});
  const torch::Tensor term = torch::tensor({0.0f, 1.0f, 0.0f});
  const torch::Tensor next_q = torch::tensor({{3.0f, 1.0f, -2.0f}, {2.5f, 4.0f, -1.0f}});
  const torch::Tensor next_logp = torch::tensor({-1.0f, 0.5f, 2.0f});
  const double alpha = 0.2, gamma = 0.99;
  const torch::Tensor y = sac::continuous_critic_target(r, term, next_q, next_logp, alpha, gamma);
  // y0 = 1 + .99 (2.5 + .2), y1 = -0.5 (terminal), y2 = 2 + .99 (-2 - .4)
  CHECK(close(y, torch::tensor({1.0 + 0.99 * 2.7, -0.5, 2.0 + 0.99 * -2.4}, torch::kFloat64)));

  const torch::Tensor q = torch::tensor({{1.0f, 2.0f, 3.0f}, {0.0f, 2.0f, 5.0f}}, torch::requires_grad());
  const torch::Tensor target = torch::tensor({1.5f, 2.0f, 4.0f});
  const torch::Tensor lq = sac::critic_loss(q, target);
  CHECK(d(lq) == Approx((0.25 + 0 + 1) / 3.0 + (2.25 + 0 + 1) / 3.0));
  lq.backward();
  CHECK(close(q.grad(), torch::tensor({{-1.0, 0.0, -2.0}, {-3.0, 0.0, 2.0}}, torch::kFloat64) / 3.0));

  const torch::Tensor logp = torch::tensor({-1.0f, 0.5f}, torch::requires_grad());
  const torch::Tensor qa = torch::tensor({{1.0f, 3.0f}, {2.0f, -1.0f}}, torch::requires_grad());
  const torch::Tensor la = sac::continuous_actor_loss(logp, qa, 0.5);
  CHECK(d(la) == Approx(((-0.5 - 1.0) + (0.25 + 1.0)) / 2.0));
  la.backward();
  CHECK(close(logp.grad(), torch::tensor({0.25, 0.25}, torch::kFloat64)));
  CHECK(close(qa.grad(), torch::tensor({{-0.5, 0.0}, {0.0, -0.5}}, torch::kFloat64)));  // through min Q

  // The written-out gradients: the same as autograd's through the losses, on random inputs with
  // ties in the twins. Both compute 2 (q - y) / B and +-1/B (or 1/(2B) on a tie) in float64, each
  // entry in one or two roundings: equal within 2 rounding steps of the gradient itself.
  {
    torch::manual_seed(3);
    const torch::Tensor qr = torch::randn({2, 37}, torch::kFloat64);
    qr[1].narrow(0, 0, 5).copy_(qr[0].narrow(0, 0, 5));  // five ties
    const torch::Tensor yr = torch::randn({37}, torch::kFloat64), lr = torch::randn({37}, torch::kFloat64);
    const torch::Tensor qg = qr.clone().requires_grad_(), lg = lr.clone().requires_grad_();
    sac::critic_loss(qg, yr).backward();
    const torch::Tensor want_dq = qg.grad().clone();
    qg.mutable_grad().zero_();
    sac::continuous_actor_loss(lg, qg, 0.7).backward();
    const auto within = [](const torch::Tensor& got, const torch::Tensor& want) {
      return ((got - want).abs() <= 2 * std::numeric_limits<double>::epsilon() * want.abs()).all().item<bool>();
    };
    CHECK(within(sac::critic_loss_gradient(qr, yr), want_dq));
    const sac::ActorLossGradient g = sac::continuous_actor_loss_gradient(lr, qr, 0.7);
    CHECK(within(g.d_logp, lg.grad()));
    CHECK(within(g.d_q, qg.grad()));
    CHECK(g.d_q[0].narrow(0, 0, 5).eq(-0.5 / 37).all().item<bool>());  // the ties split in half
  }

  const torch::Tensor log_alpha = torch::tensor(std::log(0.3f), torch::requires_grad());
  const double h_target = sac::continuous_target_entropy(2);
  CHECK(h_target == -2.0);
  const torch::Tensor lt = sac::continuous_temperature_loss(log_alpha, torch::tensor({1.0f, -0.5f}), h_target);
  CHECK(d(lt) == Approx(-0.3 * ((1.0 - 2.0) + (-0.5 - 2.0)) / 2.0));
  lt.backward();
  // Entropy (-log pi = -0.25) is above the target -2: the gradient step lowers alpha.
  CHECK(d(log_alpha.grad()) > 0);
}

TEST_CASE("SAC discrete losses use exact expectations", "[sac]") {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({5, 4}) * 2;
  const torch::Tensor nq = torch::randn({2, 5, 4});
  const torch::Tensor r = torch::randn({5});
  const torch::Tensor term = torch::tensor({0.0f, 0.0f, 1.0f, 0.0f, 0.0f});
  const double alpha = 0.3, gamma = 0.9;
  // Both ways of combining the twin critics (clipped double Q; Zhou et al. 2022's average).
  for (const sac::TwinReduce mode : {sac::TwinReduce::min, sac::TwinReduce::mean}) {
    const bool use_min = mode == sac::TwinReduce::min;
    INFO((use_min ? "min" : "mean"));
    const auto twin = [&](int b, int a) {
      const double q0 = d(nq[0][b][a]), q1 = d(nq[1][b][a]);
      return use_min ? std::min(q0, q1) : 0.5 * (q0 + q1);
    };
    const torch::Tensor y = sac::discrete_critic_target(r, term, nq, logits, alpha, gamma, mode);
    const torch::Tensor y_loss_ref = [&] {
      torch::Tensor out = torch::zeros({5}, torch::kFloat64);
      for (int b = 0; b < 5; ++b) {
        double z = 0;
        for (int a = 0; a < 4; ++a) z += std::exp(d(logits[b][a]));
        double v = 0;
        for (int a = 0; a < 4; ++a) {
          const double p = std::exp(d(logits[b][a])) / z;
          v += p * (twin(b, a) - alpha * std::log(p));
        }
        out[b] = d(r[b]) + gamma * (1 - d(term[b])) * v;
      }
      return out;
    }();
    CHECK(close(y, y_loss_ref));

    const torch::Tensor lg = logits.clone().requires_grad_(true);
    const torch::Tensor la = sac::discrete_actor_loss(lg, nq, alpha, nullptr, mode);
    double ref = 0;
    for (int b = 0; b < 5; ++b) {
      double z = 0;
      for (int a = 0; a < 4; ++a) z += std::exp(d(logits[b][a]));
      for (int a = 0; a < 4; ++a) {
        const double p = std::exp(d(logits[b][a])) / z;
        ref += p * (alpha * std::log(p) - twin(b, a));
      }
    }
    CHECK(d(la) == Approx(ref / 5).epsilon(1e-5));
    // Gradient against float64 autograd of the plain formula.
    const torch::Tensor l64 = f64(logits).requires_grad_(true);
    const torch::Tensor p64 = torch::softmax(l64, -1);
    const torch::Tensor mq = use_min ? torch::min(f64(nq[0]), f64(nq[1])) : 0.5 * (f64(nq[0]) + f64(nq[1]));
    ((p64 * (alpha * p64.log() - mq)).sum(-1).mean()).backward();
    la.backward();
    CHECK(close(lg.grad(), l64.grad(), 1e-4, 1e-6));
  }

  const torch::Tensor p64 = torch::softmax(f64(logits), -1);
  const double h_target = sac::discrete_target_entropy(4);
  CHECK(h_target == Approx(0.89 * std::log(4.0)));
  const torch::Tensor log_alpha = torch::zeros({}, torch::requires_grad());
  const torch::Tensor lt = sac::discrete_temperature_loss(log_alpha, logits, h_target);
  const double h_mean = d((-(p64 * p64.log()).sum(-1)).mean());
  CHECK(d(lt) == Approx(-(h_target - h_mean)).epsilon(1e-5));
}

// ---------------------------------------------------------------- OREO
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

// ---------------------------------------------------------------- GRPO / SofT-GRPO
TEST_CASE("GRPO surrogate: clipping, dual clip, KL and aggregation", "[grpo]") {
  torch::manual_seed(13);
  const int64_t N = 6, T = 5;
  const torch::Tensor logp_old = torch::randn({N, T}) - 1;
  const torch::Tensor logp = logp_old + torch::randn({N, T}) * 0.5;
  const torch::Tensor logp_ref = logp_old + torch::randn({N, T}) * 0.3;
  const torch::Tensor adv = torch::randn({N}) * 2;
  torch::Tensor valid = torch::ones({N, T}, torch::kBool);
  valid[1].narrow(0, 2, 3).fill_(false);
  valid[4].fill_(false);  // an empty sequence
  const grpo::SurrogateOptions opt{.clip_low = 0.2,
                                   .clip_high = 0.28,
                                   .dual_clip = 3.0,
                                   .kl_coef = 0.04,
                                   .aggregation = grpo::Aggregation::token_mean};
  const torch::Tensor lp = logp.clone().requires_grad_(true);
  grpo::SurrogateInfo info;
  const torch::Tensor loss = grpo::surrogate_loss(lp, logp_old, adv, valid, opt, logp_ref, &info);
  double ref = 0, n = 0, clipped = 0;
  for (int i = 0; i < N; ++i)
    for (int t = 0; t < T; ++t) {
      if (!valid[i][t].item<bool>()) continue;
      const double a = d(adv[i]), rho = std::exp(d(logp[i][t]) - d(logp_old[i][t]));
      const double u = -a * rho, c = -a * std::clamp(rho, 0.8, 1.28);
      double per = std::max(u, c);
      if (a < 0) per = std::min(per, -a * 3.0);
      const double dd = d(logp_ref[i][t]) - d(logp[i][t]);
      per += 0.04 * (std::exp(dd) - dd - 1);
      ref += per;
      clipped += c > u;
      n += 1;
    }
  CHECK(d(loss) == Approx(ref / n).epsilon(1e-5));
  CHECK(info.clip_fraction == Approx(clipped / n));
  loss.backward();
  CHECK((lp.grad().masked_select(valid.logical_not()) == 0).all().item<bool>());

  // sequence_mean and fixed_length aggregations.
  const torch::Tensor per = torch::arange(N * T, torch::kFloat32).reshape({N, T});
  const grpo::SurrogateOptions plain{.clip_low = 1e9, .clip_high = 1e9};
  // With logp == logp_old and A = -1 the per-step loss is exactly 1.
  const torch::Tensor ones_loss =
      grpo::surrogate_loss(per, per, -torch::ones({N}), valid,
                           {.clip_low = 0.2, .clip_high = 0.2, .aggregation = grpo::Aggregation::fixed_length});
  CHECK(d(ones_loss) == Approx(valid.sum().item<double>() / (N * T)));
  const torch::Tensor seq =
      grpo::surrogate_loss(per, per, -torch::ones({N}), valid, {.aggregation = grpo::Aggregation::sequence_mean});
  CHECK(d(seq) == Approx(1.0));
}

TEST_CASE("GRPO with one inner step gives the gradient A * grad log pi", "[grpo]") {
  torch::manual_seed(14);
  const torch::Tensor logits = torch::randn({4, 3, 5}).requires_grad_(true);
  const torch::Tensor actions = torch::randint(0, 5, {4, 3}, torch::kLong);
  const torch::Tensor adv = torch::randn({4});
  const torch::Tensor valid = torch::ones({4, 3}, torch::kBool);
  const torch::Tensor logp = selective_log_softmax(logits, actions);
  const torch::Tensor loss = grpo::surrogate_loss(logp, logp.detach(), adv, valid);
  const torch::Tensor g = torch::autograd::grad({loss}, {logits})[0];
  // Expected: -(1/12) sum_i,t A_i grad log pi(a_it): through float64 autograd of a plain formula.
  const torch::Tensor l64 = f64(logits).requires_grad_(true);
  const torch::Tensor lp64 = torch::log_softmax(l64, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1);
  (-(f64(adv).unsqueeze(-1) * lp64).sum() / 12).backward();
  CHECK(close(g, l64.grad(), 1e-5, 1e-7));
}

TEST_CASE("SofT-GRPO soft-action log-density and its per-entry gradient", "[grpo]") {
  torch::manual_seed(15);
  const int64_t B = 8, A = 6, K = 4;
  const torch::Tensor logits = (torch::randn({B, A}) * 2).requires_grad_(true);
  const torch::Tensor ids = std::get<1>(logits.detach().topk(K, -1));
  // Stored g' = log p_hat_old + noise, noise partly outside the clamp range.
  const torch::Tensor log_p_hat_old = torch::log_softmax(logits.detach().gather(-1, ids), -1);
  const torch::Tensor noise = torch::randn({B, K}) * 2;
  const torch::Tensor gp = log_p_hat_old + noise;
  const grpo::SoftDensityOptions opt{.prob_eps = 0.0, .min_log_prob = std::nullopt, .mean_over_entries = false};
  const torch::Tensor dens = grpo::soft_action_log_density(logits, ids, gp, opt);
  // Plain float64 reference.
  double total = 0;
  torch::Tensor slope = torch::zeros({B, K}, torch::kFloat64);
  for (int b = 0; b < B; ++b) {
    double z = 0;
    for (int k = 0; k < K; ++k) z += std::exp(d(logits[b][ids[b][k].item<int64_t>()]));
    for (int k = 0; k < K; ++k) {
      const double lp = d(logits[b][ids[b][k].item<int64_t>()]) - std::log(z);
      const double raw = d(gp[b][k]) - lp;
      const double e = std::clamp(raw, -1.5, 3.0);
      total += -e - std::exp(-e);
      slope[b][k] = (raw > -1.5 && raw < 3.0) ? 1 - std::exp(-e) : 0.0;
    }
  }
  CHECK(d(dens.sum()) == Approx(total).epsilon(1e-5));
  // d density / d log p_hat_k = 1 - exp(-eps_hat_k), zero where the clamp is active: check it by
  // differentiating with respect to the log-probabilities directly.
  const torch::Tensor via_logits = torch::autograd::grad({dens.sum()}, {logits})[0];
  // Chain rule: d/dz = sum_k slope_k * d log p_hat_k / dz, with d log p_hat_k / dz_j = [j = id_k] - p_hat_j.
  torch::Tensor want = torch::zeros({B, A}, torch::kFloat64);
  for (int b = 0; b < B; ++b) {
    const torch::Tensor ph = log_p_hat_old[b].exp().to(torch::kFloat64);
    const double ssum = d(slope[b].sum());
    for (int k = 0; k < K; ++k) {
      const int64_t j = ids[b][k].item<int64_t>();
      want[b][j] = d(slope[b][k]) - d(ph[k]) * ssum;
    }
  }
  CHECK(close(via_logits, want, 1e-4, 1e-6));
  CHECK((slope == 0).any().item<bool>());  // the clamp was active somewhere in this sample

  // Defaults: mean over kept entries with log p_hat > -3, finite.
  const torch::Tensor dm = grpo::soft_action_log_density(logits, ids, gp);
  CHECK_FALSE(dm.isnan().any().item<bool>());
}

TEST_CASE("group advantages: all-equal rewards and a group of one", "[grpo]") {
  const GroupStats st = grpo::group_advantages(torch::tensor({{2.0f, 2.0f, 2.0f}, {1.0f, 5.0f, 3.0f}}),
                                               {.mask = torch::tensor({{true, true, true}, {true, false, false}})});
  CHECK((st.advantages == 0).all().item<bool>());
  const torch::Tensor loss = grpo::surrogate_loss(torch::zeros({2, 3}, torch::requires_grad()), torch::zeros({2, 3}),
                                                  st.advantages, torch::ones({2, 3}, torch::kBool));
  CHECK(d(loss) == 0.0);
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
