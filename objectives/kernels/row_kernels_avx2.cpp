// AVX2+FMA kernels. Compiled with -mavx2 -mfma and called only after the run-time CPU check;
// this file therefore uses no inline library templates (std::max & co.) that the linker could
// share with the portable code, only intrinsics and C library calls.
//
// Long rows (cols > kShortCols) use the Two-Pass algorithm of Dukhan & Ablavatski (2020, arXiv 2001.04438):
// every exp(x) is kept as p * 2^n with p in [2^-1/2, 2^1/2], and the row sum as a running
// (mantissa, exponent) pair, so pass 1 needs no max pass and cannot overflow. It gives the
// log-sum-exp in one read of the row; log_softmax then needs one more read and a write, softmax
// recomputes (p, n) in its second pass. Short rows (RL shapes: batch x 2..16 actions) are
// vectorized across 8 rows at a time instead.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "objectives/kernels/row_kernels.h"

namespace softrl::kernels::avx2 {
namespace {

constexpr int64_t kShortCols = 16;
constexpr float kNegInf = -__builtin_inff();
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62E43p-1f;    // Cody-Waite split of ln 2 (XNNPACK constants)
constexpr float kLn2Lo = -0x1.05C61p-29f;
constexpr float kC1 = 0x1.FFFFF6p-1f;      // degree-5 minimax polynomial of exp on [-ln2/2, ln2/2]
constexpr float kC2 = 0x1.FFFDC6p-2f;
constexpr float kC3 = 0x1.555A80p-3f;
constexpr float kC4 = 0x1.573A1Ap-5f;
constexpr float kC5 = 0x1.0F9F9Cp-7f;
// Scaled logits are clamped below at kXFloor (so -inf becomes a finite value whose term is
// flushed to 0). A row whose largest exponent lies outside (kNLow, kNHigh) - a dead row, or
// one with |x * scale| beyond ~2e6 - is recomputed by the portable max-shifted code.
constexpr float kXFloor = -2097152.0f;  // -2^21
constexpr float kNLow = -3.0e6f;
constexpr float kNHigh = 3.0e6f;

struct Ext {  // exp(x) = p * 2^n
  __m256 p;
  __m256 n;
};

inline Ext ext_exp(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(kXFloor), x);  // NaN in x propagates (second operand)
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 t = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  t = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), t);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(kC5), t, _mm256_set1_ps(kC4));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kC3));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kC2));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kC1));
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

// Natural log for the row sums (x >= 1, or 0 for a dead row): x = 2^k * f with f in [2^-1/2, 2^1/2), log f = 2 atanh((f-1)/(f+1))
// by its odd series to z^9 (|z| <= 0.172, truncation < 4e-10). log(0) = -inf; NaN propagates.
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

// Pass 1 accumulator: sum = m * 2^e per lane. Terms are added a block of vectors at a time so
// that the accumulator is rescaled once per block, not once per element.
struct Acc {
  __m256 m = _mm256_setzero_ps();
  __m256 e = _mm256_set1_ps(kNLow * 2.0f);

  template <int K>
  inline void add(const __m256 (&xs)[K]) {
    Ext v[K];
    __m256 e_new = e;
    for (int k = 0; k < K; ++k) {
      v[k] = ext_exp(xs[k]);
      e_new = _mm256_max_ps(e_new, v[k].n);
    }
    m = _mm256_mul_ps(m, pow2_clamped(_mm256_sub_ps(e, e_new)));
    for (int k = 0; k < K; ++k) m = _mm256_fmadd_ps(v[k].p, pow2_clamped(_mm256_sub_ps(v[k].n, e_new)), m);
    e = e_new;
  }
};

struct RowSum {
  float m;  // mantissa of the row sum
  float e;  // exponent: sum = m * 2^e; e is also the largest per-element exponent
};

