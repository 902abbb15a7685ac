#pragma once
// Where every command ends: exceptions become a message and an exit code, never an abort.
// Exit codes: 0 success; 1 an internal error (a bug: please report it); 2 bad input (config,
// checkpoint, dataset, command line); 3 an I/O or resource failure (disk full, read-only,
// permissions, memory); 4 a diverged run (non-finite parameters); 5 a data-parallel peer died or
// hung past the timeout; 128 + N after signal N (130 SIGINT, 143 SIGTERM), once what a resume
// needs is saved.
#include <functional>
#include <iosfwd>

namespace softrl::apps {

enum ExitCode { kOk = 0, kInternal = 1, kBadInput = 2, kIoFailure = 3, kDiverged = 4, kPeerLost = 5 };

// Runs `body` and returns its exit code, or prints "softrl COMMAND: message" on `err` and returns the
// code of the exception it threw.
int guarded(const char* command, const std::function<int()>& body, std::ostream& err);

}  // namespace softrl::apps
