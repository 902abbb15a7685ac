// AVX2+FMA kernels. Compiled with -mavx2 -mfma and called only after the run-time CPU check;
// this file therefore uses no inline library templates (std::max & co.) that the linker could
// share with the portable code, only intrinsics and C library calls.
//
// Long rows (cols > kShortCols) use the online softmax of Milakov & Gimelshein (2018, arXiv
// 1805.02867): one read of the row keeps, per lane, the running maximum M and the sum of
// exp((x - M) * scale), rescaled when M grows (once per block of vectors). The terms are exact
// differences x - M (accuracy does not depend on |x|), and they are summed in double, so the sum's
// error does not grow with the row's length. log-sum-exp takes one read; log_softmax and softmax
// one more read and a write. (An earlier version used the Two-Pass algorithm of Dukhan &
// Ablavatski, 2020, which needs no max but evaluates exp(x * scale) unshifted: its log_softmax
// carried an absolute error of u * |lse|.) Short rows (RL shapes: batch x 2..16 actions) are
// vectorized across 8 rows at a time.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "objectives/kernels/row_kernels.h"
#include "objectives/kernels/simd_common.h"

namespace softrl::kernels::avx2 {
namespace {

constexpr int64_t kShortCols = 16;
constexpr float kNegInf = -__builtin_inff();
constexpr float kXFloor = -2097152.0f;  // -2^21: exp_ps clamps below -87.34 anyway

struct Ext {  // exp(x) = p * 2^n
  __m256 p;
  __m256 n;
};

inline Ext ext_exp(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(kXFloor), x);  // NaN in x propagates (second operand)
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 t = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  t = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), t);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kExpC5), t, _mm256_set1_ps(kExpC4));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kExpC3));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kExpC2));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kExpC1));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0f));
  return {p, n};
}

// 2^k for integral k in [-127, 127]; k = -127 gives exactly 0 (flushes negligible terms).
inline __m256 pow2(__m256 k) {
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_castsi256_ps(bits);
}

inline __m256 pow2_clamped(__m256 k) { return pow2(_mm256_max_ps(k, _mm256_set1_ps(-127.0f))); }

// exp(x) for x <= 88; exactly 0 below -87.33 (so exp(-inf) = 0); NaN propagates.
inline __m256 exp_ps(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(lo, x));
  const Ext e = ext_exp(xc);
  const __m256 y = _mm256_mul_ps(e.p, pow2(e.n));
  return _mm256_andnot_ps(under, y);
}

// Natural log for the row sums (x >= 1, or 0 for a dead row): x = 2^k * f with f in [2^-1/2, 2^1/2), log f = 2
// atanh((f-1)/(f+1)) by its odd series to z^9 (|z| <= 0.172, truncation < 4e-10). log(0) = -inf; NaN propagates.
inline __m256 log_ps(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  __m256i k = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  __m256 f = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
  const __m256 big = _mm256_cmp_ps(f, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
  f = _mm256_blendv_ps(f, _mm256_mul_ps(f, _mm256_set1_ps(0.5f)), big);
  k = _mm256_sub_epi32(k, _mm256_castps_si256(big));  // big lanes are -1 as integers
  const __m256 z = _mm256_div_ps(_mm256_sub_ps(f, _mm256_set1_ps(1.0f)), _mm256_add_ps(f, _mm256_set1_ps(1.0f)));
  const __m256 z2 = _mm256_mul_ps(z, z);
  __m256 poly = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 9.0f), z2, _mm256_set1_ps(1.0f / 7.0f));
  poly = _mm256_fmadd_ps(poly, z2, _mm256_set1_ps(1.0f / 5.0f));
  poly = _mm256_fmadd_ps(poly, z2, _mm256_set1_ps(1.0f / 3.0f));
  poly = _mm256_fmadd_ps(poly, z2, _mm256_set1_ps(1.0f));
  const __m256 logf_ = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), z), poly);
  __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k), _mm256_set1_ps(0.69314718f), logf_);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(kNegInf), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i tail_mask(int64_t remaining) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(remaining)), idx);
}

// Loads the tail of a row; lanes past the end read as -inf (no contribution).
inline __m256 load_tail(const float* p, int64_t remaining, float fill) {
  const __m256i m = tail_mask(remaining);
  const __m256 v = _mm256_maskload_ps(p, m);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(m));
}