RowSum row_sum_ext(const float* x, int64_t cols, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  Acc a0, a1;
  int64_t j = 0;
  for (; j + 64 <= cols; j += 64) {
    const __m256 b0[4] = {_mm256_mul_ps(_mm256_loadu_ps(x + j), vs), _mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs),
                          _mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs),
                          _mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs)};
    const __m256 b1[4] = {_mm256_mul_ps(_mm256_loadu_ps(x + j + 32), vs),
                          _mm256_mul_ps(_mm256_loadu_ps(x + j + 40), vs),
                          _mm256_mul_ps(_mm256_loadu_ps(x + j + 48), vs),
                          _mm256_mul_ps(_mm256_loadu_ps(x + j + 56), vs)};
    a0.add(b0);
    a1.add(b1);
  }
  for (; j + 8 <= cols; j += 8) {
    const __m256 b[1] = {_mm256_mul_ps(_mm256_loadu_ps(x + j), vs)};
    a0.add(b);
  }
  if (j < cols) {
    const __m256 b[1] = {_mm256_mul_ps(load_tail(x + j, cols - j, kNegInf), vs)};
    a1.add(b);
  }

  // Merge the 16 lanes: E = max e, m = sum m_k 2^(e_k - E). A NaN mantissa stays NaN.
  __m256 e_max = _mm256_max_ps(a0.e, a1.e);
  e_max = _mm256_max_ps(e_max, _mm256_permute2f128_ps(e_max, e_max, 1));
  e_max = _mm256_max_ps(e_max, _mm256_shuffle_ps(e_max, e_max, _MM_SHUFFLE(1, 0, 3, 2)));
  e_max = _mm256_max_ps(e_max, _mm256_shuffle_ps(e_max, e_max, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m256 merged = _mm256_fmadd_ps(a0.m, pow2_clamped(_mm256_sub_ps(a0.e, e_max)),
                                        _mm256_mul_ps(a1.m, pow2_clamped(_mm256_sub_ps(a1.e, e_max))));
  const float m = hsum(merged);
  const float e = _mm256_cvtss_f32(e_max);
  return {m, e};
}

// Rows this long are written with streaming stores: the output will not be read back soon and
// skipping the read-for-ownership saves a third of the memory traffic.
constexpr int64_t kStreamCols = 1 << 16;
inline bool stream_row(const float* out, int64_t cols) {
  return cols >= kStreamCols && (reinterpret_cast<uintptr_t>(out) & 31) == 0;
}

inline bool in_fast_domain(RowSum s) { return s.e > kNLow && s.e < kNHigh; }

inline float lse_of(RowSum s) {
  return static_cast<float>(static_cast<double>(s.e) * 0.69314718055994530942 + log(static_cast<double>(s.m)));
}

RowsIn one_row(RowsIn in, int64_t r) { return {in.x + r * in.cols, 1, in.cols, in.scale}; }

// ---- short rows: 8 rows per step, column j of the 8 rows gathered into one register ----

struct ShortBlock {
  __m256 xs[kShortCols];  // scaled logits, column-major
  __m256 lse;
  __m256 dead;  // all-ones lanes for rows with no finite entry (or rows past the end)
};

inline void load_short_block(RowsIn in, int64_t r0, int64_t nrows, ShortBlock& b) {
  const int cols = static_cast<int>(in.cols);
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(cols));
  const __m256 live = _mm256_castsi256_ps(tail_mask(nrows));
  const __m256 vs = _mm256_set1_ps(in.scale);
  const float* base = in.x + r0 * in.cols;
  __m256 mx = _mm256_set1_ps(kNegInf);
  for (int j = 0; j < cols; ++j) {
    const __m256 v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base + j, idx, live, 4);
    b.xs[j] = _mm256_mul_ps(v, vs);
    mx = _mm256_max_ps(b.xs[j], mx);
  }
  b.dead = _mm256_cmp_ps(mx, _mm256_set1_ps(kNegInf), _CMP_EQ_OQ);
  const __m256 shift = _mm256_andnot_ps(b.dead, mx);
  __m256 sum = _mm256_setzero_ps();
  for (int j = 0; j < cols; ++j) sum = _mm256_add_ps(sum, exp_ps(_mm256_sub_ps(b.xs[j], shift)));
  b.lse = _mm256_add_ps(shift, log_ps(sum));  // log(0) = -inf for dead rows
}

inline void store_column(float* out, int64_t cols, int64_t nrows, __m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  for (int64_t i = 0; i < nrows; ++i) out[i * cols] = t[i];
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

}  // namespace

void logsumexp_rows(RowsIn in, float* lse) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      store_column(lse + r0, 1, nrows, b.lse);
    });
    return;
  }
  for (int64_t r = 0; r < in.rows; ++r) {
    const RowSum s = row_sum_ext(in.x + r * in.cols, in.cols, in.scale);
    if (in_fast_domain(s)) lse[r] = lse_of(s);
    else scalar::logsumexp_rows(one_row(in, r), lse + r);
  }
}

void log_softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      for (int64_t j = 0; j < in.cols; ++j) {
        const __m256 v = _mm256_blendv_ps(_mm256_sub_ps(b.xs[j], b.lse), _mm256_set1_ps(kNegInf), b.dead);
        store_column(y + r0 * in.cols + j, in.cols, nrows, v);
      }
    });
    return;
  }
  const __m256 vs = _mm256_set1_ps(in.scale);
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowSum s = row_sum_ext(x, in.cols, in.scale);
    if (!in_fast_domain(s)) {
      scalar::log_softmax_rows(one_row(in, r), out);
      continue;
    }
    const float lse_s = lse_of(s);
    const __m256 lse = _mm256_set1_ps(lse_s);
    int64_t j = 0;
    if (stream_row(out, in.cols)) {
      for (; j + 8 <= in.cols; j += 8) _mm256_stream_ps(out + j, _mm256_fmsub_ps(_mm256_loadu_ps(x + j), vs, lse));
      _mm_sfence();
    }
    for (; j + 8 <= in.cols; j += 8)
      _mm256_storeu_ps(out + j, _mm256_fmsub_ps(_mm256_loadu_ps(x + j), vs, lse));
    for (; j < in.cols; ++j) out[j] = fmaf(x[j], in.scale, -lse_s);
  }
}

void softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols && in.cols > 0) {
    for_short_blocks(in, [&](int64_t r0, int64_t nrows, const ShortBlock& b) {
      const __m256 shift = _mm256_andnot_ps(b.dead, b.lse);  // dead rows: exp(-inf - 0) = 0
      for (int64_t j = 0; j < in.cols; ++j)
        store_column(y + r0 * in.cols + j, in.cols, nrows, exp_ps(_mm256_sub_ps(b.xs[j], shift)));
    });
    return;
  }
  const __m256 vs = _mm256_set1_ps(in.scale);
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowSum s = row_sum_ext(x, in.cols, in.scale);
    if (!in_fast_domain(s)) {
      scalar::softmax_rows(one_row(in, r), out);
      continue;
    }
    const __m256 inv_m = _mm256_set1_ps(1.0f / s.m);
    const __m256 e_max = _mm256_set1_ps(s.e);
    auto scaled = [&](__m256 xv) {
      const Ext v = ext_exp(_mm256_mul_ps(xv, vs));
      return _mm256_mul_ps(_mm256_mul_ps(v.p, inv_m), pow2_clamped(_mm256_sub_ps(v.n, e_max)));
    };
    int64_t j = 0;
    if (stream_row(out, in.cols)) {
      for (; j + 8 <= in.cols; j += 8) _mm256_stream_ps(out + j, scaled(_mm256_loadu_ps(x + j)));
      _mm_sfence();
    }
    for (; j + 8 <= in.cols; j += 8) _mm256_storeu_ps(out + j, scaled(_mm256_loadu_ps(x + j)));
    if (j < in.cols) {
      const __m256i m = tail_mask(in.cols - j);
      _mm256_maskstore_ps(out + j, m, scaled(load_tail(x + j, in.cols - j, kNegInf)));
    }
  }
}

void logsumexp_backward_rows(RowsIn in, const float* lse, const float* g, float* gx) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = gx + r * in.cols;
    const float gs = lse[r] == kNegInf ? 0.0f : g[r] * in.scale;
    const __m256 vgs = _mm256_set1_ps(gs);
    const __m256 vs = _mm256_set1_ps(in.scale);
    const __m256 vl = _mm256_set1_ps(lse[r] == kNegInf ? 0.0f : lse[r]);
    int64_t j = 0;
    for (; j + 8 <= in.cols; j += 8)
      _mm256_storeu_ps(out + j, _mm256_mul_ps(vgs, exp_ps(_mm256_fmsub_ps(_mm256_loadu_ps(x + j), vs, vl))));
    if (j < in.cols) {
      const __m256i m = tail_mask(in.cols - j);
      const __m256 v = load_tail(x + j, in.cols - j, kNegInf);
      _mm256_maskstore_ps(out + j, m, _mm256_mul_ps(vgs, exp_ps(_mm256_fmsub_ps(v, vs, vl))));
    }
  }
}

void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                               float scale) {
  const __m256 ninf = _mm256_set1_ps(kNegInf);
  const __m256 vs = _mm256_set1_ps(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const __m256 dead = _mm256_cmp_ps(_mm256_loadu_ps(yr + j), ninf, _CMP_EQ_OQ);
      acc = _mm256_add_ps(acc, _mm256_andnot_ps(dead, _mm256_loadu_ps(gr + j)));
    }
    float gsum = hsum(acc);
    for (int64_t k = j; k < cols; ++k) gsum += yr[k] == kNegInf ? 0.0f : gr[k];
    const __m256 vsum = _mm256_set1_ps(gsum);
    for (j = 0; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 dead = _mm256_cmp_ps(yv, ninf, _CMP_EQ_OQ);
      const __m256 d = _mm256_fnmadd_ps(exp_ps(yv), vsum, _mm256_loadu_ps(gr + j));
      _mm256_storeu_ps(out + j, _mm256_andnot_ps(dead, _mm256_mul_ps(vs, d)));
    }
    for (; j < cols; ++j) out[j] = yr[j] == kNegInf ? 0.0f : scale * (gr[j] - expf(yr[j]) * gsum);
  }
}

void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                           float scale) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 vs = _mm256_set1_ps(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 zero_p = _mm256_cmp_ps(yv, zero, _CMP_EQ_OQ);
      acc = _mm256_add_ps(acc, _mm256_andnot_ps(zero_p, _mm256_mul_ps(yv, _mm256_loadu_ps(gr + j))));
    }
    float dot = hsum(acc);
    for (int64_t k = j; k < cols; ++k) dot += yr[k] == 0.0f ? 0.0f : gr[k] * yr[k];
    const __m256 vdot = _mm256_set1_ps(dot);
    for (j = 0; j + 8 <= cols; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 zero_p = _mm256_cmp_ps(yv, zero, _CMP_EQ_OQ);
      const __m256 d = _mm256_mul_ps(_mm256_mul_ps(vs, yv), _mm256_sub_ps(_mm256_loadu_ps(gr + j), vdot));
      _mm256_storeu_ps(out + j, _mm256_andnot_ps(zero_p, d));
    }
    for (; j < cols; ++j) out[j] = yr[j] == 0.0f ? 0.0f : scale * yr[j] * (gr[j] - dot);
  }
}

}  // namespace softrl::kernels::avx2
