#pragma once
#include <iosfwd>

namespace softrl::bench {

struct EnvBenchOptions {
  bool json = false;
  double seconds = 2.0;  // per measurement
  int envs = 16;         // vector env size
  int rounds = 3;        // rounds of (1 thread, 2 threads, ceiling); medians are reported
};
// `softrl bench envs`: steps/s with random actions, single thread, per task; and VectorEnv with
// 16 envs at 1 and 2 threads.
int run_env_bench(const EnvBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
