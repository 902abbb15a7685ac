// GRPO's and SofT-GRPO's objectives against independent float64 computations written plainly here (loops and scalar
// formulas, not the library's code paths), plus the method's identities.
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "objectives/grpo.h"
#include "tests/objectives_reference.h"

using namespace softrl;
using namespace softrl::test;

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

TEST_CASE("SofT-GRPO categorical score: log softmax(z_ids / T) at argmax g', and its gradient", "[grpo]") {
  torch::manual_seed(16);
  const int64_t B = 8, A = 6, K = 4;
  const double T = 0.6;
  const torch::Tensor logits = (torch::randn({B, A}) * 2).requires_grad_(true);
  const torch::Tensor ids = std::get<1>(logits.detach().topk(K, -1));
  const torch::Tensor gp = torch::randn({B, K}) * 3;
  grpo::SoftDensityOptions opt;
  opt.temperature = T;
  opt.categorical = true;
  const torch::Tensor score = grpo::soft_action_log_density(logits, ids, gp, opt);
  // Plain float64: the executed entry k* = argmax g', log p_hat_k* and d/dz_j = ([j = id_k*] - p_hat_j) / T.
  torch::Tensor want_grad = torch::zeros({B, A}, torch::kFloat64);
  for (int b = 0; b < B; ++b) {
    int64_t best = 0;
    for (int k = 1; k < K; ++k)
      if (d(gp[b][k]) > d(gp[b][best])) best = k;
    double z = 0;
    for (int k = 0; k < K; ++k) z += std::exp(d(logits[b][ids[b][k].item<int64_t>()]) / T);
    const double want = d(logits[b][ids[b][best].item<int64_t>()]) / T - std::log(z);
    CHECK(d(score[b]) == Approx(want).epsilon(1e-6));
    for (int k = 0; k < K; ++k) {
      const int64_t j = ids[b][k].item<int64_t>();
      want_grad[b][j] = ((k == best ? 1.0 : 0.0) - std::exp(d(logits[b][j]) / T) / z) / T;
    }
  }
  const torch::Tensor grad = torch::autograd::grad({score.sum()}, {logits})[0];
  CHECK(close(grad, want_grad, 1e-5, 1e-7));
}

TEST_CASE("group advantages: all-equal rewards and a group of one", "[grpo]") {
  const GroupStats st = grpo::group_advantages(torch::tensor({{2.0f, 2.0f, 2.0f}, {1.0f, 5.0f, 3.0f}}),
                                               {.mask = torch::tensor({{true, true, true}, {true, false, false}})});
  CHECK((st.advantages == 0).all().item<bool>());
  const torch::Tensor loss = grpo::surrogate_loss(torch::zeros({2, 3}, torch::requires_grad()), torch::zeros({2, 3}),
                                                  st.advantages, torch::ones({2, 3}, torch::kBool));
  CHECK(d(loss) == 0.0);
}
