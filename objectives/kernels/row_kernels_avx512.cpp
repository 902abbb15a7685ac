// AVX-512 kernels for long rows (cols > 16; shorter rows go to the AVX2 kernels, which vectorize
// across rows). Compiled with -mavx512f and called only after the run-time CPU check; like the
// AVX2 file it uses only intrinsics and C library calls, no inline library templates.
//
// The same algorithms and accuracy as the AVX2 kernels (the online softmax of Milakov &
// Gimelshein 2018 on exact differences x - M, sums in double, the max's ties kept out of S - 1),
// with what AVX-512 adds to make them cheap enough to run at memory speed: 16 lanes, mask
// registers for the tie count and the excluded terms, and vscalefps for p * 2^n (which also
// flushes far-negative exponents to 0 and propagates NaN without range checks).
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "objectives/kernels/row_kernels.h"
#include "objectives/kernels/simd_common.h"

namespace softrl::kernels::avx512 {
namespace {

constexpr int64_t kShortCols = 16;
constexpr float kNegInf = -__builtin_inff();

// exp(d) for d <= 0, -inf and NaN: exact 1 at d = 0, 0 (or a subnormal) below -87.3, NaN stays;
// 0 in the lanes outside `keep` (the mask rides on the final scalef, so it costs nothing).
inline __m512 exp_nonpos(__m512 d, __mmask16 keep = 0xFFFF) {
  const __m512 x = _mm512_max_ps(_mm512_set1_ps(-104.0f), d);  // -inf -> -104; NaN stays (second operand)
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 t = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), x);
  t = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), t);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(kExpC5), t, _mm512_set1_ps(kExpC4));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kExpC3));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kExpC2));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kExpC1));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(keep, p, n);
}

