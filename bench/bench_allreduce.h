#pragma once
#include <iosfwd>

namespace softrl::bench {

struct AllreduceBenchOptions {
  double timeout_s = 60;  // for the process group, as train's --dist-timeout
  bool json = false;
};

// `softrl bench allreduce`, started by torchrun: the cost of one gradient all-reduce
// (distributed::sync_gradients) per update for gradient sizes from a small policy to a large
// network, every rank calling it back to back (no compute between, so no waiting on a slower
// peer). Rank 0 prints milliseconds per call and the bus bandwidth it reaches.
int run_allreduce_bench(const AllreduceBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
