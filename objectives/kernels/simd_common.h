#pragma once
// What the SIMD kernel files share: the merge of per-lane online-softmax accumulators into one
// row's (max, log-sum), the per-row frames of the long-row kernels, the prefetch distance and the
// exp constants.
// Internal linkage on purpose: each file compiles its own copy with its own instruction set, so the
// linker never hands AVX-512 code to a CPU without it.
#include <cmath>
#include <cstdint>

#include "objectives/kernels/row_kernels.h"

namespace softrl::kernels {
namespace {

struct RowSum {
  float max;       // M (unscaled); -inf: dead row; NaN: the row holds a NaN or +inf
  double log_sum;  // log sum_j exp((x_j - M) * scale)
  bool dead() const { return max == -__builtin_inff(); }
};

// Lane l saw the maximum m[l] ties[l] times, and below it a sum small[l] of exp((x - m[l]) * scale);
// big = max_l m[l] and f[l] = exp((m[l] - big) * scale) come from the caller's SIMD exp (a libm
// exp per lane cost as much as the rest of a 1000-entry row). S - 1 = (ties at big - 1) + the
// rest, rescaled in double, so that log S = log1p(S - 1) stays accurate when S is close to 1.
template <int L>
inline RowSum merge_lanes(const float* m, const float* ties, const double* small, const float* f, float big) {
  double check = 0.0;
  for (int l = 0; l < L; ++l) check += small[l];
  if (check != check || big == __builtin_inff()) return {__builtin_nanf(""), __builtin_nan("")};
  if (big == -__builtin_inff()) return {big, -__builtin_inf()};
  double rest = -1.0, below = 0.0;
  for (int l = 0; l < L; ++l) {
    if (m[l] == big) rest += ties[l], below += small[l];
    else below += (ties[l] + small[l]) * f[l];  // f = 0 for lanes that saw only -inf
  }
  return {big, log1p(rest + below)};
}

// How far ahead (in floats: 4 KB) the long-row online sums ask for the row (prefetcht0). The sum
// computes long enough per block that the hardware prefetcher alone let memory and compute take
// turns: the AVX-512 sum ran at 0.25 ns per entry per core from memory against 0.155 from L1 and
// 0.13 for a plain read; asking 4 KB ahead gave 1.23-1.37x (16 KB the same or less, into L2 only
// less).
constexpr int64_t kPrefetchAhead = 1024;

inline void fill_row(float* out, int64_t cols, float v) {
  for (int64_t j = 0; j < cols; ++j) out[j] = v;
}

// logsumexp of long rows from the file's row_sum(x, cols, scale) -> RowSum.
template <class RowSumFn>
inline void logsumexp_of_rows(RowsIn in, float* lse, float* shift, float* log_sum, RowSumFn row_sum) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const RowSum s = row_sum(in.x + r * in.cols, in.cols, in.scale);
    lse[r] = s.dead() ? -__builtin_inff() : static_cast<float>(static_cast<double>(s.max) * in.scale + s.log_sum);
    if (shift) shift[r] = s.max, log_sum[r] = static_cast<float>(s.log_sum);
  }
}

// A log_softmax or softmax row that needs no output pass: a row with nothing included is filled
// with dead_value, a row holding a NaN (or +inf) with NaN. False for the others.
inline bool filled_without_pass(const RowSum& s, float* out, int64_t cols, float dead_value) {
  if (!s.dead() && s.max == s.max) return false;
  fill_row(out, cols, s.dead() ? dead_value : s.max);
  return true;
}

// The frame of log_softmax and softmax over long rows: rows filled_without_pass aside, each row is
// written by map(x, out, sum).
template <class RowSumFn, class MapFn>
inline void map_rows(RowsIn in, float* y, float dead_value, RowSumFn row_sum, MapFn map) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowSum s = row_sum(x, in.cols, in.scale);
    if (!filled_without_pass(s, out, in.cols, dead_value)) map(x, out, s);
  }
}

// exp on [-ln2/2, ln2/2] after the reduction x = n ln 2 + t: Cody-Waite split of ln 2 and a
// degree-5 minimax polynomial (the constants of XNNPACK's f32 exp kernels).
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62E43p-1f;
constexpr float kLn2Lo = -0x1.05C61p-29f;
constexpr float kExpC1 = 0x1.FFFFF6p-1f;
constexpr float kExpC2 = 0x1.FFFDC6p-2f;
constexpr float kExpC3 = 0x1.555A80p-3f;
constexpr float kExpC4 = 0x1.573A1Ap-5f;
constexpr float kExpC5 = 0x1.0F9F9Cp-7f;

}  // namespace
}  // namespace softrl::kernels
