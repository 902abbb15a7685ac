#pragma once
// Reading YAML config values with errors that name the file, the key path and what was expected
// ("runs.yaml: sac.gamma: expected a number in [0, 1], got \"1.5\""). Shared by the run config and
// every algorithm's own section.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "common/error.h"

namespace softrl::apps {

class ConfigReader {
 public:
  explicit ConfigReader(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& path, const std::string& expected, const YAML::Node& got) const;
  [[noreturn]] void fail_msg(const std::string& path, const std::string& msg) const;

  // `map` must be a mapping whose keys are all in `allowed`.
  void check_keys(const YAML::Node& map, const std::string& path, const std::set<std::string>& allowed) const;
  std::string text(const YAML::Node& n, const std::string& path, const char* expected) const;
  // An integer in [lo, hi] (see parse_integer).
  int64_t integer(const YAML::Node& n, const std::string& path, int64_t lo, int64_t hi = INT64_MAX) const;
  // A finite number in [lo, hi] (or (lo, hi] when lo_open).
  double real(const YAML::Node& n, const std::string& path, double lo, double hi, bool lo_open = false) const;
  bool boolean(const YAML::Node& n, const std::string& path) const;

 private:
  std::string source_;
};

// "a, b, c"
std::string join_names(const std::set<std::string>& names);
// A node's value for messages: "\"abc\"", "a list", "a mapping" or "nothing".
std::string describe(const YAML::Node& n);
// The whole text as a number ("3e-4"), or nothing ("3e-4x", "").
std::optional<double> parse_whole_double(const std::string& text);
// The whole text as an int64, exactly ("9223372036854775807"; "1e6" when integral and below
// 2^53), or nothing (out of range, fractional, not a number): never through a lossy double.
std::optional<int64_t> parse_integer(const std::string& text);
// Applies one dotted.key=value override (the value parsed as YAML) to `root`.
void apply_override(YAML::Node root, const std::string& source, const std::string& override_text);

}  // namespace softrl::apps
