#include "apps/algos/registry.h"

#include <stdexcept>
#include <vector>

#include "apps/algos/bc_algo.h"
#include "apps/algos/distill_algo.h"
#include "apps/algos/grpo_algo.h"
#include "apps/algos/oreo_algo.h"
#include "apps/algos/preference_algo.h"
#include "apps/algos/sac_algo.h"

namespace softrl::apps {
namespace {
std::vector<AlgoEntry>& table() {
  static std::vector<AlgoEntry> entries = {
      sac_algo(),
      bc_algo(),
      oreo_algo(),
      dpo_algo(),
      adpo_algo(),
      distill_algo(),
      grpo_algo(),
      soft_grpo_algo(),
  };
  return entries;
}
}  // namespace

std::unique_ptr<envs::Policy> make_actor(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                         uint64_t seed) {
  const AlgoEntry* a = find_algo(run.algo);
  if (a && a->actor) return a->actor(run, policy, deterministic, seed);
  return std::make_unique<agents::PolicyActor>(policy, deterministic, seed);
}

const AlgoEntry* find_algo(const std::string& name) {
  for (const auto& e : table())
    if (e.name == name) return &e;
  return nullptr;
}

std::set<std::string> algo_names() {
  std::set<std::string> names;
  for (const auto& e : table()) names.insert(e.name);
  return names;
}

void register_algo(AlgoEntry entry) {
  if (find_algo(entry.name)) throw std::logic_error("algorithm '" + entry.name + "' is already registered");
  table().push_back(std::move(entry));
}

agents::Schedule parse_learning_rate(const ConfigReader& r, const YAML::Node& n, const std::string& path, std::string* text) {
  const char* expected = "a positive number or lin_<number> (e.g. 3e-4, lin_7.3e-4)";
  std::string s = r.text(n, path, expected);
  *text = s;
  agents::Schedule sch;
  if (s.rfind("lin_", 0) == 0) {
    sch.linear = true;
    s = s.substr(4);
  }
  const std::optional<double> v = parse_whole_double(s);
  if (!v) r.fail(path, expected, n);
  sch.initial = *v;
  if (!(sch.initial > 0 && sch.initial < 1)) r.fail(path, "a learning rate in (0, 1)", n);
  return sch;
}

std::vector<int64_t> parse_net_arch(const ConfigReader& r, const YAML::Node& n, const std::string& path) {
  if (!n.IsSequence() || n.size() == 0) r.fail(path, "a non-empty list of layer widths", n);
  std::vector<int64_t> widths;
  for (size_t i = 0; i < n.size(); ++i) widths.push_back(r.integer(n[i], path + "[" + std::to_string(i) + "]", 1, 65536));
  return widths;
}

}  // namespace softrl::apps