inline __m512d low_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
inline __m512d high_pd(__m512 v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// Keeps the compiler from folding a load into a masked instruction: a zero-masked load makes each
// load wait for the compare that produces its mask, which costs about 30 % of a memory-bound
// loop on Zen 5 (measured on the backward kernels).
inline __m512 unfolded(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

// The lanes of a 16-float load that lie within `remaining` floats (none if remaining <= 0).
inline __mmask16 tail_mask(int64_t remaining) {
  if (remaining <= 0) return 0;
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// Online accumulator, per lane: running max m, its tie count, and the sum of exp((x - m) * scale)
// over the entries below it (float within a block, double across blocks), rescaled when m grows.
// A NaN entry makes its lane's sum NaN. Unit: scale is 1 and its multiplies are skipped (the
// common case; x * 1 is exact, so the result is the same).
//
// A block's max and its sum run as kChains interleaved chains: one chain of 16 dependent max or
// add per block kept Zen 5 waiting on latency, and more chains (or a full tree) hold so many
// registers that the compiler spills, which cost more than it saved from memory. Measured in one
// binary holding both: 1.17-1.45x the single chain's entries per second from L1 and L2, 1.0-1.15x
// streaming from memory.
constexpr int kChains = 2;
template <bool Unit>
struct Online {
  __m512 m = _mm512_set1_ps(kNegInf);
  __m512i ties = _mm512_setzero_si512();
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  __m512 vs;

  explicit Online(float scale) : vs(_mm512_set1_ps(scale)) {}
  __m512 scaled(__m512 d) const { return Unit ? d : _mm512_mul_ps(d, vs); }

  template <int K>
  inline void add(const __m512 (&xs)[K]) {
    constexpr int A = K < kChains ? K : kChains;
    __m512 t[A];
    for (int k = 0; k < A; ++k) t[k] = xs[k];
    for (int k = A; k < K; ++k) t[k % A] = _mm512_max_ps(xs[k], t[k % A]);
    for (int k = 1; k < A; ++k) t[0] = _mm512_max_ps(t[k], t[0]);
    const __m512 bm = _mm512_max_ps(t[0], m);  // a NaN entry may make bm NaN: the sum is NaN anyway
    const __m512 shift = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(bm, _mm512_set1_ps(kNegInf), _CMP_NEQ_UQ), bm);
    const __m512 f = exp_nonpos(scaled(_mm512_sub_ps(m, shift)));
    const __mmask16 grew = _mm512_cmp_ps_mask(bm, m, _CMP_GT_OQ);
    lo = _mm512_mul_pd(lo, low_pd(f));
    hi = _mm512_mul_pd(hi, high_pd(f));
    const __m512 carried = _mm512_maskz_mul_ps(grew, _mm512_cvtepi32_ps(ties), f);
    // Ties counted as K per block less the entries below the max: one compare gives both masks.
    ties = _mm512_add_epi32(_mm512_maskz_mov_epi32(static_cast<__mmask16>(~grew), ties), _mm512_set1_epi32(K));
    __m512 e[A];
    for (int k = 0; k < K; ++k) {
      const __mmask16 below = _mm512_cmp_ps_mask(xs[k], bm, _CMP_NEQ_UQ);
      ties = _mm512_mask_sub_epi32(ties, below, ties, _mm512_set1_epi32(1));
      const __m512 ek = exp_nonpos(scaled(_mm512_sub_ps(xs[k], shift)), below);
      e[k % A] = k < A ? ek : _mm512_add_ps(e[k % A], ek);
    }
    for (int k = 1; k < A; ++k) e[0] = _mm512_add_ps(e[0], e[k]);
    const __m512 part = _mm512_add_ps(e[0], carried);
    lo = _mm512_add_pd(lo, low_pd(part));
    hi = _mm512_add_pd(hi, high_pd(part));
    m = bm;
  }
};

// One block of 256 entries of a row's online sum, from x on.
template <bool Unit>
inline void sum_block(Online<Unit>& a, const float* x) {
  __m512 b[16];
  for (int k = 0; k < 16; ++k) _mm_prefetch(reinterpret_cast<const char*>(x + kPrefetchAhead + 16 * k), _MM_HINT_T0);
  for (int k = 0; k < 16; ++k) b[k] = _mm512_loadu_ps(x + 16 * k);
  a.add(b);
}

// One block of K vectors from x[j], masked: lanes past cols read -inf.
template <int K, bool Unit>
inline void add_masked(Online<Unit>& a, const float* x, int64_t j, int64_t cols) {
  __m512 b[K];
  for (int k = 0; k < K; ++k)
    b[k] = _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), tail_mask(cols - j - 16 * k), x + j + 16 * k);
  a.add(b);
}

// The end of a row's online sum from entry j on (fewer than 256 entries left): one masked block of
// 4, 8 or 16 vectors, then the lanes' merge. One block rather than a run of 4-vector blocks: each
// block pays a rescale, and the tail of a 1000-entry row took a quarter of its time.
template <bool Unit>
RowSum finish_sum(Online<Unit>& a, const float* x, int64_t j, int64_t cols) {
  const int64_t rest = cols - j;
  if (rest > 128) add_masked<16>(a, x, j, cols);
  else if (rest > 64) add_masked<8>(a, x, j, cols);
  else if (rest > 0) add_masked<4>(a, x, j, cols);
  alignas(64) float m[16], ties[16], f[16];
  alignas(64) double small[16];
  const float big = _mm512_reduce_max_ps(a.m);
  const __m512 shift = _mm512_set1_ps(big == kNegInf ? 0.0f : big);
  _mm512_store_ps(f, exp_nonpos(a.scaled(_mm512_sub_ps(a.m, shift))));
  _mm512_store_ps(m, a.m), _mm512_store_ps(ties, _mm512_cvtepi32_ps(a.ties));
  _mm512_store_pd(small, a.lo), _mm512_store_pd(small + 8, a.hi);
  return merge_lanes<16>(m, ties, small, f, big);
}

// Blocks of 16 vectors amortize the per-block rescaling (10 % faster than 8 on Zen 5).
template <bool Unit>
RowSum row_sum_of(const float* x, int64_t cols, float scale) {
  Online<Unit> a(scale);
  int64_t j = 0;
  for (; j + 256 <= cols; j += 256) sum_block(a, x + j);
  return finish_sum(a, x, j, cols);
}

