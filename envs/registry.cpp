#include "envs/registry.h"

#include <sstream>

#include "envs/bipedal_walker.h"
#include "envs/lunar_lander.h"

namespace softrl::envs {
namespace {
const std::vector<std::string> kLanderOptions = {"enable_wind", "gravity", "turbulence_power", "wind_power"};

std::string join(const std::vector<std::string>& v) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  return o.str();
}

bool is_lander(const std::string& id) { return id == "LunarLander-v3" || id == "LunarLanderContinuous-v3"; }

void check_id(const std::string& id) {
  for (const auto& known : env_ids())
    if (known == id) return;
  throw EnvError("unknown environment id '" + id + "'; valid ids: " + join(env_ids()));
}
}  // namespace

std::vector<std::string> env_ids() {
  return {"LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3", "BipedalWalkerHardcore-v3"};
}

std::vector<std::string> env_option_names(const std::string& id) {
  check_id(id);
  return is_lander(id) ? kLanderOptions : std::vector<std::string>{};
}

std::unique_ptr<Env> make_env(const std::string& id, const EnvOptions& options) {
  const std::vector<std::string> valid = env_option_names(id);
  for (const auto& [name, value] : options) {
    bool ok = false;
    for (const auto& v : valid) ok = ok || v == name;
    if (!ok)
      throw EnvError(id + ": unknown option '" + name + "'; valid options: " +
                     (valid.empty() ? std::string("none") : join(valid)));
  }
  if (is_lander(id)) {
    LunarLanderOptions o;
    o.continuous = id == "LunarLanderContinuous-v3";
    if (auto it = options.find("gravity"); it != options.end()) o.gravity = it->second;
    if (auto it = options.find("enable_wind"); it != options.end()) o.enable_wind = it->second != 0.0;
    if (auto it = options.find("wind_power"); it != options.end()) o.wind_power = it->second;
    if (auto it = options.find("turbulence_power"); it != options.end()) o.turbulence_power = it->second;
    return std::make_unique<LunarLander>(o);
  }
  return std::make_unique<BipedalWalker>(id == "BipedalWalkerHardcore-v3");
}

std::unique_ptr<Policy> make_heuristic(const std::string& id) {
  check_id(id);
  if (is_lander(id)) return std::make_unique<LunarLanderHeuristic>(id == "LunarLanderContinuous-v3");
  return std::make_unique<BipedalWalkerHeuristic>();
}

}  // namespace softrl::envs
