#pragma once
// The request to stop long work, raised by a signal (SIGINT, SIGTERM, SIGHUP: apps/run/interrupts
// installs the handlers) and read at safe points. A phase that may run for minutes inside one
// iteration (a reference policy's behaviour cloning, a collection of episodes) polls it and throws
// StopRequested before it changes what a checkpoint holds, so the run saves the state it had
// before that iteration and resumes into the same work.
namespace softrl {

struct StopRequested {};

// The signal that arrived since the last clear (0: none).
int pending_signal();
void clear_pending_signal();
// Async-signal-safe: what a handler calls.
void note_signal(int signal);

}  // namespace softrl
