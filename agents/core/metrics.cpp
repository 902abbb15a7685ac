#include "agents/core/metrics.h"

#include <torch/torch.h>

namespace softrl::agents {

double metric_value(const at::Tensor& t) { return t.detach().to(torch::kFloat64).item<double>(); }

}  // namespace softrl::agents