// exp of two 4-lane halves, widened to double and added to (lo, hi).
inline void add_wide(__m256d& lo, __m256d& hi, __m256 v) {
  lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

inline double hsum_pd(__m256d v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

inline __m256 not_neg_inf_or(__m256 m) {  // M, or 0 where M = -inf (so -inf - 0 stays -inf)
  return _mm256_andnot_ps(_mm256_cmp_ps(m, _mm256_set1_ps(kNegInf), _CMP_EQ_OQ), m);
}

// exp(d) for d <= 0 (and NaN) without exp_ps's range checks: clamped at -88, where the exponent
// n = -127 makes pow2 exactly 0, so -inf and far entries add exactly 0 (results between -88 and
// -87.3, below FLT_MIN, may flush to 0).
inline __m256 exp_nonpos(__m256 d) {
  const Ext e = ext_exp(_mm256_max_ps(_mm256_set1_ps(-88.0f), d));  // NaN stays (second operand)
  return _mm256_mul_ps(e.p, pow2(e.n));
}

// Online accumulator (Milakov & Gimelshein), per lane: the running max m, how many entries equal
// it (ties), and the sum of exp((x - m) * scale) over the entries below it (float within a block
// of vectors, double across blocks), rescaled when m grows. Keeping the max's exact 1s out of the
// sum keeps S - 1, hence log S = log1p(S - 1), accurate for peaked rows. A NaN entry makes its
// lane's sum NaN (max_ps drops it, the sum does not).
struct Online {
  __m256 m = _mm256_set1_ps(kNegInf);
  __m256 ties = _mm256_setzero_ps();
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();

  template <int K>
  inline void add(const __m256 (&xs)[K], __m256 vs) {
    __m256 bm = m;
    for (int k = 0; k < K; ++k) bm = _mm256_max_ps(xs[k], bm);
    const __m256 shift = not_neg_inf_or(bm);
    // Lanes whose max grew: the old sum and the old ties rescale by f = exp((m - bm) * scale)
    // (f = 1 exactly where m did not grow, and the ties stay ties).
    const __m256 f = exp_nonpos(_mm256_mul_ps(_mm256_sub_ps(m, shift), vs));
    const __m256 grew = _mm256_cmp_ps(bm, m, _CMP_GT_OQ);
    lo = _mm256_mul_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
    hi = _mm256_mul_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
    __m256 part = _mm256_and_ps(grew, _mm256_mul_ps(ties, f));
    ties = _mm256_andnot_ps(grew, ties);
    for (int k = 0; k < K; ++k) {
      const __m256 at_max = _mm256_cmp_ps(xs[k], bm, _CMP_EQ_OQ);
      ties = _mm256_add_ps(ties, _mm256_and_ps(at_max, _mm256_set1_ps(1.0f)));
      part = _mm256_add_ps(part, _mm256_andnot_ps(at_max, exp_nonpos(_mm256_mul_ps(_mm256_sub_ps(xs[k], shift), vs))));
    }
    add_wide(lo, hi, part);
    m = bm;
  }
};

RowSum row_sum(const float* x, int64_t cols, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  Online a;
  int64_t j = 0;
  for (; j + 64 <= cols; j += 64) {
    // Neutral here (1.02-1.04x on Zen 5: this loop computes at ~7.6 GB/s per core, well below
    // memory speed); kept so that faster AVX2 cores stream like the AVX-512 kernel.
    for (int k = 0; k < 4; ++k)
      _mm_prefetch(reinterpret_cast<const char*>(x + j + kPrefetchAhead + 16 * k), _MM_HINT_T0);
    const __m256 b[8] = {_mm256_loadu_ps(x + j),      _mm256_loadu_ps(x + j + 8),  _mm256_loadu_ps(x + j + 16),
                         _mm256_loadu_ps(x + j + 24), _mm256_loadu_ps(x + j + 32), _mm256_loadu_ps(x + j + 40),
                         _mm256_loadu_ps(x + j + 48), _mm256_loadu_ps(x + j + 56)};
    a.add(b, vs);
  }
  for (; j + 8 <= cols; j += 8) {
    const __m256 b[1] = {_mm256_loadu_ps(x + j)};
    a.add(b, vs);
  }
  if (j < cols) {
    const __m256 b[1] = {load_tail(x + j, cols - j, kNegInf)};
    a.add(b, vs);
  }
  alignas(32) float m[8], ties[8], f[8];
  alignas(32) double small[8];
  _mm256_store_ps(m, a.m), _mm256_store_ps(ties, a.ties);
  _mm256_store_pd(small, a.lo), _mm256_store_pd(small + 4, a.hi);
  float big = kNegInf;
  for (int l = 0; l < 8; ++l) big = m[l] > big ? m[l] : big;
  const __m256 shift = _mm256_set1_ps(big == kNegInf ? 0.0f : big);
  _mm256_store_ps(f, exp_nonpos(_mm256_mul_ps(_mm256_sub_ps(a.m, shift), vs)));
  return merge_lanes<8>(m, ties, small, f, big);
}

// Writes f(x[j..j+8)) over a row, masked at the tail. Plain stores: streaming (non-temporal) ones,
// which skip the read for ownership, made long-row log_softmax and softmax 1.14-1.19x slower on
// this project's Zen 5 hosts (one binary holding both kernels, one and two threads).
template <class F>
inline void map_row(const float* x, float* out, int64_t cols, F f) {
  int64_t j = 0;
  for (; j + 8 <= cols; j += 8) _mm256_storeu_ps(out + j, f(_mm256_loadu_ps(x + j)));
  if (j < cols) _mm256_maskstore_ps(out + j, tail_mask(cols - j), f(load_tail(x + j, cols - j, kNegInf)));
}

// ---- short rows: 8 rows per step, column j of the 8 rows in one register ----

// Column j of rows r0..r0+nrows of a [*, cols] array into v[j]; lanes past nrows read `fill`.
// Full blocks of 4 columns (the RL shape: a batch of 4-action rows) are loaded as 4 vectors and
// transposed in registers, which leaves the lanes holding rows 0, 2, 4, 6, 1, 3, 5, 7 (returns
// true); other blocks are gathered in natural order (returns false). Per-row values go through
// rows_to_lanes / lanes_to_rows with the same flag, and store_columns undoes the layout.
inline bool load_columns(const float* base, int cols, int64_t nrows, float fill, __m256* v) {
  if (cols == 4 && nrows == 8) {
    const __m256 a0 = _mm256_loadu_ps(base), a1 = _mm256_loadu_ps(base + 8);
    const __m256 a2 = _mm256_loadu_ps(base + 16), a3 = _mm256_loadu_ps(base + 24);
    const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    const __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    v[0] = _mm256_shuffle_ps(t0, t2, 0x44), v[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    v[2] = _mm256_shuffle_ps(t1, t3, 0x44), v[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    return true;
  }
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(cols));
  const __m256 live = _mm256_castsi256_ps(tail_mask(nrows));
  for (int j = 0; j < cols; ++j) v[j] = _mm256_mask_i32gather_ps(_mm256_set1_ps(fill), base + j, idx, live, 4);
  return false;
}

inline void store_columns(float* base, int cols, int64_t nrows, const __m256* v, bool transposed) {
  if (transposed) {  // the inverse of load_columns' transpose
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    _mm256_storeu_ps(base, _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_storeu_ps(base + 8, _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_storeu_ps(base + 16, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(base + 24, _mm256_shuffle_ps(t1, t3, 0xEE));
    return;
  }
  for (int j = 0; j < cols; ++j) {
    alignas(32) float t[8];
    _mm256_store_ps(t, v[j]);
    for (int64_t i = 0; i < nrows; ++i) base[i * cols + j] = t[i];
  }
}

// Lane k of a transposed block holds row kTransposedRow[k]; kRowLane[i] is row i's lane.
inline __m256 rows_to_lanes(const float* p, int64_t nrows, bool transposed) {
  if (!transposed) return _mm256_maskload_ps(p, tail_mask(nrows));
  return _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

inline void lanes_to_rows(float* p, int64_t nrows, __m256 v, bool transposed) {
  if (!transposed) return _mm256_maskstore_ps(p, tail_mask(nrows), v);
  _mm256_storeu_ps(p, _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// log(1 + z) for z >= 0 (few ulps): log(w) * z / (w - 1) with w = 1 + z corrects w's rounding.
inline __m256 log1p_ps(__m256 z) {
  const __m256 w = _mm256_add_ps(_mm256_set1_ps(1.0f), z);
  const __m256 wm1 = _mm256_sub_ps(w, _mm256_set1_ps(1.0f));
  const __m256 exact = _mm256_cmp_ps(wm1, _mm256_setzero_ps(), _CMP_EQ_OQ);
  const __m256 r = _mm256_mul_ps(log_ps(w), _mm256_div_ps(z, _mm256_blendv_ps(wm1, _mm256_set1_ps(1.0f), exact)));
  return _mm256_blendv_ps(r, z, exact);
}

struct ShortBlock {
  __m256 d[kShortCols];  // (x - M) * scale, column-major
  __m256 max;            // M (unscaled)
  __m256 log_sum;        // log sum exp(d)
  __m256 inv_sum;        // 1 / sum exp(d)
  __m256 dead;           // all-ones lanes for rows with no finite entry (or rows past the end)
  __m256 nan;            // all-ones lanes for rows with a NaN or +inf
  bool transposed;       // the lane order of load_columns
};

inline void load_short_block(RowsIn in, int64_t r0, int64_t nrows, ShortBlock& b) {
  const int cols = static_cast<int>(in.cols);
  const __m256 vs = _mm256_set1_ps(in.scale);
  __m256 xs[kShortCols];
  b.transposed = load_columns(in.x + r0 * in.cols, cols, nrows, kNegInf, xs);
  __m256 mx = _mm256_set1_ps(kNegInf), nan = _mm256_setzero_ps();
  for (int j = 0; j < cols; ++j) {
    mx = _mm256_max_ps(xs[j], mx);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(xs[j], xs[j], _CMP_UNORD_Q));
  }
  b.max = mx;
  b.dead = _mm256_cmp_ps(mx, _mm256_set1_ps(kNegInf), _CMP_EQ_OQ);
  b.nan = _mm256_or_ps(nan, _mm256_cmp_ps(mx, _mm256_set1_ps(__builtin_inff()), _CMP_EQ_OQ));
  const __m256 shift = _mm256_andnot_ps(b.dead, mx);
  // S - 1 without the max entry's exact 1 (keeps log S accurate near 0): the terms below 1,
  // plus one per extra tie of the max.
  __m256 ties = _mm256_set1_ps(-1.0f), small = _mm256_setzero_ps();
  for (int j = 0; j < cols; ++j) {
    b.d[j] = _mm256_mul_ps(_mm256_sub_ps(xs[j], shift), vs);
    const __m256 one = _mm256_cmp_ps(b.d[j], _mm256_setzero_ps(), _CMP_EQ_OQ);
    ties = _mm256_add_ps(ties, _mm256_and_ps(one, _mm256_set1_ps(1.0f)));
    small = _mm256_add_ps(small, _mm256_andnot_ps(one, exp_ps(b.d[j])));
  }
  const __m256 z = _mm256_add_ps(_mm256_max_ps(ties, _mm256_setzero_ps()), small);
  b.log_sum = log1p_ps(z);
  b.inv_sum = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), z));
}

template <class Emit>
void for_short_blocks(RowsIn in, Emit emit) {
  ShortBlock b;
  for (int64_t r0 = 0; r0 < in.rows; r0 += 8) {
    const int64_t nrows = in.rows - r0 < 8 ? in.rows - r0 : 8;
    load_short_block(in, r0, nrows, b);
    emit(r0, nrows, b);
  }
}

inline __m256 special(__m256 v, const ShortBlock& b, float dead_value) {
  v = _mm256_blendv_ps(v, _mm256_set1_ps(dead_value), b.dead);
  return _mm256_blendv_ps(v, _mm256_set1_ps(__builtin_nanf("")), b.nan);
}

// Backward over short rows: y and g loaded as columns (8 rows per step), f(y_j, g_j, row
// reduction) stored as columns. `reduce` sums term(y_j, g_j) over a row in float (at most 16 terms).
template <class Term, class Out>
void short_backward(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float fill, Term term,
                    Out out) {
  const int c = static_cast<int>(cols);
  __m256 ys[kShortCols], gs[kShortCols];
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const int64_t nrows = rows - r0 < 8 ? rows - r0 : 8;
    const bool transposed = load_columns(y + r0 * cols, c, nrows, fill, ys);
    load_columns(g + r0 * cols, c, nrows, 0.0f, gs);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < c; ++j) sum = _mm256_add_ps(sum, term(ys[j], gs[j]));
    for (int j = 0; j < c; ++j) gs[j] = out(ys[j], gs[j], sum);
    store_columns(gx + r0 * cols, c, nrows, gs, transposed);
  }
}

}  // namespace

void logsumexp_rows(RowsIn in, float* lse, float* shift, float* log_sum) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      const __m256 v = _mm256_fmadd_ps(_mm256_andnot_ps(b.dead, b.max), _mm256_set1_ps(in.scale), b.log_sum);
      lanes_to_rows(lse + r0, nrows, special(v, b, kNegInf), b.transposed);
      if (shift) {
        lanes_to_rows(shift + r0, nrows, _mm256_blendv_ps(b.max, _mm256_set1_ps(__builtin_nanf("")), b.nan),
                      b.transposed);
        lanes_to_rows(log_sum + r0, nrows, special(b.log_sum, b, kNegInf), b.transposed);
      }
    });
    return;
  }
  logsumexp_of_rows(in, lse, shift, log_sum, row_sum);
}

