#pragma once
#include <iosfwd>

namespace softrl::bench {

struct EnvBenchOptions {
  bool json = false;
  double seconds = 2.0;  // per measurement
  int envs = 16;         // vector env size
};
// `softrl bench envs`: steps/s with random actions, single thread, per task; and VectorEnv with
// 16 envs at 1 and 2 threads.
int run_env_bench(const EnvBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
