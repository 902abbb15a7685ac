#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"

namespace softrl {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp";
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw InputError(path.string() + ": cannot " + what + " (" + reason + ")");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("create " + tmp.string());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("write " + tmp.string());
    }
    done += static_cast<size_t>(n);
  }
  // Without fsync a crash right after the rename can leave an empty file under the final name.
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("flush " + tmp.string());
  }
  if (::close(fd) != 0) fail("close " + tmp.string());
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("move " + tmp.string() + " into place");
}

}  // namespace softrl
