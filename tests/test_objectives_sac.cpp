// SAC's losses against independent float64 computations written plainly here (loops and scalar
// formulas, not the library's code paths), plus the method's identities.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "objectives/sac.h"
#include "tests/objectives_reference.h"

using namespace softrl;
using namespace softrl::test;

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