void log_softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      __m256 out[kShortCols];
      for (int64_t j = 0; j < in.cols; ++j) out[j] = special(_mm256_sub_ps(b.d[j], b.log_sum), b, kNegInf);
      store_columns(y + r0 * in.cols, static_cast<int>(in.cols), nrows, out, b.transposed);
    });
    return;
  }
  const __m256 vs = _mm256_set1_ps(in.scale);
  map_rows(in, y, kNegInf, row_sum, [&](const float* x, float* out, const RowSum& s) {
    const __m256 m = _mm256_set1_ps(s.max), l = _mm256_set1_ps(static_cast<float>(s.log_sum));
    map_row(x, out, in.cols, [&](__m256 v) { return _mm256_fmsub_ps(_mm256_sub_ps(v, m), vs, l); });
  });
}

void softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      __m256 out[kShortCols];
      for (int64_t j = 0; j < in.cols; ++j) out[j] = special(_mm256_mul_ps(exp_ps(b.d[j]), b.inv_sum), b, 0.0f);
      store_columns(y + r0 * in.cols, static_cast<int>(in.cols), nrows, out, b.transposed);
    });
    return;
  }
  const __m256 vs = _mm256_set1_ps(in.scale);
  map_rows(in, y, 0.0f, row_sum, [&](const float* x, float* out, const RowSum& s) {
    const __m256 m = _mm256_set1_ps(s.max);
    const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / exp(s.log_sum)));
    map_row(x, out, in.cols,
            [&](__m256 v) { return _mm256_mul_ps(exp_nonpos(_mm256_mul_ps(_mm256_sub_ps(v, m), vs)), inv); });
  });
}

