#include "objectives/kernels/row_kernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace softrl::kernels {
namespace {
// -1: no override; otherwise the forced Isa value.
std::atomic<int> forced_isa{-1};

bool env_disables_avx2() {
  const char* v = std::getenv("SOFTRL_DISABLE_AVX2");
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}
}  // namespace

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

Isa active_isa() {
  const int forced = forced_isa.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa best = (cpu_has_avx2_fma() && !env_disables_avx2()) ? Isa::avx2 : Isa::scalar;
  return best;
}

void force_isa(Isa isa) {
  if (isa == Isa::avx2 && !cpu_has_avx2_fma()) return;
  forced_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void clear_forced_isa() { forced_isa.store(-1, std::memory_order_relaxed); }

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "scalar"; }

void logsumexp_rows(Isa isa, RowsIn in, float* lse, float* shift, float* log_sum) {
  isa == Isa::avx2 ? avx2::logsumexp_rows(in, lse, shift, log_sum) : scalar::logsumexp_rows(in, lse, shift, log_sum);
}
void log_softmax_rows(Isa isa, RowsIn in, float* y) {
  isa == Isa::avx2 ? avx2::log_softmax_rows(in, y) : scalar::log_softmax_rows(in, y);
}
void softmax_rows(Isa isa, RowsIn in, float* y) {
  isa == Isa::avx2 ? avx2::softmax_rows(in, y) : scalar::softmax_rows(in, y);
}
void logsumexp_backward_rows(Isa isa, RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx) {
  isa == Isa::avx2 ? avx2::logsumexp_backward_rows(in, shift, log_sum, g, gx)
                   : scalar::logsumexp_backward_rows(in, shift, log_sum, g, gx);
}
void log_softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows,
                               int64_t cols, float scale) {
  isa == Isa::avx2 ? avx2::log_softmax_backward_rows(y, g, gx, rows, cols, scale)
                   : scalar::log_softmax_backward_rows(y, g, gx, rows, cols, scale);
}
void softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows,
                           int64_t cols, float scale) {
  isa == Isa::avx2 ? avx2::softmax_backward_rows(y, g, gx, rows, cols, scale)
                   : scalar::softmax_backward_rows(y, g, gx, rows, cols, scale);
}

}  // namespace softrl::kernels
