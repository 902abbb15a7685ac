#pragma once
#include <iosfwd>

namespace softrl::bench {

struct SoftmaxBenchOptions {
  bool json = false;
  bool quick = false;  // smaller long-row shape and shorter trials (smoke runs)
  int threads = 0;     // 0 = all cores
};

// `softrl bench softmax`: GB/s of ours vs LibTorch for logsumexp, log_softmax, softmax and a
// plain copy, forward and forward+backward, on long- and short-row shapes.
int run_softmax_bench(const SoftmaxBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
