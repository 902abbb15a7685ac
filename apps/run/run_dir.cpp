#include "apps/run/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/atomic_file.h"
#include "common/error.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {
constexpr const char* kLockName = ".lock";

// Why `dir` cannot take a new run, or "" when it can (it holds nothing but our lock file).
std::string unusable_because(const fs::path& dir) {
  if (fs::exists(dir / "checkpoints" / "latest.pt"))
    return dir.string() + " already holds a run; use --resume " + dir.string() + " or choose another --run-dir";
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != kLockName)
      return dir.string() +
             " is not empty and holds no run to resume (no checkpoints/latest.pt); choose another "
             "--run-dir or remove it";
  return "";
}
}  // namespace

RunDirLock::RunDirLock(const fs::path& dir) {
  const fs::path path = dir / kLockName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw IoError(path.string() + ": cannot open the run's lock file (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK) throw InputError(dir.string() + " is in use by another softrl process");
    throw IoError(path.string() + ": cannot lock (" + std::strerror(e) + ")");
  }
  // Whoever wrote here before is gone: what a killed writer left half-written goes.
  remove_stale_temporaries(dir);
  remove_stale_temporaries(dir / "checkpoints");
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

ClaimedRunDir claim_new_run_dir(const fs::path& dir, bool pick_free_name) {
  for (int k = 1;; ++k) {
    const fs::path candidate = k == 1 ? dir : fs::path(dir.string() + "-" + std::to_string(k));
    const bool created = fs::create_directories(candidate);
    try {
      RunDirLock lock(candidate);  // first lock, then look: two starters cannot both find it empty
      const std::string why = unusable_because(candidate);
      if (why.empty()) return {candidate, std::move(lock), created};
      if (!pick_free_name) throw InputError(why);
    } catch (const InputError&) {
      if (!pick_free_name) throw;
    }
  }
}

void ClaimedRunDir::release_unused() const {
  std::error_code ec;  // best effort: the run's own error is the one to report
  if (!unusable_because(dir).empty()) return;
  fs::remove(dir / kLockName, ec);
  if (created) fs::remove(dir, ec);
}

}  // namespace softrl::apps
