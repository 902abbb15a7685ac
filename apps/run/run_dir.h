#pragma once
// Owning a directory: one softrl process at a time holds DIR/.lock (flock) for the life of a train
// or resume (a run directory) or of a compare (a study directory), so two runs never interleave
// their logs and two studies never train the same cells; a new run only starts in a directory that
// is new or empty. Taking the lock removes the temporaries a killed writer left behind.
#include <filesystem>

namespace softrl::apps {

class RunDirLock {
 public:
  // Throws InputError when another process holds the directory, IoError when it cannot be locked.
  // Once held, removes DIR's and DIR/checkpoints' stale temporaries (remove_stale_temporaries).
  explicit RunDirLock(const std::filesystem::path& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  RunDirLock(RunDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

 private:
  int fd_ = -1;
};

struct ClaimedRunDir {
  std::filesystem::path dir;
  RunDirLock lock;
  bool created = false;  // the directory did not exist before the claim
  // A run that fails before writing anything (e.g. a setting its environment cannot take) leaves
  // the directory as it found it: the lock file removed, and the directory too if the claim made it.
  void release_unused() const;
};

// Creates and locks `dir` for a new run. It may exist only if empty; a directory holding a run
// (checkpoints/latest.pt) or anything else is refused with InputError, its files untouched. With
// pick_free_name, "dir-2", "dir-3", ... are tried instead of refusing (default run names).
ClaimedRunDir claim_new_run_dir(const std::filesystem::path& dir, bool pick_free_name);

}  // namespace softrl::apps
