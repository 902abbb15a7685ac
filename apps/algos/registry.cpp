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
      sac_algo(), bc_algo(), oreo_algo(), dpo_algo(), adpo_algo(), distill_algo(), grpo_algo(), soft_grpo_algo(),
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

const AlgoEntry& default_algo() { return table().front(); }

std::set<std::string> algo_names() {
  std::set<std::string> names;
  for (const auto& e : table()) names.insert(e.name);
  return names;
}

std::string algo_names_where(const std::function<bool(const AlgoEntry&)>& has) {
  std::set<std::string> names;
  for (const auto& e : table())
    if (has(e)) names.insert(e.name);
  return join_names(names);
}

void register_algo(AlgoEntry entry) {
  if (find_algo(entry.name)) throw std::logic_error("algorithm '" + entry.name + "' is already registered");
  table().push_back(std::move(entry));
}

}  // namespace softrl::apps
