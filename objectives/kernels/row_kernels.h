#pragma once
// Fused float32 kernels over contiguous rows: the bottom of the softmax / log-sum-exp core.
//
// Every kernel works on `rows` contiguous rows of `cols` floats and evaluates the row on the
// scaled logits x * scale (scale = 1 / temperature). Conventions shared by all kernels:
//   * -inf entries take no part (probability exactly 0, log-probability -inf);
//   * a row whose entries are all -inf (or a row with cols == 0) has logsumexp -inf,
//     softmax 0, log_softmax -inf and zero gradient;
//   * a NaN anywhere in a row makes the whole row NaN (so that NaN guards downstream see it);
//     +inf gives NaN too (undefined input).
// Accuracy: every row is evaluated shifted by its largest entry M, as d = (x - M) * scale (exact
// differences, one rounding), and the sum of exp(d) is accumulated in double, so results are
// within a few float32 rounding steps of the exact values however large |x| or the row are
// (log_softmax = d - log S, with log S = log1p(S - 1) near 0).
// The kernels hold no state, allocate nothing and are called on disjoint row ranges from
// several threads; a row's result never depends on how rows are split between threads.
#include <cstdint>

namespace softrl::kernels {

enum class Isa { scalar, avx2, avx512 };

// The instruction set the kernels use: the widest the CPU has (AVX-512F for long rows, with the
// AVX2 kernels for rows of up to 16 entries; AVX2+FMA; portable), unless forced or disabled by
// SOFTRL_DISABLE_AVX512=1 (AVX2 at most) or SOFTRL_DISABLE_AVX2=1 (portable).
Isa active_isa();
bool cpu_has_avx2_fma();
bool cpu_has_avx512();
// Forces a path (tests compare them). Forcing a path the CPU lacks is ignored.
void force_isa(Isa isa);
void clear_forced_isa();
const char* isa_name(Isa isa);

struct RowsIn {
  const float* x;
  int64_t rows;
  int64_t cols;
  float scale;
};

// Forward. `lse` has one float per row; `shift` and `log_sum` (both null, or one float per row)
// receive M and log sum_j exp((x_j - M) * scale), with lse = M * scale + log_sum: the logsumexp
// backward needs them (recomputing x * scale - lse instead loses accuracy at large |x|).
void logsumexp_rows(Isa isa, RowsIn in, float* lse, float* shift, float* log_sum);
void log_softmax_rows(Isa isa, RowsIn in, float* y);
void softmax_rows(Isa isa, RowsIn in, float* y);

// Backward, from the saved forward output. `g` is the upstream gradient, shaped like the
// output; `gx` receives the gradient with respect to x (not to x * scale).
// logsumexp: gx = g_row * scale * softmax = g_row * scale * exp((x - M) * scale - log_sum)
void logsumexp_backward_rows(Isa isa, RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx);
// log_softmax: gx = scale * (g - exp(y) * sum_{j: y_j > -inf} g_j), and 0 where y = -inf
void log_softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                               float scale);
// softmax: gx = scale * y * (g - <g, y>)
void softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale);

// Per-ISA entry points (used by the dispatchers above): the same six functions in each namespace.
#define SOFTRL_ROW_KERNELS_OF_ONE_ISA                                                                                 \
  void logsumexp_rows(RowsIn in, float* lse, float* shift, float* log_sum);                                           \
  void log_softmax_rows(RowsIn in, float* y);                                                                         \
  void softmax_rows(RowsIn in, float* y);                                                                             \
  void logsumexp_backward_rows(RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx);       \
  void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale); \
  void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale);

namespace scalar {
SOFTRL_ROW_KERNELS_OF_ONE_ISA
}  // namespace scalar
namespace avx2 {
SOFTRL_ROW_KERNELS_OF_ONE_ISA
}  // namespace avx2
namespace avx512 {
SOFTRL_ROW_KERNELS_OF_ONE_ISA
}  // namespace avx512
#undef SOFTRL_ROW_KERNELS_OF_ONE_ISA

}  // namespace softrl::kernels
