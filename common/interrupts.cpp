#include "common/interrupts.h"

#include <atomic>

namespace softrl {
namespace {
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");
}  // namespace

int pending_signal() { return g_signal.load(); }
void clear_pending_signal() { g_signal.store(0); }
void note_signal(int signal) { g_signal.store(signal); }

}  // namespace softrl
