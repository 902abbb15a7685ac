#include "common/fork_join_pool.h"

#include <algorithm>
#include <chrono>

namespace softrl {
namespace {
// How long an idle worker spins before it sleeps: longer than the gap between two vector steps
// (the policy's forward pass in between), shorter than a learner's update phase.
constexpr auto kSpin = std::chrono::microseconds(2000);

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

ForkJoinPool::ForkJoinPool(int threads, const std::function<void()>& on_start)
    : blocks_(static_cast<size_t>(std::max(1, threads))) {
  for (int t = 1; t < threads; ++t)
    workers_.emplace_back([this, on_start, t] {
      if (on_start) on_start();
      worker(t);
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

void ForkJoinPool::work(int self) {
  const size_t p = blocks_.size();
  for (size_t k = 0; k < p; ++k) {
    Block& b = blocks_[(static_cast<size_t>(self) + k) % p];
    for (int64_t i = b.next.fetch_add(1, std::memory_order_relaxed); i < b.end;
         i = b.next.fetch_add(1, std::memory_order_relaxed))
      (*f_)(i);
  }
  blocks_[static_cast<size_t>(self)].finished_ns = now_ns();  // published by busy_'s release (workers) or read by self
}

void ForkJoinPool::run(int64_t n, const std::function<void(int64_t)>& f) {
  if (workers_.empty() || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  f_ = &f;
  const int64_t start_ns = now_ns();
  const int64_t p = static_cast<int64_t>(blocks_.size());
  for (int64_t t = 0; t < p; ++t) {
    blocks_[static_cast<size_t>(t)].next.store(n * t / p, std::memory_order_relaxed);
    blocks_[static_cast<size_t>(t)].end = n * (t + 1) / p;
  }
  busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Publishing under the mutex: a worker about to sleep either sees the new generation or is
    // woken by the notify.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  work(0);
  while (busy_.load(std::memory_order_acquire) > 0) pause();
  int64_t last = 0;
  for (const Block& b : blocks_) last = std::max(last, b.finished_ns);
  ++stats_.calls;
  stats_.seconds += 1e-9 * static_cast<double>(last - start_ns);
  for (const Block& b : blocks_) stats_.idle_thread_seconds += 1e-9 * static_cast<double>(last - b.finished_ns);
}

void ForkJoinPool::worker(int self) {
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
    work(self);
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace softrl