void logsumexp_backward_rows(RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx) {
  const __m256 vs = _mm256_set1_ps(in.scale);
  if (in.cols <= kShortCols && in.cols > 0) {
    const int c = static_cast<int>(in.cols);
    __m256 xs[kShortCols];
    for (int64_t r0 = 0; r0 < in.rows; r0 += 8) {
      const int64_t nrows = in.rows - r0 < 8 ? in.rows - r0 : 8;
      const bool transposed = load_columns(in.x + r0 * in.cols, c, nrows, kNegInf, xs);
      const __m256 m = rows_to_lanes(shift + r0, nrows, transposed);
      const __m256 l = rows_to_lanes(log_sum + r0, nrows, transposed);
      const __m256 gs = _mm256_mul_ps(rows_to_lanes(g + r0, nrows, transposed), vs);
      const __m256 dead = _mm256_cmp_ps(m, _mm256_set1_ps(kNegInf), _CMP_EQ_OQ);
      for (int j = 0; j < c; ++j)
        xs[j] = _mm256_andnot_ps(dead, _mm256_mul_ps(gs, exp_nonpos(_mm256_fmsub_ps(_mm256_sub_ps(xs[j], m), vs, l))));
      store_columns(gx + r0 * in.cols, c, nrows, xs, transposed);
    }
    return;
  }
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = gx + r * in.cols;
    if (shift[r] == kNegInf) {
      fill_row(out, in.cols, 0.0f);
      continue;
    }
    const __m256 vgs = _mm256_set1_ps(g[r] * in.scale);
    const __m256 m = _mm256_set1_ps(shift[r]), l = _mm256_set1_ps(log_sum[r]);
    int64_t j = 0;
    for (; j + 8 <= in.cols; j += 8)
      _mm256_storeu_ps(
          out + j, _mm256_mul_ps(vgs, exp_nonpos(_mm256_fmsub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), m), vs, l))));
    if (j < in.cols) {
      const __m256 v = load_tail(x + j, in.cols - j, kNegInf);
      _mm256_maskstore_ps(out + j, tail_mask(in.cols - j),
                          _mm256_mul_ps(vgs, exp_nonpos(_mm256_fmsub_ps(_mm256_sub_ps(v, m), vs, l))));
    }
  }
}

