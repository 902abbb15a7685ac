#pragma once
// A run config as YAML: read (the generic keys, then the algorithm's own section through its
// registry entry), validated, and written back resolved.
#include <string>
#include <vector>

#include "apps/config/run_config.h"

namespace softrl::apps {

// Loads `path`, applies overrides ("sac.batch_size=64", values parsed as YAML scalars), validates.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Same, from YAML text (`source` names it in errors).
RunConfig parse_config(const std::string& yaml_text, const std::string& source,
                       const std::vector<std::string>& overrides = {});
// The resolved configuration as YAML (every key that applies, defaults filled in, floats as the
// shortest text that reads back the same; `comments`: each key's doc); parse_config reads it back.
std::string to_yaml(const RunConfig& cfg, bool comments = false);
struct KeyDoc;
// The key reference of the generic keys (top level, env, eval, checkpoint, log).
void document_run_keys(std::vector<KeyDoc>& out);

}  // namespace softrl::apps
