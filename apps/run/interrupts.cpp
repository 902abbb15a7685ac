#include "apps/run/interrupts.h"

#include <atomic>
#include <csignal>

namespace softrl::apps {
namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int signal) { g_signal.store(signal); }
}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
}

int pending_signal() { return g_signal.load(); }
void clear_pending_signal() { g_signal.store(0); }

}  // namespace softrl::apps