void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  const __m256 ninf = _mm256_set1_ps(kNegInf);
  const __m256 vs = _mm256_set1_ps(scale);
  if (cols <= kShortCols && cols > 0) {
    return short_backward(
        y, g, gx, rows, cols, kNegInf,
        [&](__m256 yv, __m256 gv) { return _mm256_andnot_ps(_mm256_cmp_ps(yv, ninf, _CMP_EQ_OQ), gv); },
        [&](__m256 yv, __m256 gv, __m256 sum) {
          const __m256 d = _mm256_fnmadd_ps(exp_nonpos(yv), sum, gv);
          return _mm256_andnot_ps(_mm256_cmp_ps(yv, ninf, _CMP_EQ_OQ), _mm256_mul_ps(vs, d));
        });
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const __m256 dead = _mm256_cmp_ps(_mm256_loadu_ps(yr + j), ninf, _CMP_EQ_OQ);
      add_wide(lo, hi, _mm256_andnot_ps(dead, _mm256_loadu_ps(gr + j)));
    }
    double gsum = hsum_pd(_mm256_add_pd(lo, hi));
    for (int64_t k = j; k < cols; ++k) gsum += yr[k] == kNegInf ? 0.0 : gr[k];
    const __m256 vsum = _mm256_set1_ps(static_cast<float>(gsum));
    for (j = 0; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 dead = _mm256_cmp_ps(yv, ninf, _CMP_EQ_OQ);
      const __m256 d = _mm256_fnmadd_ps(exp_nonpos(yv), vsum, _mm256_loadu_ps(gr + j));
      _mm256_storeu_ps(out + j, _mm256_andnot_ps(dead, _mm256_mul_ps(vs, d)));
    }
    for (; j < cols; ++j) out[j] = yr[j] == kNegInf ? 0.0f : scale * (gr[j] - expf(yr[j]) * static_cast<float>(gsum));
  }
}

