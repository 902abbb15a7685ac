#include "objectives/preference.h"

#include <limits>

#include "objectives/primitives.h"
#include "objectives/softmax.h"

namespace softrl::preference {
namespace {
double mean_of(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).mean().item<double>(); }

void fill_info(PreferenceInfo* info, const torch::Tensor& rc, const torch::Tensor& rr) {
  if (!info) return;
  info->reward_chosen = mean_of(rc);
  info->reward_rejected = mean_of(rr);
  info->margin = mean_of(rc - rr);
  info->accuracy = mean_of((rc > rr).to(torch::kFloat64));
}
}  // namespace

torch::Tensor dpo_loss(const torch::Tensor& chosen, const torch::Tensor& rejected, const torch::Tensor& chosen_ref,
                       const torch::Tensor& rejected_ref, const DpoOptions& opt, PreferenceInfo* info) {
  TORCH_CHECK(opt.beta > 0, "softrl::dpo_loss: beta must be > 0, got ", opt.beta);
  TORCH_CHECK(opt.label_noise >= 0 && opt.label_noise < 0.5, "softrl::dpo_loss: label_noise must be in [0, 0.5), got ",
              opt.label_noise);
  const torch::Tensor dc = chosen - chosen_ref.detach();
  const torch::Tensor dr = rejected - rejected_ref.detach();
  const torch::Tensor h = dc - dr;
  const double eps = opt.label_noise;
  torch::Tensor per;
  switch (opt.variant) {
    case DpoVariant::sigmoid: per = -softrl::log_sigmoid(opt.beta * h); break;
    case DpoVariant::conservative:
      per = -(1 - eps) * softrl::log_sigmoid(opt.beta * h) - eps * softrl::log_sigmoid(-opt.beta * h);
      break;
    case DpoVariant::robust:
      per = (-(1 - eps) * softrl::log_sigmoid(opt.beta * h) + eps * softrl::log_sigmoid(-opt.beta * h)) / (1 - 2 * eps);
      break;
    case DpoVariant::ipo: per = (h - 1.0 / (2.0 * opt.beta)).pow(2); break;
  }
  fill_info(info, opt.beta * dc, opt.beta * dr);
  return per.mean();
}

torch::Tensor adpo_pairwise_loss(const torch::Tensor& l_i, const torch::Tensor& l_j, const torch::Tensor& l_i_ref,
                                 const torch::Tensor& l_j_ref, const torch::Tensor& q, double tau_anchor,
                                 PreferenceInfo* info) {
  TORCH_CHECK(tau_anchor > 0, "softrl::adpo_pairwise_loss: tau_anchor must be > 0, got ", tau_anchor);
  const torch::Tensor di = l_i - l_i_ref.detach();
  const torch::Tensor dj = l_j - l_j_ref.detach();
  const torch::Tensor d = (di - dj) / tau_anchor;
  const torch::Tensor qd = q.detach().to(d.scalar_type());
  fill_info(info, di / tau_anchor, dj / tau_anchor);
  return (-qd * softrl::log_sigmoid(d) - (1 - qd) * softrl::log_sigmoid(-d)).mean();
}

torch::Tensor adpo_listwise_loss(const torch::Tensor& l, const torch::Tensor& l_ref, const torch::Tensor& q,
                                 double tau_anchor, const torch::Tensor& mask, ListwiseInfo* info) {
  TORCH_CHECK(tau_anchor > 0, "softrl::adpo_listwise_loss: tau_anchor must be > 0, got ", tau_anchor);
  TORCH_CHECK(l.sizes() == l_ref.sizes() && l.sizes() == q.sizes(),
              "softrl::adpo_listwise_loss: l, l_ref and q must share a [G, P] shape");
  const torch::Tensor u = l - l_ref.detach();
  const SoftmaxOptions opt{.mask = mask, .temperature = tau_anchor};
  const torch::Tensor ce = soft_cross_entropy(u, q, opt);
  if (info) {
    torch::NoGradGuard ng;
    const torch::Tensor p = softmax(u, opt);
    const torch::Tensor best = q.argmax(-1, true);
    const torch::Tensor qh = q.detach().to(u.scalar_type());
    const torch::Tensor q_ent = -(qh * qh.masked_fill(qh == 0, 1.0).log()).sum(-1);
    info->anchored_entropy = mean_of(entropy(u, opt));
    info->win_mass = mean_of(p.gather(-1, best));
    info->kl_to_target = mean_of(ce - q_ent);
  }
  return ce.mean();
}

torch::Tensor adpo_targets(const torch::Tensor& rewards, double beta_r, TargetMode mode, const torch::Tensor& mask) {
  torch::NoGradGuard ng;
  TORCH_CHECK(beta_r > 0, "softrl::adpo_targets: beta_r must be > 0, got ", beta_r);
  const torch::Tensor inc = mask.defined() ? mask : torch::ones_like(rewards, torch::kBool);
  if (mode == TargetMode::hard) {
    const torch::Tensor r = rewards.masked_fill(inc.logical_not(), -std::numeric_limits<double>::infinity());
    return torch::zeros_like(rewards).scatter_(-1, r.argmax(-1, true), 1.0);
  }
  const GroupStats st =
      group_normalize(rewards, {.mask = inc, .eps = 1e-6, .scale_by_std = mode == TargetMode::soft_zscore});
  return softmax(st.advantages, {.mask = inc, .temperature = beta_r});
}

torch::Tensor plackett_luce_loss(const torch::Tensor& l, const torch::Tensor& l_ref, const torch::Tensor& rewards,
                                 double beta, const torch::Tensor& mask) {
  TORCH_CHECK(beta > 0, "softrl::plackett_luce_loss: beta must be > 0, got ", beta);
  const torch::Tensor inc = mask.defined() ? mask : torch::ones_like(l, torch::kBool);
  // Order by decreasing reward, excluded candidates last.
  const torch::Tensor key =
      rewards.detach().to(torch::kFloat64).masked_fill(inc.logical_not(), -std::numeric_limits<double>::infinity());
  const torch::Tensor order = std::get<1>(key.sort(-1, /*descending=*/true));
  const torch::Tensor s = (beta * (l - l_ref.detach())).gather(-1, order);
  const torch::Tensor inc_sorted = inc.gather(-1, order);
  const torch::Tensor suffix = reverse_cumulative_logsumexp(s, {.mask = inc_sorted});
  const torch::Tensor w = inc_sorted.to(s.scalar_type());
  const torch::Tensor terms = (s - suffix.masked_fill(inc_sorted.logical_not(), 0.0)) * w;
  return -terms.sum(-1).mean();
}

}  // namespace softrl::preference
