#pragma once
// Data parallelism over PyTorch's own c10d: processes started by torchrun (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT) join a Gloo process group over a TCPStore served by rank 0.
// Learners average their gradients through sync_gradients() between backward and the optimizer
// step; with one process (no torchrun) every call here is a no-op and nothing is linked in at run
// time. Collectives that do not complete within the timeout (a dead or hung peer) throw
// DistributedError instead of waiting for c10d's default 30 minutes.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace softrl::distributed {

struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The world torchrun describes in the environment (size 1 when WORLD_SIZE is unset). Throws
// DistributedError naming the variable when one is malformed or inconsistent.
World world_from_env();

// Joins the process group (blocks until every rank has joined, at most `timeout`). Once.
void init(const World& world, std::chrono::milliseconds timeout);
bool active();         // init() ran with more than one process
const World& world();  // rank 0 of 1 when not active

// Sets every tensor (the same shapes on every rank) to rank 0's values.
void broadcast_from_rank0(const std::vector<torch::Tensor>& tensors);

// The sum over ranks of an integer (e.g. items consumed).
int64_t all_reduce_sum(int64_t value);
// Rank 0's `text` on every rank (`text` itself with one process).
std::string text_of_rank0(const std::string& text);

// What a learner calls between backward() and its optimizer step. Its loss is a mean over `count`
// items (rows, pairs, groups); each parameter's gradient becomes the gradient of the mean over all
// ranks' items: the ranks' gradients weighted by their counts, summed, divided by the total count
// (which rides in the same all-reduce, in ~25 MB buckets: one call per bucket, not per tensor).
// No-op with one process.
void sync_gradients(const std::vector<torch::Tensor>& parameters, double count);

// What sync_gradients cost this process so far: for the end-of-run summary and the benchmarks.
struct SyncStats {
  int64_t calls = 0;
  int64_t bytes = 0;   // gradient bytes reduced, summed over calls
  double seconds = 0;  // wall time inside sync_gradients (waiting for peers included)
};
SyncStats sync_stats();

}  // namespace softrl::distributed
