#pragma once
// The errors every layer may raise, and the exit code each becomes at a command's boundary
// (apps/command_boundary.h): bad input 2, I/O or resource failure 3, a diverged run 4.
#include <stdexcept>

namespace softrl {

// Bad user input (a config, an override, a checkpoint, a dataset, a command line, an environment
// option): the message names the file, the key path and what was expected.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file that cannot be written or read for reasons outside the input (disk full, permissions,
// read-only file system), or memory that cannot be had.
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A run whose parameters became non-finite: the message names the step and the last good checkpoint.
struct DivergedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace softrl
