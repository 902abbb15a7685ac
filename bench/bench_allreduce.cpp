#include "bench/bench_allreduce.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <vector>

#include <torch/torch.h>

#include "common/distributed.h"
#include "common/error.h"
#include "common/json.h"

namespace softrl::bench {
namespace {

// Parameters of `floats` float32 entries in tensors of at most 64k entries (layers of an MLP).
std::vector<torch::Tensor> parameters_of(int64_t floats) {
  std::vector<torch::Tensor> p;
  for (int64_t left = floats; left > 0; left -= 65536) {
    torch::Tensor t = torch::zeros({std::min<int64_t>(left, 65536)}, torch::requires_grad());
    t.mutable_grad() = torch::ones_like(t);
    p.push_back(t);
  }
  return p;
}

// Median over trials of the seconds per call. Every rank makes the same number of calls (a
// collective), so the count is fixed, not the time.
double seconds_per_sync(const std::vector<torch::Tensor>& params, int calls) {
  for (int i = 0; i < 3; ++i) distributed::sync_gradients(params, 1.0);
  std::vector<double> trials;
  for (int t = 0; t < 5; ++t) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) distributed::sync_gradients(params, 1.0);
    trials.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls);
  }
  std::sort(trials.begin(), trials.end());
  return trials[trials.size() / 2];
}

}  // namespace

int run_allreduce_bench(const AllreduceBenchOptions& opt, std::ostream& out) {
  const distributed::World world = distributed::world_from_env();
  if (world.size < 2)
    throw InputError(
        "softrl bench allreduce measures an all-reduce between processes: start it with torchrun, e.g. "
        "torchrun --nproc-per-node 2 --no-python softrl bench allreduce");
  distributed::init(world, std::chrono::milliseconds(static_cast<int64_t>(opt.timeout_s * 1000)));
  torch::set_num_threads(1);
  struct Case {
    const char* what;
    int64_t floats;
  };
  // LunarLander policies ([64, 64] and [256, 256]), SAC's Zoo critic pair + actor ([400, 300]), then sizes
  // that take one and four 25 MB buckets.
  const std::vector<Case> cases = {
      {"policy [64, 64]", 8 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4},
      {"policy [256, 256]", 8 * 256 + 256 + 256 * 256 + 256 + 256 * 4 + 4},
      {"SAC [400, 300] (critics + actor)", 3 * (10 * 400 + 400 + 400 * 300 + 300 + 300 * 2 + 2)},
      {"6.25 M floats (one bucket)", 6250000},
      {"25 M floats (four buckets)", 25000000}};
  std::string json_rows;
  if (world.rank == 0 && !opt.json)
    out << "softrl bench allreduce: " << world.size << " processes over Gloo (TCP), gradient all-reduce per update\n"
        << "  gradient                             MB     ms/call   bus GB/s\n";
  for (const Case& c : cases) {
    const auto params = parameters_of(c.floats);
    const double bytes = 4.0 * static_cast<double>(c.floats);
    const int calls = static_cast<int>(std::clamp(2e8 / bytes, 5.0, 300.0));
    const double s = seconds_per_sync(params, calls);
    // A ring all-reduce moves 2 (W - 1) / W of the data through each process (NCCL's "bus bandwidth").
    const double bus = bytes * 2.0 * (world.size - 1) / world.size / s / 1e9;
    if (world.rank != 0) continue;
    if (opt.json) {
      json_rows += (json_rows.empty() ? "" : ",") + JsonObject()
                                                        .add("gradient", c.what)
                                                        .add("bytes", bytes)
                                                        .add("ms_per_call", 1e3 * s)
                                                        .add("bus_gb_per_s", bus)
                                                        .str();
    } else {
      char line[160];
      std::snprintf(line, sizeof line, "  %-34s %8.3f %10.3f %10.2f\n", c.what, bytes / 1e6, 1e3 * s, bus);
      out << line;
    }
  }
  if (world.rank == 0 && opt.json)
    out << JsonObject().add("processes", world.size).raw("cases", "[" + json_rows + "]").str() << "\n";
  return 0;
}

}  // namespace softrl::bench
