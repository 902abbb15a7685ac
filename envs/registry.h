#pragma once
// The tasks as one table (EnvPool's registration, Gymnasium's registry): each entry declares its
// id, its typed options with their valid ranges, how to build it, its heuristic controller, its
// renderer and the heuristic's validation target, apart from the physics. Unknown ids and options,
// wrong types and out-of-range values are errors that list what is valid.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "envs/env.h"
#include "envs/image.h"

namespace softrl::envs {

// Option values by name; a boolean option holds 0 or 1 (its OptionSpec says it is a boolean).
using EnvOptions = std::map<std::string, double>;

struct OptionSpec {
  enum class Type { boolean, number };
  std::string name;
  Type type = Type::number;
  double lo = 0, hi = 0;                  // numbers: the valid range...
  bool lo_open = false, hi_open = false;  // ...with open ends where Gymnasium excludes the bound
  double default_value = 0;
  bool valid(double v) const;
  std::string expected() const;  // "true or false", "a number in (-12, 0)"
};

// The mean return (and length) of Gymnasium's heuristic over 1000 episodes on Box2D 2.4.1, with
// the band a faithful port lands in; the band widens by sqrt(1000 / episodes) for fewer.
struct ValidationTarget {
  double mean = 0, tolerance = 0, mean_length = 0;
};

struct TaskEntry {
  std::string id;
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<Env>(const EnvOptions&)> make;  // gets every option, validated
  std::function<std::unique_ptr<Policy>()> heuristic;
  std::function<Image(const Env&)> render;
  ValidationTarget validation;
};

const std::vector<TaskEntry>& tasks();
// Throws EnvError listing the valid ids.
const TaskEntry& task(const std::string& id);
std::vector<std::string> env_ids();
// Checks every option against the task's specs (name, type, range), fills in the defaults.
std::unique_ptr<Env> make_env(const std::string& id, const EnvOptions& options = {});
// Gymnasium's heuristic controller for the task.
std::unique_ptr<Policy> make_heuristic(const std::string& id);
// A frame of the env's world through its task's renderer (envs/render.h). Throws EnvError for an
// environment that has not been reset.
Image render(const Env& env);
// Uniform random actions over the task's action space (the "random" end of score normalisation).
std::unique_ptr<Policy> make_random_policy(const std::string& id, uint64_t seed);

}  // namespace softrl::envs
