#pragma once
// A small fork-join pool: run(n, f) calls f(i) for every i in [0, n) on `threads` threads, the
// caller being one of them. [0, n) is cut into one contiguous block per thread, which that thread
// works through first, one index at a time, and then helps with the others' blocks (an env that
// resets costs more than one that steps): from call to call the same indices meet the same thread,
// so a vector env's envs stay in one core's cache and neighbouring envs' results are written by
// one core. Between calls the workers spin for a while before they sleep: a vector env
// steps every ~0.1-0.5 ms and the SAC update forks five times per update, and waking a sleeping
// thread each time (what the passive OpenMP wait that softrl runs under does) cost a quarter of
// the second core. Its own pool leaves LibTorch's OpenMP setting alone; `on_start` runs first in
// each worker thread (e.g. to give it LibTorch's current intra-op thread count).
// It keeps the time its participants wait at the join (join_stats): with one env per index, that
// is the tail of a synchronous step, one thread's last env still running while the other has none
// left, which no scheduling of whole envs removes.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace softrl {

class ForkJoinPool {
 public:
  explicit ForkJoinPool(int threads, const std::function<void()>& on_start = {});
  ~ForkJoinPool();
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // f must not throw (the vector env catches per env, the SAC update has nothing that throws).
  void run(int64_t n, const std::function<void(int64_t)>& f);

  // Over the calls that ran on more than one thread since construction: their wall-clock and the
  // thread-seconds spent waiting at the join (for each participant, from the moment it found no
  // index left to the last participant's finish).
  struct JoinStats {
    int64_t calls = 0;
    double seconds = 0, idle_thread_seconds = 0;
  };
  JoinStats join_stats() const { return stats_; }

 private:
  void work(int self);
  void worker(int self);

  // One participant's block of indices; a cache line each, so that claims do not collide.
  struct alignas(64) Block {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
    int64_t finished_ns = 0;  // steady clock, when its thread found no index left in this call
  };

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> busy_{0};   // workers still inside the current call
  std::vector<Block> blocks_;  // one per thread, the caller's first
  std::atomic<int> sleepers_{0};
  const std::function<void(int64_t)>* f_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  JoinStats stats_;
};

}  // namespace softrl
