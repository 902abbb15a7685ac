#pragma once
// The one JSON writer: objects built key by key, strings escaped, non-finite numbers as null
// (JSON has no NaN or infinity).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace softrl {

std::string json_string(std::string_view s);  // quoted and escaped
std::string json_number(double v);            // 10 significant digits; NaN / inf -> null

// "[a, b]" from items that are already JSON.
std::string json_array(const std::vector<std::string>& items);

class JsonObject {
 public:
  JsonObject& add(std::string_view key, double v) { return raw(key, json_number(v)); }
  JsonObject& add(std::string_view key, int64_t v) { return raw(key, std::to_string(v)); }
  JsonObject& add(std::string_view key, int v) { return raw(key, std::to_string(v)); }
  JsonObject& add(std::string_view key, uint64_t v) { return raw(key, std::to_string(v)); }
  JsonObject& add(std::string_view key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonObject& add(std::string_view key, std::string_view v) { return raw(key, json_string(v)); }
  JsonObject& add(std::string_view key, const char* v) { return raw(key, json_string(v)); }
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& raw(std::string_view key, std::string_view json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

}  // namespace softrl
