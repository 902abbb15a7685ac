#pragma once
// Environments by Gymnasium id, with keyword options; unknown ids and options are errors that
// list the valid ones.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "envs/env.h"

namespace softrl::envs {

using EnvOptions = std::map<std::string, double>;  // booleans as 0 / 1

std::vector<std::string> env_ids();
// Valid option names for an id (empty for the walkers).
std::vector<std::string> env_option_names(const std::string& id);
std::unique_ptr<Env> make_env(const std::string& id, const EnvOptions& options = {});
// Gymnasium's heuristic controller for the task.
std::unique_ptr<Policy> make_heuristic(const std::string& id);

}  // namespace softrl::envs
