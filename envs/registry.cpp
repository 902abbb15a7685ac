#include "envs/registry.h"

#include "envs/rng.h"

#include <cmath>
#include <sstream>

#include "envs/bipedal_walker.h"
#include "envs/lunar_lander.h"
#include "envs/render.h"

namespace softrl::envs {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::ostringstream o;
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  return o.str();
}

// Gymnasium's LunarLander keywords: gravity asserted in (-12, 0); wind_power and
// turbulence_power outside [0, 20] and [0, 2] only warn there, and are errors here.
const std::vector<OptionSpec> kLanderOptions = {
    {.name = "enable_wind", .type = OptionSpec::Type::boolean, .default_value = 0},
    {.name = "gravity", .lo = -12, .hi = 0, .lo_open = true, .hi_open = true, .default_value = -10},
    {.name = "turbulence_power", .lo = 0, .hi = 2, .default_value = 1.5},
    {.name = "wind_power", .lo = 0, .hi = 20, .default_value = 15},
};

std::function<std::unique_ptr<Env>(const EnvOptions&)> make_lander(bool continuous) {
  return [continuous](const EnvOptions& o) -> std::unique_ptr<Env> {
    return std::make_unique<LunarLander>(LunarLanderOptions{.continuous = continuous,
                                                            .gravity = o.at("gravity"),
                                                            .enable_wind = o.at("enable_wind") != 0.0,
                                                            .wind_power = o.at("wind_power"),
                                                            .turbulence_power = o.at("turbulence_power")});
  };
}

std::function<std::unique_ptr<Env>(const EnvOptions&)> make_walker(bool hardcore) {
  return [hardcore](const EnvOptions&) -> std::unique_ptr<Env> { return std::make_unique<BipedalWalker>(hardcore); };
}

std::function<std::unique_ptr<Policy>()> lander_heuristic(bool continuous) {
  return [continuous]() -> std::unique_ptr<Policy> { return std::make_unique<LunarLanderHeuristic>(continuous); };
}

std::unique_ptr<Policy> walker_heuristic() { return std::make_unique<BipedalWalkerHeuristic>(); }

}  // namespace

bool OptionSpec::valid(double v) const {
  if (type == Type::boolean) return v == 0.0 || v == 1.0;
  return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
}

std::string OptionSpec::expected() const {
  if (type == Type::boolean) return "true or false";
  std::ostringstream o;
  o << "a number in " << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]");
  return o.str();
}

const std::vector<TaskEntry>& tasks() {
  static const std::vector<TaskEntry> table = {
      {"LunarLander-v3",
       kLanderOptions,
       make_lander(false),
       lander_heuristic(false),
       render_lander,
       {238.0, 10.0, 274}},
      {"LunarLanderContinuous-v3",
       kLanderOptions,
       make_lander(true),
       lander_heuristic(true),
       render_lander,
       {283.0, 2.5, 215}},
      {"BipedalWalker-v3", {}, make_walker(false), walker_heuristic, render_walker, {117.0, 12.0, 990}},
      {"BipedalWalkerHardcore-v3", {}, make_walker(true), walker_heuristic, render_walker, {-62.0, 2.5, 360}},
  };
  return table;
}

std::vector<std::string> env_ids() {
  std::vector<std::string> ids;
  for (const auto& t : tasks()) ids.push_back(t.id);
  return ids;
}

const TaskEntry& task(const std::string& id) {
  for (const auto& t : tasks())
    if (t.id == id) return t;
  throw EnvError("unknown environment id '" + id + "'; valid ids: " + join(env_ids()));
}

std::unique_ptr<Env> make_env(const std::string& id, const EnvOptions& options) {
  const TaskEntry& t = task(id);
  std::vector<std::string> names;
  for (const auto& o : t.options) names.push_back(o.name);
  for (const auto& [name, value] : options) {
    const OptionSpec* spec = nullptr;
    for (const auto& o : t.options)
      if (o.name == name) spec = &o;
    if (!spec)
      throw EnvError(id + ": unknown option '" + name + "'; valid options: " + (names.empty() ? "none" : join(names)));
    if (!spec->valid(value)) {
      std::ostringstream got;
      got << value;
      throw EnvError(id + ": option " + name + ": expected " + spec->expected() + ", got " + got.str());
    }
  }
  EnvOptions full = options;
  for (const auto& o : t.options) full.emplace(o.name, o.default_value);
  return t.make(full);
}

std::unique_ptr<Policy> make_heuristic(const std::string& id) { return task(id).heuristic(); }

Image render(const Env& env) { return task(env.spec().id).render(env); }

namespace {
class UniformPolicy : public Policy {
 public:
  UniformPolicy(Space space, uint64_t seed) : space_(std::move(space)), rng_(seed) {}
  std::vector<float> act(std::span<const float>) override {
    if (space_.kind == Space::Kind::discrete) return {static_cast<float>(rng_.integers(0, space_.n))};
    std::vector<float> a(space_.low.size());
    for (size_t d = 0; d < a.size(); ++d) a[d] = static_cast<float>(rng_.uniform(space_.low[d], space_.high[d]));
    return a;
  }

 private:
  Space space_;
  Rng rng_;
};
}  // namespace

std::unique_ptr<Policy> make_random_policy(const std::string& id, uint64_t seed) {
  return std::make_unique<UniformPolicy>(make_env(id)->spec().action_space, seed);
}

}  // namespace softrl::envs
