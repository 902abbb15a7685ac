// Portable kernels: max-shifted evaluation in double, one row at a time (the reference-quality
// fallback, not the fast path).
#include <cmath>
#include <limits>

#include "objectives/kernels/row_kernels.h"

namespace softrl::kernels::scalar {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct RowStats {
  double max;      // M: the largest x (unscaled); -inf for a dead row, NaN for a NaN row
  double log_sum;  // log sum_j exp((x_j - M) * scale) = log1p(the sum without one max entry)
  bool dead() const { return max == -std::numeric_limits<double>::infinity(); }
};

RowStats row_stats(const float* x, int64_t cols, float scale) {
  double m = -std::numeric_limits<double>::infinity();
  int64_t arg = -1;
  for (int64_t j = 0; j < cols; ++j) {
    const double v = x[j];
    if (std::isnan(v)) return {kNaN, kNaN};  // fmax would skip it
    if (v > m) m = v, arg = j;
  }
  if (m == -std::numeric_limits<double>::infinity()) return {m, m};
  if (std::isinf(m)) return {kNaN, kNaN};  // +inf: undefined
  // The max entry's term is exactly 1: leaving it out keeps log S accurate when S - 1 is tiny.
  double rest = 0.0;
  for (int64_t j = 0; j < cols; ++j)
    if (j != arg) rest += std::exp((x[j] - m) * scale);
  return {m, std::log1p(rest)};
}
}  // namespace

void logsumexp_rows(RowsIn in, float* lse, float* shift, float* log_sum) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const RowStats st = row_stats(in.x + r * in.cols, in.cols, in.scale);
    lse[r] = st.dead() ? kNegInf : static_cast<float>(st.max * in.scale + st.log_sum);
    if (shift) shift[r] = static_cast<float>(st.max), log_sum[r] = static_cast<float>(st.log_sum);
  }
}

void log_softmax_rows(RowsIn in, float* y) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowStats st = row_stats(x, in.cols, in.scale);
    for (int64_t j = 0; j < in.cols; ++j)
      out[j] = st.dead() ? kNegInf : static_cast<float>((x[j] - st.max) * in.scale - st.log_sum);
  }
}

void softmax_rows(RowsIn in, float* y) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = y + r * in.cols;
    const RowStats st = row_stats(x, in.cols, in.scale);
    for (int64_t j = 0; j < in.cols; ++j)
      out[j] = st.dead() ? 0.0f : static_cast<float>(std::exp((x[j] - st.max) * in.scale - st.log_sum));
  }
}

void logsumexp_backward_rows(RowsIn in, const float* shift, const float* log_sum, const float* g, float* gx) {
  for (int64_t r = 0; r < in.rows; ++r) {
    const float* x = in.x + r * in.cols;
    float* out = gx + r * in.cols;
    const double m = shift[r], gs = static_cast<double>(g[r]) * in.scale;
    for (int64_t j = 0; j < in.cols; ++j)
      out[j] = m == -std::numeric_limits<double>::infinity()
                   ? 0.0f
                   : static_cast<float>(gs * std::exp((x[j] - m) * in.scale - log_sum[r]));
  }
}

void log_softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    double gsum = 0.0;
    for (int64_t j = 0; j < cols; ++j) gsum += yr[j] == kNegInf ? 0.0 : gr[j];
    for (int64_t j = 0; j < cols; ++j)
      out[j] =
          yr[j] == kNegInf ? 0.0f : static_cast<float>(scale * (gr[j] - std::exp(static_cast<double>(yr[j])) * gsum));
  }
}

void softmax_backward_rows(const float* y, const float* g, float* gx, int64_t rows, int64_t cols, float scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = g + r * cols;
    float* out = gx + r * cols;
    double dot = 0.0;
    for (int64_t j = 0; j < cols; ++j) dot += yr[j] == 0.0f ? 0.0 : static_cast<double>(gr[j]) * yr[j];
    for (int64_t j = 0; j < cols; ++j)
      out[j] = yr[j] == 0.0f ? 0.0f : static_cast<float>(static_cast<double>(scale) * yr[j] * (gr[j] - dot));
  }
}

}  // namespace softrl::kernels::scalar
