#include "common/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"

namespace softrl {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view bytes) {
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
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw IoError(path.string() + ": cannot move it into place (" + reason + "); the file is unchanged");
  }
}

}  // namespace softrl
