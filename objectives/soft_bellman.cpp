#include "objectives/soft_bellman.h"

#include "objectives/primitives.h"

namespace softrl::oreo {
namespace {

torch::Tensor as_weight(const torch::Tensor& valid, const torch::Tensor& like) { return valid.to(like.scalar_type()); }

void check_batch(const SoftBellmanBatch& b) {
  TORCH_CHECK(b.valid.defined() && b.valid.scalar_type() == torch::kBool && b.valid.dim() == 2,
              "softrl::oreo: `valid` must be a [B, T] bool mask");
  for (const torch::Tensor* t : {&b.logp, &b.logp_ref, &b.values, &b.rewards})
    TORCH_CHECK(t->defined() && t->sizes() == b.valid.sizes(),
                "softrl::oreo: per-step tensors must be [B, T] = ", b.valid.sizes(), ", got ",
                t->defined() ? t->sizes() : at::IntArrayRef{});
}

// Mean over each episode's valid steps, then over episodes that have at least one step.
torch::Tensor episode_mean(const torch::Tensor& per_step, const torch::Tensor& valid, int64_t* episodes) {
  const torch::Tensor w = as_weight(valid, per_step);
  const torch::Tensor len = w.sum(-1);
  const torch::Tensor has = len > 0;
  const torch::Tensor per_episode = (per_step * w).sum(-1) / len.clamp_min(1.0);
  const torch::Tensor n = has.sum();
  if (episodes) *episodes = n.item<int64_t>();
  return (per_episode * has.to(per_step.scalar_type())).sum() / n.clamp_min(1).to(per_step.scalar_type());
}

torch::Tensor maybe_clip(const torch::Tensor& x, const SoftBellmanOptions& opt) {
  return opt.clip_log ? x.clamp(-*opt.clip_log, *opt.clip_log) : x;
}

double item(const torch::Tensor& t) { return t.detach().to(torch::kFloat64).item<double>(); }

}  // namespace

torch::Tensor reverse_discounted_cumsum(const torch::Tensor& x, const torch::Tensor& valid, double gamma) {
  const int64_t T = x.size(-1);
  const torch::Tensor xm = x * as_weight(valid, x);
  if (gamma == 1.0) return xm.flip(-1).cumsum(-1).flip(-1);
  // W[t, i] = gamma^(i - t) for i >= t: one matmul, exact for any gamma (no division by gamma^t).
  const torch::Tensor idx = torch::arange(T, x.options().dtype(torch::kFloat64));
  const torch::Tensor lag = idx.unsqueeze(0) - idx.unsqueeze(1);
  const torch::Tensor w = torch::where(lag >= 0, torch::pow(gamma, lag.clamp_min(0)), torch::zeros_like(lag));
  return torch::matmul(xm, w.t().to(x.scalar_type()));
}

torch::Tensor returns_to_go(const SoftBellmanBatch& b, double gamma) {
  torch::Tensor r = reverse_discounted_cumsum(b.rewards.detach(), b.valid, gamma);
  if (b.truncated.defined() && b.bootstrap_value.defined()) {
    // gamma^(len - t) * V(s_len) for truncated episodes, on valid steps.
    const torch::Tensor w = as_weight(b.valid, r);
    const torch::Tensor len = w.sum(-1, true);
    const torch::Tensor t = torch::arange(r.size(-1), r.options()).unsqueeze(0);
    const torch::Tensor boot =
        (b.bootstrap_value.detach().to(r.scalar_type()) * b.truncated.to(r.scalar_type())).unsqueeze(-1);
    r = r + torch::pow(gamma, (len - t).clamp_min(0)) * boot * w;
  }
  return r;
}

torch::Tensor value_loss(const SoftBellmanBatch& b, const SoftBellmanOptions& opt, SoftBellmanInfo* info) {
  check_batch(b);
  const torch::Tensor ratio = (b.logp - b.logp_ref).detach();
  const torch::Tensor acc = maybe_clip(reverse_discounted_cumsum(ratio, b.valid, opt.gamma), opt);
  const torch::Tensor residual = b.values - returns_to_go(b, opt.gamma) + opt.beta * acc;
  int64_t episodes = 0;
  const torch::Tensor loss = episode_mean(residual.pow(2), b.valid, &episodes);
  if (info) {
    info->value_loss = item(loss);
    info->mean_abs_residual = item(episode_mean(residual.abs(), b.valid, nullptr));
    info->mean_accumulated_log_ratio = item(episode_mean(acc, b.valid, nullptr));
    info->episodes = episodes;
  }
  return loss;
}

torch::Tensor policy_loss(const SoftBellmanBatch& b, const SoftBellmanOptions& opt, SoftBellmanInfo* info) {
  check_batch(b);
  const torch::Tensor ratio = b.logp - b.logp_ref.detach();
  // ratio_t + sg[sum_{i>t}]: the value of the accumulated log-ratio, with gradient only
  // through the current step; clipping (if any) applies to the whole accumulation.
  const torch::Tensor acc_all = reverse_discounted_cumsum(ratio.detach(), b.valid, opt.gamma);
  const torch::Tensor acc = maybe_clip(ratio + (acc_all - ratio.detach()), opt);
  const torch::Tensor residual = b.values.detach() - returns_to_go(b, opt.gamma) + opt.beta * acc;
  int64_t episodes = 0;
  torch::Tensor loss = episode_mean(residual.pow(2), b.valid, &episodes);

  torch::Tensor kl_term = torch::zeros({}, loss.options());
  if (opt.kl_mode == KlMode::exact) {
    TORCH_CHECK((b.logits.defined() && b.logits_ref.defined()) || b.kl_per_step.defined(),
                "softrl::oreo: KlMode::exact needs `logits` and `logits_ref` ([B, T, A]) or `kl_per_step` ([B, T])");
    const torch::Tensor per_step = b.logits.defined() ? kl(b.logits, b.logits_ref.detach()) : b.kl_per_step;
    kl_term = (per_step * as_weight(b.valid, per_step)).sum() / b.valid.sum().clamp_min(1);
  } else if (opt.kl_mode == KlMode::k3) {
    const torch::Tensor per_step = k3_kl(b.logp, b.logp_ref.detach());
    kl_term = (per_step * as_weight(b.valid, per_step)).sum() / b.valid.sum().clamp_min(1);
  }
  if (opt.kl_mode != KlMode::none) loss = loss + opt.kl_coef * kl_term;
  if (info) {
    info->policy_loss = item(loss);
    info->kl = item(kl_term);
    info->mean_abs_residual = item(episode_mean(residual.abs(), b.valid, nullptr));
    info->mean_accumulated_log_ratio = item(episode_mean(acc_all, b.valid, nullptr));
    info->episodes = episodes;
  }
  return loss;
}

}  // namespace softrl::oreo
