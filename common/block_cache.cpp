#include "common/block_cache.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <mutex>
#include <unordered_map>
#include <vector>

namespace softrl {
namespace {

constexpr size_t kMinCached = size_t{1} << 20;
constexpr size_t kMaxCachedBytes = size_t{1} << 30;

class BlockCache final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p = n >= kMinCached ? take(n) : nullptr;
    if (p == nullptr) p = fresh(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static void* take(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(n);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= n;
    ++hits_;
    return p;
  }
  static void* fresh(size_t n) {
    void* p = nullptr;
    try {
      p = c10::alloc_cpu(n);
    } catch (const c10::Error&) {
      purge();  // memory held for reuse is the first thing to give back
      p = c10::alloc_cpu(n);
    }
    if (n >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      size_of_[p] = n;
    }
    return p;
  }
  // A freed block is kept for reuse; when the cache is full, blocks of other sizes make room
  // (the sizes in use change as a program moves on: a benchmark's next shape, a learner's next
  // phase), so the sizes freed most recently are the ones held.
  static void release(void* p) {
    if (p == nullptr) return;
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = size_of_.find(p);
      if (it != size_of_.end() && it->second <= kMaxCachedBytes) {
        const size_t n = it->second;
        for (auto f = free_.begin(); cached_ + n > kMaxCachedBytes && f != free_.end(); ++f) {
          if (f->first == n) continue;
          while (!f->second.empty() && cached_ + n > kMaxCachedBytes) {
            drop.push_back(f->second.back()), size_of_.erase(f->second.back());
            f->second.pop_back();
            cached_ -= f->first;
          }
        }
        if (cached_ + n <= kMaxCachedBytes) {
          free_[n].push_back(p);
          cached_ += n;
          p = nullptr;
        } else {
          size_of_.erase(it);
        }
      } else if (it != size_of_.end()) {
        size_of_.erase(it);
      }
    }
    for (void* q : drop) c10::free_cpu(q);
    if (p != nullptr) c10::free_cpu(p);
  }
  static void purge() {
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [n, blocks] : free_)
        for (void* p : blocks) drop.push_back(p), size_of_.erase(p);
      free_.clear();
      cached_ = 0;
    }
    for (void* p : drop) c10::free_cpu(p);
  }

  static inline std::mutex mu_;
  static inline std::unordered_map<size_t, std::vector<void*>> free_;  // size -> cached blocks
  static inline std::unordered_map<void*, size_t> size_of_;            // every live or cached large block
  static inline size_t cached_ = 0;
  static inline size_t hits_ = 0;

 public:
  static BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {cached_, hits_};
  }
};

}  // namespace

BlockCacheStats block_cache_stats() { return BlockCache::stats(); }

void install_block_cache() {
  static BlockCache cache;
  static const bool installed = [] {
    c10::SetCPUAllocator(&cache, /*priority=*/1);
    return true;
  }();
  (void)installed;
}

}  // namespace softrl
