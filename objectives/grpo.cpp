#include "objectives/grpo.h"

#include <cmath>

#include "objectives/gumbel.h"
#include "objectives/primitives.h"
#include "objectives/softmax.h"

namespace softrl::grpo {
namespace {
double item(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).item<double>(); }

torch::Tensor aggregate(const torch::Tensor& per_step, const torch::Tensor& valid, Aggregation mode) {
  const torch::Tensor w = valid.to(per_step.scalar_type());
  const torch::Tensor total = (per_step * w).sum();
  switch (mode) {
    case Aggregation::token_mean: return total / w.sum().clamp_min(1.0);
    case Aggregation::sequence_mean: {
      const torch::Tensor len = w.sum(-1);
      const torch::Tensor has = (len > 0).to(per_step.scalar_type());
      return ((per_step * w).sum(-1) / len.clamp_min(1.0) * has).sum() / has.sum().clamp_min(1.0);
    }
    case Aggregation::fixed_length: return total / static_cast<double>(std::max<int64_t>(1, per_step.numel()));
  }
  return total;
}
}  // namespace

double aggregation_count(const torch::Tensor& valid, Aggregation mode) {
  switch (mode) {
    case Aggregation::token_mean: return item(valid.sum());
    case Aggregation::sequence_mean: return item((valid.sum(-1) > 0).sum());
    case Aggregation::fixed_length: return static_cast<double>(valid.numel());
  }
  return 0;
}

torch::Tensor surrogate_loss(const torch::Tensor& logp, const torch::Tensor& logp_old, const torch::Tensor& advantages,
                             const torch::Tensor& valid, const SurrogateOptions& opt, const torch::Tensor& logp_ref,
                             SurrogateInfo* info) {
  TORCH_CHECK(valid.scalar_type() == torch::kBool && valid.sizes() == logp.sizes(),
              "softrl::grpo::surrogate_loss: valid must be a bool mask shaped like logp ", logp.sizes());
  TORCH_CHECK(opt.clip_low >= 0 && opt.clip_high >= 0, "softrl::grpo: clip ranges must be >= 0");
  TORCH_CHECK(!opt.dual_clip || *opt.dual_clip > 1.0, "softrl::grpo: dual_clip must be > 1");
  const torch::Tensor adv = (advantages.dim() == logp.dim() ? advantages : advantages.unsqueeze(-1)).detach();
  const torch::Tensor log_ratio = logp - logp_old.detach();
  const torch::Tensor ratio = log_ratio.exp();
  const torch::Tensor unclipped = -adv * ratio;
  const torch::Tensor clipped = -adv * ratio.clamp(1.0 - opt.clip_low, 1.0 + opt.clip_high);
  torch::Tensor per = torch::max(unclipped, clipped);
  if (opt.dual_clip) per = torch::where(adv < 0, torch::min(per, -adv * *opt.dual_clip), per);
  torch::Tensor kl_steps;
  if (opt.kl_coef != 0.0 || (info && logp_ref.defined())) {
    TORCH_CHECK(logp_ref.defined(), "softrl::grpo::surrogate_loss: kl_coef > 0 needs logp_ref");
    kl_steps = k3_kl(logp, logp_ref.detach());
    if (opt.kl_clamp) kl_steps = kl_steps.clamp(-*opt.kl_clamp, *opt.kl_clamp);
    if (opt.kl_coef != 0.0) per = per + opt.kl_coef * kl_steps;
  }
  const torch::Tensor loss = aggregate(per, valid, opt.aggregation);
  if (info) {
    torch::NoGradGuard ng;
    const torch::Tensor w = valid.to(torch::kFloat64);
    const double n = std::max(1.0, item(w.sum()));
    info->clip_fraction = item(((clipped > unclipped).to(torch::kFloat64) * w).sum()) / n;
    info->ratio_mean = item((ratio.to(torch::kFloat64) * w).sum()) / n;
    info->approx_kl_old = item((k3_kl(logp_old, logp).to(torch::kFloat64) * w).sum()) / n;
    info->kl = kl_steps.defined() ? item((kl_steps.to(torch::kFloat64) * w).sum()) / n : 0.0;
  }
  return loss;
}

torch::Tensor soft_action_log_density(const torch::Tensor& logits, const torch::Tensor& ids,
                                      const torch::Tensor& perturbed, const SoftDensityOptions& opt) {
  TORCH_CHECK(ids.scalar_type() == torch::kLong && ids.sizes() == perturbed.sizes(),
              "softrl::grpo::soft_action_log_density: ids (int64) and perturbed logits must have the same shape");
  TORCH_CHECK(opt.noise_min < opt.noise_max, "softrl::grpo: noise_min must be < noise_max");
  if (opt.categorical)
    return selective_log_softmax(logits.gather(-1, ids), perturbed.detach().argmax(-1), {.temperature = opt.temperature});
  // p_hat = p renormalized over the stored ids = softmax of the gathered logits.
  const torch::Tensor log_p_hat = log_softmax(logits.gather(-1, ids), {.temperature = opt.temperature});
  torch::Tensor log_p = log_p_hat;
  if (opt.prob_eps > 0) {
    // log(p_hat + eps) = LSE(log p_hat, log eps), through the core.
    const torch::Tensor log_eps = torch::full_like(log_p_hat, std::log(opt.prob_eps));
    log_p = logsumexp(torch::stack({log_p_hat, log_eps}, -1));
  }
  const torch::Tensor eps_hat = (perturbed.detach() - log_p).clamp(opt.noise_min, opt.noise_max);
  // The Gumbel(log p_hat, 1) log-density of g', written at the clamped noise.
  const torch::Tensor dens = gumbel_log_density(eps_hat, torch::zeros_like(eps_hat));
  const torch::Tensor keep =
      opt.min_log_prob ? (log_p > *opt.min_log_prob).detach() : torch::ones_like(log_p, torch::kBool);
  const torch::Tensor w = keep.to(dens.scalar_type());
  const torch::Tensor total = (dens * w).sum(-1);
  return opt.mean_over_entries ? total / w.sum(-1).clamp_min(1.0) : total;
}

}  // namespace softrl::grpo
