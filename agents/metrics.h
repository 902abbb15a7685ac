#pragma once
// What learners and loops report for the logs: ordered (name, value) pairs. NaN means "no value
// yet" (written as an empty CSV field and a JSON null).
#include <string>
#include <utility>
#include <vector>

namespace softrl::agents {

using Metrics = std::vector<std::pair<std::string, double>>;

}  // namespace softrl::agents
