#pragma once
// SIGINT, SIGTERM and SIGHUP ask long work (a run, a collection) to save what it has and stop;
// SIGPIPE is ignored (a closed pipe on stdout must not kill a run before it saves).
namespace softrl::apps {

void install_interrupt_handlers();
// The signal that arrived since the last clear (0: none).
int pending_signal();
void clear_pending_signal();

}  // namespace softrl::apps