RowSum row_sum(const float* x, int64_t cols, float scale) {
  return scale == 1.0f ? row_sum_of<true>(x, cols, scale) : row_sum_of<false>(x, cols, scale);
}

// Writes f(x[j..j+16)) over a row, masked at the tail. Plain stores: streaming (non-temporal) ones,
// which skip the read for ownership, made the long-row log_softmax and softmax 1.1-1.25x slower on
// this project's Zen 5 hosts (measured in one binary holding both, one and two threads).
template <class F>
inline void map_row(const float* x, float* out, int64_t cols, F f) {
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) _mm512_storeu_ps(out + j, f(_mm512_loadu_ps(x + j)));
  if (j < cols) {
    const __mmask16 t = tail_mask(cols - j);
    _mm512_mask_storeu_ps(out + j, t, f(_mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), t, x + j)));
  }
}

// log_softmax and softmax over rows: row r's output pass runs in one loop with row r + 1's online
// sum, block by block, so that the output pass (memory-bound: a read and a write per entry) and
// the sum (compute-bound: an exp per entry) overlap instead of taking turns. make_f(s) gives the
// output's function of x for a row with sum s; rows filled_without_pass (dead, or holding a NaN)
// are filled instead.
template <bool Unit, class MakeF>
void map_rows_overlapped(RowsIn in, float* y, float dead_value, MakeF make_f) {
  if (in.rows == 0) return;
  RowSum s = row_sum_of<Unit>(in.x, in.cols, in.scale);
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    const float* next = x + in.cols;
    float* out = y + r * in.cols;
    const bool last = r + 1 == in.rows;
    if (filled_without_pass(s, out, in.cols, dead_value)) {
      if (!last) s = row_sum_of<Unit>(next, in.cols, in.scale);
      continue;
    }
    const auto f = make_f(s);
    if (last) return map_row(x, out, in.cols, f);
    Online<Unit> a(in.scale);
    int64_t j = 0;
    for (; j + 256 <= in.cols; j += 256) {
      sum_block(a, next + j);
      for (int k = 0; k < 16; ++k) _mm512_storeu_ps(out + j + 16 * k, f(_mm512_loadu_ps(x + j + 16 * k)));
    }
    map_row(x + j, out + j, in.cols - j, f);
    s = finish_sum(a, next, j, in.cols);
  }
}

template <class MakeF>
void map_rows_overlapped(RowsIn in, float* y, float dead_value, MakeF make_f) {
  if (in.scale == 1.0f) return map_rows_overlapped<true>(in, y, dead_value, make_f);
  map_rows_overlapped<false>(in, y, dead_value, make_f);
}

// Sum over a row of h(a[j..j+16), b[j..j+16)) in double (lanes past the end read a = fill_a, b = 0).
template <class H>
inline double sum_row(const float* a, const float* b, int64_t cols, float fill_a, H h) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) {
    const __m512 v = h(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
    lo = _mm512_add_pd(lo, low_pd(v)), hi = _mm512_add_pd(hi, high_pd(v));
  }
  if (j < cols) {
    const __mmask16 t = tail_mask(cols - j);
    const __m512 v = h(_mm512_mask_loadu_ps(_mm512_set1_ps(fill_a), t, a + j), _mm512_maskz_loadu_ps(t, b + j));
    lo = _mm512_add_pd(lo, low_pd(v)), hi = _mm512_add_pd(hi, high_pd(v));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

// gx[j] = f(a[j], b[j]) over a row, masked at the tail.
template <class F>
inline void map_row2(const float* a, const float* b, float* out, int64_t cols, float fill_a, F f) {
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) _mm512_storeu_ps(out + j, f(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j)));
  if (j < cols) {
    const __mmask16 t = tail_mask(cols - j);
    _mm512_mask_storeu_ps(out + j, t,
                          f(_mm512_mask_loadu_ps(_mm512_set1_ps(fill_a), t, a + j), _mm512_maskz_loadu_ps(t, b + j)));
  }
}

}  // namespace

