#include "apps/config/run_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/config/config_reader.h"

namespace softrl::apps {

YAML::Node parse_config_root(const std::string& text, const std::string& source,
                             const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    const std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1)
      throw InputError(source + ": holds " + std::to_string(docs.size()) + " YAML documents (---); a config is one");
    if (!docs.empty()) root = docs.front();
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw InputError(source + ": expected a mapping at the top level, got " + describe(root));
  for (const auto& ov : overrides) apply_override(root, source, ov);
  return root;
}

std::string read_config_file(const std::string& path) {
  // A config is a small regular file: refuse devices, FIFOs and anything huge before reading.
  constexpr uintmax_t kMaxBytes = 1 << 20;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError(path + ": no such config file (softrl config ALGO > " + path + " writes a default one)");
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path + ": cannot read the config file (not a regular file)");
  if (std::filesystem::file_size(path, ec) > kMaxBytes)
    throw InputError(path + ": not a config file (larger than 1 MiB)");
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace softrl::apps
