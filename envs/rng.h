#pragma once
// The tasks' random stream: std::mt19937_64 with NumPy-like helpers (Gymnasium draws with
// NumPy's PCG64; bit-exact terrains would need PCG64 + SeedSequence, and
// are not reproduced - scores are statistically equivalent instead).
#include <cmath>
#include <cstdint>
#include <deque>
#include <random>

namespace softrl::envs {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : gen_(seed) {}
  void seed(uint64_t s) {
    gen_.seed(s);
    draws_ = 0;
  }
  // U[0, 1) with 53 random bits.
  double random() {
    ++draws_;
    if (!script_.empty()) {
      const double v = script_.front();
      script_.pop_front();
      return v;
    }
    return static_cast<double>(gen_() >> 11) * 0x1.0p-53;
  }
  // Tests: the next random() values, in order, before the generator resumes.
  void script(std::deque<double> values) { script_ = std::move(values); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * random(); }
  // Integer in [lo, hi) like NumPy's Generator.integers: a range of one value draws nothing.
  int64_t integers(int64_t lo, int64_t hi) {
    const uint64_t n = static_cast<uint64_t>(hi - lo);
    if (n <= 1) return lo;
    return lo + static_cast<int64_t>(random() * static_cast<double>(n));
  }
  // N(0, 1) by Box-Muller from two random() draws (the second value is not cached, so each call
  // costs exactly two draws).
  double normal() {
    const double u1 = 1.0 - random(), u2 = random();  // u1 in (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Number of draws since the last seed (tests check the per-reset / per-step counts).
  uint64_t draws() const { return draws_; }

 private:
  std::mt19937_64 gen_;
  std::deque<double> script_;
  uint64_t draws_ = 0;
};

}  // namespace softrl::envs
