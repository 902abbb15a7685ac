#pragma once
// The config of `softrl collect`: the task, the behaviour mixture, the groups, strictly validated
// like training's (unknown keys, wrong types and ranges name the file and the key path).
#include <string>
#include <vector>

#include "agents/loops/collector.h"

namespace softrl::apps {

// Loads and validates; policy sources are loaded (load_policy) and checked against the task.
agents::CollectSettings load_collect_config(const std::string& path, const std::vector<std::string>& overrides = {});
agents::CollectSettings parse_collect_config(const std::string& yaml_text, const std::string& source,
                                             const std::vector<std::string>& overrides = {});
// The resolved config (every key, defaults filled in), recorded in the dataset.
std::string collect_config_yaml(const agents::CollectSettings& s);
struct KeyDoc;
// The key reference of a collect config.
void document_collect_keys(std::vector<KeyDoc>& out);

}  // namespace softrl::apps
