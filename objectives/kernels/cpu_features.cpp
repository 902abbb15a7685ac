#include "objectives/kernels/row_kernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace softrl::kernels {
namespace {
// -1: no override; otherwise the forced Isa value.
std::atomic<int> forced_isa{-1};

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}

Isa best_isa() {
  if (!cpu_has_avx2_fma() || env_set("SOFTRL_DISABLE_AVX2")) return Isa::scalar;
  if (!cpu_has_avx512() || env_set("SOFTRL_DISABLE_AVX512")) return Isa::avx2;
  return Isa::avx512;
}
}  // namespace

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// The AVX-512 kernels fall back on the AVX2 ones for short rows, so they need both.
bool cpu_has_avx512() {
  static const bool has = cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
  return has;
}

Isa active_isa() {
  const int forced = forced_isa.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa best = best_isa();
  return best;
}

void force_isa(Isa isa) {
  if (isa == Isa::avx2 && !cpu_has_avx2_fma()) return;
  if (isa == Isa::avx512 && !cpu_has_avx512()) return;
  forced_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void clear_forced_isa() { forced_isa.store(-1, std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

void logsumexp_rows(Isa isa, RowsIn in, float* lse, float* shift, float* log_sum) {
  switch (isa) {
    case Isa::avx512: return avx512::logsumexp_rows(in, lse, shift, log_sum);
    case Isa::avx2: return avx2::logsumexp_rows(in, lse, shift, log_sum);
    default: return scalar::logsumexp_rows(in, lse, shift, log_sum);
  }
}
void log_softmax_rows(Isa isa, RowsIn in, float* y) {
  switch (isa) {
    case Isa::avx512: return avx512::log_softmax_rows(in, y);
    case Isa::avx2: return avx2::log_softmax_rows(in, y);
    default: return scalar::log_softmax_rows(in, y);
  }
}
void softmax_rows(Isa isa, RowsIn in, float* y) {
  switch (isa) {
    case Isa::avx512: return avx512::softmax_rows(in, y);
    case Isa::avx2: return avx2::softmax_rows(in, y);
    default: return scalar::softmax_rows(in, y);
  }
}
void logsumexp_backward_rows(Isa isa, RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx) {
  switch (isa) {
    case Isa::avx512: return avx512::logsumexp_backward_rows(in, shift, log_sum, g, gx);
    case Isa::avx2: return avx2::logsumexp_backward_rows(in, shift, log_sum, g, gx);
    default: return scalar::logsumexp_backward_rows(in, shift, log_sum, g, gx);
  }
}
void log_softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                               float scale) {
  switch (isa) {
    case Isa::avx512: return avx512::log_softmax_backward_rows(y, g, gx, rows, cols, scale);
    case Isa::avx2: return avx2::log_softmax_backward_rows(y, g, gx, rows, cols, scale);
    default: return scalar::log_softmax_backward_rows(y, g, gx, rows, cols, scale);
  }
}
void softmax_backward_rows(Isa isa, const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                           float scale) {
  switch (isa) {
    case Isa::avx512: return avx512::softmax_backward_rows(y, g, gx, rows, cols, scale);
    case Isa::avx2: return avx2::softmax_backward_rows(y, g, gx, rows, cols, scale);
    default: return scalar::softmax_backward_rows(y, g, gx, rows, cols, scale);
  }
}

}  // namespace softrl::kernels
