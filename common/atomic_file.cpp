#include "common/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"

namespace softrl {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view bytes, bool replace) {
  // A fresh, exclusively created temporary beside the target (mkstemp opens with O_EXCL): a
  // planted file or symlink under a fixed name cannot redirect the write, and two writers of one
  // file never share a temporary.
  std::string tmp = path.string() + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    throw IoError(path.string() + ": cannot create a temporary file beside it (" + std::strerror(errno) + ")");
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(path.string() + ": cannot " + what + " (" + reason + "); the file is unchanged");
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write it");
    done += static_cast<size_t>(n);
  }
  // Without fsync a crash right after the rename can leave an empty file under the final name.
  if (::fsync(fd) != 0) fail("flush it to disk");
  if (::fchmod(fd, 0644) != 0) fail("set its permissions");
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw IoError(path.string() + ": cannot close it (" + reason + "); the file is unchanged");
  }
  const int moved = replace ? ::rename(tmp.c_str(), path.c_str())
                            : ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
  if (moved != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    if (!replace && e == EEXIST)
      throw InputError(path.string() + ": appeared while it was being written (another process?); left as it is");
    throw IoError(path.string() + ": cannot move it into place (" + std::strerror(e) + "); the file is unchanged");
  }
}

void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at != std::string::npos && at > 0 && name.size() == at + 11 && entry.is_regular_file(ec))
      fs::remove(entry.path(), ec);
  }
}

}  // namespace softrl
