#include "common/fork_join_pool.h"

#include <chrono>

namespace softrl {
namespace {
// How long an idle worker spins before it sleeps: longer than the gap between two vector steps
// (the policy's forward pass in between), shorter than a learner's update phase.
constexpr auto kSpin = std::chrono::microseconds(2000);

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

ForkJoinPool::ForkJoinPool(int threads, const std::function<void()>& on_start) {
  for (int t = 1; t < threads; ++t)
    workers_.emplace_back([this, on_start] {
      if (on_start) on_start();
      worker();
    });
}

ForkJoinPool::~ForkJoinPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ForkJoinPool::work() {
  for (int64_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n_; i = next_.fetch_add(1, std::memory_order_relaxed))
    (*f_)(i);
}

void ForkJoinPool::run(int64_t n, const std::function<void(int64_t)>& f) {
  if (workers_.empty() || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  n_ = n;
  f_ = &f;
  next_.store(0, std::memory_order_relaxed);
  busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Publishing under the mutex: a worker about to sleep either sees the new generation or is
    // woken by the notify.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  work();
  while (busy_.load(std::memory_order_acquire) > 0) pause();
}

void ForkJoinPool::worker() {
  uint64_t seen = 0;
  while (true) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      pause();
      if (++spins % 256 == 0 && std::chrono::steady_clock::now() > until) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_acq_rel);
        wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
        if (stop_) return;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    work();
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace softrl