void logsumexp_rows(RowsIn in, float* lse, float* shift, float* log_sum) {
  if (in.cols <= kShortCols) return avx2::logsumexp_rows(in, lse, shift, log_sum);
  logsumexp_of_rows(in, lse, shift, log_sum, row_sum);
}

void log_softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols) return avx2::log_softmax_rows(in, y);
  const __m512 vs = _mm512_set1_ps(in.scale);
  map_rows_overlapped(in, y, kNegInf, [&](const RowSum& s) {
    const __m512 m = _mm512_set1_ps(s.max), l = _mm512_set1_ps(static_cast<float>(s.log_sum));
    return [=](__m512 v) { return _mm512_fmsub_ps(_mm512_sub_ps(v, m), vs, l); };
  });
}

void softmax_rows(RowsIn in, float* y) {
  if (in.cols <= kShortCols) return avx2::softmax_rows(in, y);
  const __m512 vs = _mm512_set1_ps(in.scale);
  // p = exp(d - log S): one exp, no division (the rounding of d - log S is within the
  // guarantee's u |log p| term).
  map_rows_overlapped(in, y, 0.0f, [&](const RowSum& s) {
    const __m512 m = _mm512_set1_ps(s.max), l = _mm512_set1_ps(static_cast<float>(s.log_sum));
    return [=](__m512 v) { return exp_nonpos(_mm512_fmsub_ps(_mm512_sub_ps(v, m), vs, l)); };
  });
}

void logsumexp_backward_rows(RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx) {
  if (in.cols <= kShortCols) return avx2::logsumexp_backward_rows(in, shift, log_sum, g, gx);
  const __m512 vs = _mm512_set1_ps(in.scale);
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = gx + r * in.cols;
    if (shift[r] == kNegInf) {
      fill_row(out, in.cols, 0.0f);
      continue;
    }
    const __m512 vgs = _mm512_set1_ps(g[r] * in.scale);
    const __m512 m = _mm512_set1_ps(shift[r]), l = _mm512_set1_ps(log_sum[r]);
    map_row(x, out, in.cols,
            [&](__m512 v) { return _mm512_mul_ps(vgs, exp_nonpos(_mm512_fmsub_ps(_mm512_sub_ps(v, m), vs, l))); });
  }
}

void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  if (cols <= kShortCols) return avx2::log_softmax_backward_rows(y, g, gx, rows, cols, scale);
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    const double gsum = sum_row(yr, gr, cols, kNegInf, [&](__m512 yv, __m512 gv) {
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(yv, ninf, _CMP_NEQ_UQ), unfolded(gv));
    });
    const __m512 vsum = _mm512_set1_ps(static_cast<float>(gsum));
    map_row2(yr, gr, gx + r * cols, cols, kNegInf, [&](__m512 yv, __m512 gv) {
      const __m512 d = _mm512_fnmadd_ps(exp_nonpos(yv), vsum, gv);
      return _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(yv, ninf, _CMP_NEQ_UQ), vs, d);
    });
  }
}

void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  if (cols <= kShortCols) return avx2::softmax_backward_rows(y, g, gx, rows, cols, scale);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    const double dot = sum_row(yr, gr, cols, 0.0f, [&](__m512 yv, __m512 gv) {
      return _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(yv, zero, _CMP_NEQ_UQ), yv, unfolded(gv));
    });
    const __m512 vdot = _mm512_set1_ps(static_cast<float>(dot));
    map_row2(yr, gr, gx + r * cols, cols, 0.0f, [&](__m512 yv, __m512 gv) {
      const __m512 d = _mm512_mul_ps(_mm512_mul_ps(vs, yv), _mm512_sub_ps(gv, vdot));
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(yv, zero, _CMP_NEQ_UQ), d);
    });
  }
}

}  // namespace softrl::kernels::avx512
