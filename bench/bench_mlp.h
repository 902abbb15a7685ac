#pragma once
#include <iosfwd>

namespace softrl::bench {

struct MlpBenchOptions {
  int threads = 0;  // 0 = all cores
  int hidden = 256;
  int layers = 3;
  int batch = 256;
  bool json = false;
};

// `softrl bench mlp`: Adam updates per second of an MLP regression step (forward, backward,
// optimizer) - the shape that decides the BLAS choice (OpenBLAS pthread vs OpenMP, threads).
int run_mlp_bench(const MlpBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
