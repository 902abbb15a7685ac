#include "apps/algos/registry.h"

#include <stdexcept>
#include <vector>

#include "apps/algos/sac_algo.h"

namespace softrl::apps {
namespace {
std::vector<AlgoEntry>& table() {
  static std::vector<AlgoEntry> entries = {
      sac_algo(),
  };
  return entries;
}
}  // namespace

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

}  // namespace softrl::apps
