#include "objectives/primitives.h"

#include <cmath>
#include <limits>

namespace softrl {
namespace {
// Log-probabilities with -inf (excluded entries) replaced by 0, for 0 * log 0 = 0 products.
torch::Tensor finite_log_softmax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  const torch::Tensor ls = log_softmax(x, opt);
  return ls.masked_fill(ls == kNegInf, 0.0);
}

}  // namespace

torch::Tensor selective_log_softmax(const torch::Tensor& x, const torch::Tensor& index, const SoftmaxOptions& opt) {
  TORCH_CHECK(index.scalar_type() == torch::kLong, "softrl::selective_log_softmax: index must be int64");
  TORCH_CHECK(index.dim() == x.dim() - 1,
              "softrl::selective_log_softmax: index must have x's shape without the last "
              "dimension; x ",
              x.sizes(), ", index ", index.sizes());
  // Gathered from the row's log_softmax: picking x_a / tau first and subtracting the logsumexp
  // would carry an absolute error of u * |lse| (large logits, long sequences).
  return log_softmax(x, opt).gather(-1, index.unsqueeze(-1)).squeeze(-1);
}

torch::Tensor softplus(const torch::Tensor& x) { return torch::softplus(x); }

torch::Tensor log_sigmoid(const torch::Tensor& x) { return -torch::softplus(-x); }

torch::Tensor entropy(const torch::Tensor& x, const SoftmaxOptions& opt) {
  return -(softmax(x, opt) * finite_log_softmax(x, opt)).sum(-1);
}

torch::Tensor kl(const torch::Tensor& x_p, const torch::Tensor& x_q, const SoftmaxOptions& opt) {
  const torch::Tensor lp = log_softmax(x_p, opt);
  const torch::Tensor lq = log_softmax(x_q, opt);
  const torch::Tensor d = (lp - lq).masked_fill(lp == kNegInf, 0.0);
  return (lp.exp() * d).sum(-1);
}

torch::Tensor soft_cross_entropy(const torch::Tensor& u, const torch::Tensor& q, const SoftmaxOptions& opt) {
  return -(q.detach() * finite_log_softmax(u, opt)).sum(-1);
}

torch::Tensor reverse_cumulative_logsumexp(const torch::Tensor& x, const SoftmaxOptions& opt) {
  const int64_t n = x.size(-1);
  auto sizes = x.sizes().vec();
  sizes.insert(sizes.end() - 1, n);  // [..., n (suffix start k), n (entry j)]
  const torch::Tensor suffix = torch::ones({n, n}, x.options().dtype(torch::kBool)).triu();
  torch::Tensor mask = suffix;
  if (opt.mask.defined()) mask = mask.logical_and(opt.mask.unsqueeze(-2));
  return logsumexp(x.unsqueeze(-2).expand(sizes), {.mask = mask.expand(sizes), .temperature = opt.temperature});
}

namespace {
// s(x) with both branches evaluated on inputs where they are finite (no NaN in backward).
torch::Tensor stablemax_s(const torch::Tensor& x, const SoftmaxOptions& opt) {
  const torch::Tensor xs = x / opt.temperature;
  torch::Tensor s = torch::where(xs >= 0, xs.clamp_min(0) + 1.0, 1.0 / (1.0 - xs.clamp_max(0)));
  if (opt.mask.defined()) s = s.masked_fill(opt.mask.logical_not(), 0.0);
  return s;
}
}  // namespace

torch::Tensor stablemax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  const torch::Tensor s = stablemax_s(x, opt);
  const torch::Tensor total = s.sum(-1, true);
  return s / total.masked_fill(total == 0, 1.0);
}

torch::Tensor log_stablemax(const torch::Tensor& x, const SoftmaxOptions& opt) {
  const torch::Tensor s = stablemax_s(x, opt);
  const torch::Tensor total = s.sum(-1, true);
  const torch::Tensor out = s.masked_fill(s == 0, 1.0).log() - total.masked_fill(total == 0, 1.0).log();
  return out.masked_fill(s == 0, kNegInf);
}

torch::Tensor squashed_gaussian_log_prob(const torch::Tensor& u, const torch::Tensor& mu,
                                         const torch::Tensor& log_sigma, const torch::Tensor& action_scale) {
  static const double kHalfLog2Pi = 0.5 * std::log(2.0 * M_PI);
  static const double kLog2 = std::log(2.0);
  const torch::Tensor z = (u - mu) * torch::exp(-log_sigma);
  const torch::Tensor gauss = -0.5 * z * z - log_sigma - kHalfLog2Pi;
  const torch::Tensor log_det = 2.0 * (kLog2 - u - softrl::softplus(-2.0 * u)) + action_scale.log();
  return (gauss - log_det).sum(-1);
}

torch::Tensor gaussian_log_prob(const torch::Tensor& u, const torch::Tensor& mu, const torch::Tensor& log_sigma) {
  static const double kHalfLog2Pi = 0.5 * std::log(2.0 * M_PI);
  const torch::Tensor z = (u - mu) * torch::exp(-log_sigma);
  return (-0.5 * z * z - log_sigma - kHalfLog2Pi).sum(-1);
}

torch::Tensor gaussian_kl(const torch::Tensor& mu_p, const torch::Tensor& log_sigma_p, const torch::Tensor& mu_q,
                          const torch::Tensor& log_sigma_q) {
  // (sigma_p / sigma_q)^2 = exp(2 (log_sigma_p - log_sigma_q)): no division of small numbers.
  const torch::Tensor d = log_sigma_p - log_sigma_q;
  const torch::Tensor z = (mu_p - mu_q) * torch::exp(-log_sigma_q);
  return (-d + 0.5 * (torch::exp(2.0 * d) + z * z) - 0.5).sum(-1);
}

torch::Tensor k3_kl(const torch::Tensor& logp, const torch::Tensor& logp_ref) {
  const torch::Tensor d = logp_ref - logp;
  return torch::expm1(d) - d;
}

GroupStats group_normalize(const torch::Tensor& rewards, const GroupOptions& opt) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(rewards.dim() >= 1, "softrl::group_normalize: rewards need a group dimension");
  TORCH_CHECK(opt.eps >= 0.0, "softrl::group_normalize: eps must be >= 0, got ", opt.eps);
  const torch::Tensor r = rewards.detach();
  const torch::Tensor inc = opt.mask.defined() ? opt.mask.expand_as(r) : torch::ones_like(r, torch::kBool);
  const torch::Tensor w = inc.to(r.scalar_type());
  GroupStats st;
  st.count = w.sum(-1);
  const torch::Tensor n = st.count.clamp_min(1.0);
  st.mean = (r * w).sum(-1) / n;
  const torch::Tensor centered = (r - st.mean.unsqueeze(-1)) * w;
  const torch::Tensor var = (centered * centered).sum(-1) / (st.count - 1.0).clamp_min(1.0);
  st.std = torch::where(st.count > 1, var.sqrt(), torch::zeros_like(var));
  const double big = std::numeric_limits<double>::infinity();
  const torch::Tensor hi = r.masked_fill(inc.logical_not(), -big).amax(-1);
  const torch::Tensor lo = r.masked_fill(inc.logical_not(), big).amin(-1);
  st.zero_std = (hi == lo).logical_or(st.count <= 1);
  torch::Tensor adv = opt.scale_by_std ? centered / (st.std.unsqueeze(-1) + opt.eps) : centered;
  st.advantages = adv.masked_fill(st.zero_std.unsqueeze(-1).logical_or(inc.logical_not()), 0.0);
  return st;
}

}  // namespace softrl
