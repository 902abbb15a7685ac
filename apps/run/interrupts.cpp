#include "apps/run/interrupts.h"

#include <csignal>

#include "common/interrupts.h"

namespace softrl::apps {
namespace {
extern "C" void on_signal(int signal) { note_signal(signal); }
}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace softrl::apps
