#pragma once
// FNV-1a, 64 bits (Fowler, Noll and Vo): a fast non-cryptographic checksum, used where a file's
// bytes must be recognised again (checkpoint payloads, the data files a distributed run names).
#include <cstddef>
#include <cstdint>

namespace softrl {

class Fnv1a {
 public:
  void update(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) hash_ = (hash_ ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 1469598103934665603ull;
};

inline uint64_t fnv1a(const char* data, size_t n) {
  Fnv1a h;
  h.update(data, n);
  return h.value();
}

}  // namespace softrl
