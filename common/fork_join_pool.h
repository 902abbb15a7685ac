#pragma once
// A small fork-join pool: run(n, f) calls f(i) for every i in [0, n) on `threads` threads, the
// caller being one of them, indices handed out one at a time (an env that resets costs more than
// one that steps). Between calls the workers spin for a while before they sleep: a vector env
// steps every ~0.1-0.5 ms and the SAC update forks five times per update, and waking a sleeping
// thread each time (what the passive OpenMP wait that softrl runs under does) cost a quarter of
// the second core. Its own pool leaves LibTorch's OpenMP setting alone; `on_start` runs first in
// each worker thread (e.g. to give it LibTorch's current intra-op thread count).
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

 private:
  void work();
  void worker();

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> busy_{0};        // workers still inside the current call
  std::atomic<int64_t> next_{0};    // the next index to hand out
  std::atomic<int> sleepers_{0};
  int64_t n_ = 0;
  const std::function<void(int64_t)>* f_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace softrl
