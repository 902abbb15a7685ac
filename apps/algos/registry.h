#pragma once
// The algorithm registry: one line per algorithm (registry.cpp), looked up by name. Adding an
// algorithm = its own files plus one line in registry.cpp; the run driver, the config, the
// checkpoints, the logs and `eval` stay as they are.
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "apps/algos/algo_entry.h"

namespace softrl::apps {

// The actor of a run's policy: its algorithm's, else a PolicyActor.
std::unique_ptr<envs::Policy> make_actor(const RunConfig& run, agents::PolicyHead& policy, bool deterministic,
                                         uint64_t seed = 0);

// nullptr when no algorithm has that name.
const AlgoEntry* find_algo(const std::string& name);
std::set<std::string> algo_names();
// The algorithm of a config without `algo:` (the table's first entry).
const AlgoEntry& default_algo();
// The names of the algorithms for which `has` holds ("bc, dpo, ...").
std::string algo_names_where(const std::function<bool(const AlgoEntry&)>& has);
// Adds an entry at run time (tests, embedding applications). Throws if the name is taken.
void register_algo(AlgoEntry entry);

}  // namespace softrl::apps
