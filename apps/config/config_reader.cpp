#include "apps/config/config_reader.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <vector>

namespace softrl::apps {

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
  if (n.IsSequence()) return "a list";
  return "a mapping";
}

std::string join_names(const std::set<std::string>& names) {
  std::string list;
  for (const auto& a : names) list += (list.empty() ? "" : ", ") + a;
  return list;
}

void ConfigReader::fail(const std::string& path, const std::string& expected, const YAML::Node& got) const {
  throw InputError(source_ + ": " + path + ": expected " + expected + ", got " + describe(got));
}

void ConfigReader::fail_msg(const std::string& path, const std::string& msg) const {
  throw InputError(source_ + ": " + path + ": " + msg);
}

void ConfigReader::check_keys(const YAML::Node& map, const std::string& path,
                              const std::set<std::string>& allowed) const {
  if (!map.IsDefined() || !map.IsMap()) fail(path.empty() ? "(top level)" : path, "a mapping", map);
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    const std::string key_path = path.empty() ? k : path + "." + k;
    if (!allowed.count(k))
      fail_msg(key_path, allowed.empty() ? "unknown key; nothing may be set here"
                                         : "unknown key; valid keys here: " + join_names(allowed));
    // yaml-cpp would silently keep the first value, PyYAML (and RL Zoo) the last: refuse both.
    if (!seen.insert(k).second) fail_msg(key_path, "given twice; keep one");
  }
}

std::string ConfigReader::text(const YAML::Node& n, const std::string& path, const char* expected) const {
  if (!n.IsDefined() || !n.IsScalar()) fail(path, expected, n);
  return n.Scalar();
}

std::optional<int64_t> parse_integer(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  if (auto [p, ec] = std::from_chars(text.data(), end, v); ec == std::errc() && p == end) return v;
  // 1e6-style numbers, when they are integers that a double holds exactly (below 2^53).
  const std::optional<double> d = parse_whole_double(text);
  constexpr double kExact = 9007199254740992.0;
  if (d && std::isfinite(*d) && std::floor(*d) == *d && std::abs(*d) <= kExact) return static_cast<int64_t>(*d);
  return std::nullopt;
}

int64_t ConfigReader::integer(const YAML::Node& n, const std::string& path, int64_t lo, int64_t hi) const {
  std::ostringstream e;
  e << "an integer in [" << lo << ", " << hi << "]";
  if (!n.IsDefined() || !n.IsScalar()) fail(path, e.str(), n);
  const std::optional<int64_t> v = parse_integer(n.Scalar());
  if (!v || *v < lo || *v > hi) fail(path, e.str(), n);
  return *v;
}

double ConfigReader::real(const YAML::Node& n, const std::string& path, double lo, double hi, bool lo_open) const {
  std::ostringstream e;
  e << "a number in " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
  if (!n.IsDefined() || !n.IsScalar()) fail(path, e.str(), n);
  double d;
  try {
    d = n.as<double>();
  } catch (const YAML::Exception&) {
    fail(path, e.str(), n);
  }
  if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d == lo)) fail(path, e.str(), n);
  return d;
}

bool ConfigReader::boolean(const YAML::Node& n, const std::string& path) const {
  if (!n.IsDefined() || !n.IsScalar()) fail(path, "true or false", n);
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    fail(path, "true or false", n);
  }
}

std::optional<double> parse_whole_double(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

void apply_override(YAML::Node root, const std::string& source, const std::string& ov) {
  const auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("override '" + ov + "': expected dotted.key=value (e.g. sac.batch_size=64)");
  const std::string key = ov.substr(0, eq), value = ov.substr(eq + 1);
  YAML::Node val;
  try {
    val = YAML::Load(value.empty() ? "\"\"" : value);
  } catch (const YAML::Exception& e) {
    throw InputError("override '" + ov + "': value is not valid YAML: " + e.msg);
  }
  // Segments: keys between dots, and list indices in brackets ("sources[1].weight").
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    const size_t br = p.find('[');
    if (br == 0 || p.empty()) throw InputError("override '" + ov + "': empty key segment");
    parts.push_back(p.substr(0, br));
    for (size_t at = br; at != std::string::npos && at < p.size();) {
      const size_t close = p.find(']', at);
      if (p[at] != '[' || close == std::string::npos)
        throw InputError("override '" + ov + "': expected key[index] in '" + p + "'");
      parts.push_back(p.substr(at, close - at + 1));
      at = close + 1;
    }
  }
  const auto index_of = [&](const std::string& part, const YAML::Node& seq, const std::string& where) -> size_t {
    const std::optional<int64_t> i = parse_integer(part.substr(1, part.size() - 2));
    if (!seq.IsSequence()) throw InputError("override '" + ov + "': " + source + " has no list at " + where);
    if (!i || *i < 0 || static_cast<size_t>(*i) >= seq.size())
      throw InputError("override '" + ov + "': " + where + " has " + std::to_string(seq.size()) + " items, no " + part);
    return static_cast<size_t>(*i);
  };
  std::vector<YAML::Node> chain = {root};
  std::string where;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p[0] == '[') {
      chain.push_back(chain.back()[index_of(p, chain.back(), where)]);
    } else {
      YAML::Node next = chain.back()[p];
      if ((!next.IsDefined() || next.IsNull()) && parts[i + 1][0] != '[')
        chain.back()[p] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(chain.back()[p]);
    }
    where += (p[0] == '[' || where.empty() ? "" : ".") + p;
    if (parts[i + 1][0] != '[' && !chain.back().IsMap())
      throw InputError("override '" + ov + "': " + source + " has a value, not a mapping, at " + where);
  }
  if (parts.back()[0] == '[') chain.back()[index_of(parts.back(), chain.back(), where)] = val;
  else chain.back()[parts.back()] = val;
}

}  // namespace softrl::apps
