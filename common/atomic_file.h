#pragma once
// The one write-then-rename helper: logs, configs, reports, checkpoints and images all go through
// it, so a reader (or a crash) never sees a half-written file and an existing file is replaced
// only by a complete new one.
#include <filesystem>
#include <string_view>

namespace softrl {

// Writes `bytes` to a new temporary beside PATH, flushes it to disk and renames it over PATH (whose
// directory must exist). Throws IoError naming the file when it cannot be written; PATH is then
// untouched and no temporary is left behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace softrl