void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 vs = _mm256_set1_ps(scale);
  if (cols <= kShortCols && cols > 0) {
    return short_backward(
        y, g, gx, rows, cols, 0.0f,
        [&](__m256 yv, __m256 gv) {
          return _mm256_andnot_ps(_mm256_cmp_ps(yv, zero, _CMP_EQ_OQ), _mm256_mul_ps(yv, gv));
        },
        [&](__m256 yv, __m256 gv, __m256 dot) {
          const __m256 d = _mm256_mul_ps(_mm256_mul_ps(vs, yv), _mm256_sub_ps(gv, dot));
          return _mm256_andnot_ps(_mm256_cmp_ps(yv, zero, _CMP_EQ_OQ), d);
        });
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 zero_p = _mm256_cmp_ps(yv, zero, _CMP_EQ_OQ);
      add_wide(lo, hi, _mm256_andnot_ps(zero_p, _mm256_mul_ps(yv, _mm256_loadu_ps(gr + j))));
    }
    double dot = hsum_pd(_mm256_add_pd(lo, hi));
    for (int64_t k = j; k < cols; ++k) dot += yr[k] == 0.0f ? 0.0 : static_cast<double>(gr[k]) * yr[k];
    const __m256 vdot = _mm256_set1_ps(static_cast<float>(dot));
    for (j = 0; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 zero_p = _mm256_cmp_ps(yv, zero, _CMP_EQ_OQ);
      const __m256 d = _mm256_mul_ps(_mm256_mul_ps(vs, yv), _mm256_sub_ps(_mm256_loadu_ps(gr + j), vdot));
      _mm256_storeu_ps(out + j, _mm256_andnot_ps(zero_p, d));
    }
    for (; j < cols; ++j) out[j] = yr[j] == 0.0f ? 0.0f : scale * yr[j] * (gr[j] - static_cast<float>(dot));
  }
}

}  // namespace softrl::kernels::avx2
