#include "apps/config/schema.h"

#include <charconv>
#include <cmath>

#include "envs/registry.h"

namespace softrl::apps {

SchemaContext context_for_env(const std::string& env_id) {
  SchemaContext c{.env_id = env_id};
  try {
    c.discrete_actions = envs::make_env(env_id)->spec().action_space.kind == envs::Space::Kind::discrete;
  } catch (const envs::EnvError&) {
  }
  return c;
}

std::string format_double(double v) {
  char buf[64];
  // std::to_chars without a precision is the shortest text that reads back to `v` exactly.
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string one_line(const YAML::Node& n) {
  if (n.IsNull()) return "null";
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::vector<int64_t> read_widths(const ConfigReader& r, const YAML::Node& n, const std::string& path) {
  if (!n.IsSequence() || n.size() == 0) r.fail(path, "a non-empty list of layer widths", n);
  std::vector<int64_t> widths;
  for (size_t i = 0; i < n.size(); ++i)
    widths.push_back(r.integer(n[i], path + "[" + std::to_string(i) + "]", 1, 65536));
  return widths;
}

agents::Schedule read_schedule(const ConfigReader& r, const YAML::Node& n, const std::string& path) {
  const char* expected = "a positive number or lin_<number> (e.g. 3e-4, lin_7.3e-4)";
  std::string s = r.text(n, path, expected);
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

std::string schedule_text(const agents::Schedule& s) { return (s.linear ? "lin_" : "") + format_double(s.initial); }

}  // namespace softrl::apps
