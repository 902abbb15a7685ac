#pragma once
#include <filesystem>
#include <string>

namespace softrl::apps {

// Writes `text` to PATH.tmp and renames it over PATH, so a reader never sees a half-written file.
// Throws InputError naming the file when it cannot be written.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace softrl::apps
