#pragma once
// What learners and loops report for the logs: ordered (name, value) pairs. NaN means "no value
// yet" (written as an empty CSV field and a JSON null).
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace softrl::agents {

using Metrics = std::vector<std::pair<std::string, double>>;

// A scalar tensor's value for the logs: detached, read in float64.
double metric_value(const at::Tensor& t);

// An update's metrics, computed when first read: a loop keeps only the last update's and reads
// them once per log row, so a learner whose losses are not on its gradient path (SAC's continuous
// update differentiates by hand) leaves their arithmetic, ~0.15 ms of serial work per update, to
// the rare update that is logged. Learners that have their values anyway pass them ready.
class DeferredMetrics {
 public:
  DeferredMetrics() = default;
  DeferredMetrics(Metrics ready) : value_(std::move(ready)) {}  // NOLINT: implicit, values at hand
  explicit DeferredMetrics(std::function<Metrics()> compute) : compute_(std::move(compute)) {}

  const Metrics& get() const {
    if (!value_) value_ = compute_ ? compute_() : Metrics{};
    return *value_;
  }

 private:
  std::function<Metrics()> compute_;
  mutable std::optional<Metrics> value_;
};

}  // namespace softrl::agents
