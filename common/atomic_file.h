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
// With `replace` false, PATH must not exist when the new file is moved into place (checked in the
// same step: renameat2's RENAME_NOREPLACE), else InputError: of two writers racing to one new
// name, the second is refused rather than replacing the first one's file.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes, bool replace = true);

// Removes the temporaries write_file_atomic leaves when its process is killed mid-write
// ("NAME.tmp.XXXXXX") from `dir`. Only for a caller that holds `dir`'s lock: no writer of ours is
// then alive there.
void remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace softrl
