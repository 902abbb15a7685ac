#include "agents/core/sliced_adam.h"

#include <cmath>
#include <stdexcept>

namespace softrl::agents {

SlicedAdamStep::SlicedAdamStep(torch::optim::Adam& opt) {
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad())
      throw std::logic_error("SlicedAdamStep: only plain Adam (no weight decay, no amsgrad)");
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = opt.state()[c10::guts::to_string(p.unsafeGetTensorImpl())];
      if (!slot) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
      s.step(s.step() + 1);
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
      const double bc2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
      entries_.push_back(
          {p, p.grad(), s.exp_avg(), s.exp_avg_sq(), {beta1, beta2, o.eps(), o.lr() / bc1, std::sqrt(bc2)}});
    }
  }
}

void SlicedAdamStep::apply(int64_t k, int64_t n) const {
  torch::NoGradGuard ng;
  for (const Entry& e : entries_) {
    if (e.param.dim() == 0 && k != 0) continue;
    const int64_t rows = e.param.dim() == 0 ? 1 : e.param.size(0);
    const int64_t begin = rows * k / n, end = rows * (k + 1) / n;
    if (begin == end) continue;
    const auto part = [&](const torch::Tensor& t) { return t.dim() == 0 ? t : t.narrow(0, begin, end - begin); };
    adam_step(part(e.param), part(e.grad), part(e.exp_avg), part(e.exp_avg_sq), e.coefficients);
  }
}

}  // namespace softrl::agents
