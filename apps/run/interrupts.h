#pragma once
// SIGINT, SIGTERM and SIGHUP ask long work (a run, a collection) to save what it has and stop
// (common/interrupts.h: the request and how work reads it); SIGPIPE is ignored (a closed pipe on
// stdout must not kill a run before it saves).
#include "common/interrupts.h"

namespace softrl::apps {

void install_interrupt_handlers();

}  // namespace softrl::apps
