#pragma once
#include <iosfwd>

namespace softrl::bench {

struct SacBenchOptions {
  bool json = false;
  double seconds = 3.0;
  int threads = 1;
};
// `softrl bench sac`: SAC gradient updates/s at net [400, 300], batch 256 (LunarLanderContinuous
// shapes) with `threads` compute threads, and the update's matmul FLOP rate as a fraction of a
// plain sgemm's at the same thread count, measured in the same run.
int run_sac_bench(const SacBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
