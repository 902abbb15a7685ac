// Portable kernels: the classic max-shifted evaluation, one row at a time.
#include <cmath>
#include <limits>

#include "objectives/kernels/row_kernels.h"

namespace softrl::kernels::scalar {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct RowStats {
  float max;  // max of x * scale, -inf for a dead row
  float sum;  // sum of exp(x * scale - max), 0 for a dead row
};

RowStats row_stats(const float* x, int64_t cols, float scale) {
  float m = kNegInf;
  for (int64_t j = 0; j < cols; ++j) m = std::fmax(m, x[j] * scale);
  if (m == kNegInf) return {kNegInf, 0.0f};
  // Summed in double: this path is the portable reference-quality fallback, not the fast one.
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += std::exp(static_cast<double>(x[j] * scale - m));
  return {m, static_cast<float>(s)};
}
}  // namespace

void logsumexp_rows(RowsIn in, float* lse) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const RowStats st = row_stats(in.x + r * in.cols, in.cols, in.scale);
    lse[r] = st.max == kNegInf ? kNegInf : st.max + std::log(st.sum);
  }
}

void log_softmax_rows(RowsIn in, float* y) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowStats st = row_stats(x, in.cols, in.scale);
    if (st.max == kNegInf) {
      for (int64_t j = 0; j < in.cols; ++j) out[j] = kNegInf;
      continue;
    }
    const float lse = st.max + std::log(st.sum);
    for (int64_t j = 0; j < in.cols; ++j) out[j] = x[j] * in.scale - lse;
  }
}

void softmax_rows(RowsIn in, float* y) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowStats st = row_stats(x, in.cols, in.scale);
    if (st.max == kNegInf) {
      for (int64_t j = 0; j < in.cols; ++j) out[j] = 0.0f;
      continue;
    }
    const float inv = 1.0f / st.sum;
    for (int64_t j = 0; j < in.cols; ++j) out[j] = std::exp(x[j] * in.scale - st.max) * inv;
  }
}

void logsumexp_backward_rows(RowsIn in, const float* lse, const float* g, float* gx) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = gx + r * in.cols;
    if (lse[r] == kNegInf) {
      for (int64_t j = 0; j < in.cols; ++j) out[j] = 0.0f;
      continue;
    }
    const float gs = g[r] * in.scale;
    for (int64_t j = 0; j < in.cols; ++j) out[j] = gs * std::exp(x[j] * in.scale - lse[r]);
  }
}

void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                               float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    float gsum = 0.0f;
    for (int64_t j = 0; j < cols; ++j) gsum += yr[j] == kNegInf ? 0.0f : gr[j];
    for (int64_t j = 0; j < cols; ++j)
      out[j] = yr[j] == kNegInf ? 0.0f : scale * (gr[j] - std::exp(yr[j]) * gsum);
  }
}

void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols,
                           float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    float dot = 0.0f;
    for (int64_t j = 0; j < cols; ++j) dot += yr[j] == 0.0f ? 0.0f : gr[j] * yr[j];
    for (int64_t j = 0; j < cols; ++j) out[j] = yr[j] == 0.0f ? 0.0f : scale * yr[j] * (gr[j] - dot);
  }
}

}  // namespace softrl::kernels::scalar
