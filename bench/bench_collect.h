#pragma once
#include <cstdint>
#include <iosfwd>

namespace softrl::bench {

struct CollectBenchOptions {
  bool json = false;
  int64_t load_steps = 1000000;  // the size of the dataset whose loading is timed
};
// `softrl bench collect`: collection steps/s on LunarLander-v3 (heuristic source at 1 and 2
// threads; a [256, 256] policy source batched over 16 envs), then the write and load time and the
// memory of a dataset of `load_steps` steps.
int run_collect_bench(const CollectBenchOptions& opt, std::ostream& out);

}  // namespace softrl::bench
