#include "common/distributed.h"

#include <cstring>

#include <cstdlib>
#include <sstream>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace softrl::distributed {
namespace {

// An exception's message without c10's backtrace, first line only.
std::string brief(const std::exception& e) {
  const auto* c10e = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c10e ? c10e->what_without_backtrace() : e.what();
  return what.substr(0, std::min<size_t>(what.find('\n'), 300));
}

std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream s;
  s << static_cast<double>(ms.count()) / 1000.0 << " s";
  return s.str();
}

constexpr int64_t kBucketBytes = 25 << 20;  // DDP's default bucket size

World g_world;
c10::intrusive_ptr<c10d::Store> g_store;
c10::intrusive_ptr<c10d::ProcessGroupGloo> g_group;
std::chrono::milliseconds g_timeout{0};
SyncStats g_sync;

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw DistributedError(std::string(name) + "=" + v + ": expected an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "] (as torchrun sets it)");
  return static_cast<int>(x);
}

// c10d's errors name neither this rank nor what to do: say both.
template <class F>
void collective(const char* what, F f) {
  try {
    f()->wait(g_timeout);
  } catch (const std::exception& e) {
    throw DistributedError("rank " + std::to_string(g_world.rank) + " of " + std::to_string(g_world.size) + ": " +
                           what + " did not complete within " + seconds(g_timeout) +
                           " (a peer died or hangs; see its output): " + brief(e));
  }
}

}  // namespace

World world_from_env() {
  World w;
  w.size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  w.rank = env_int("RANK", 0, 0, w.size - 1);
  w.local_rank = env_int("LOCAL_RANK", 0, 0, w.size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') w.master_addr = a;
  w.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return w;
}

void init(const World& world, std::chrono::milliseconds timeout) {
  if (g_group || world.size == 1) {
    if (!g_group) g_world = world;
    return;
  }
  g_world = world;
  g_timeout = timeout;
  try {
    // torchrun's agent already serves a store at MASTER_ADDR:MASTER_PORT and says so: then every
    // rank is its client, under the attempt's prefix (as torch.distributed's env:// does);
    // otherwise (launched by hand or by another launcher) rank 0 serves it.
    const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool use_agent_store = agent_store != nullptr && std::string(agent_store) == "True";
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(world.master_port);
    so.isServer = !use_agent_store && world.rank == 0;
    so.numWorkers = world.size;
    so.waitWorkers = !use_agent_store;
    so.timeout = timeout;
    g_store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, so);
    if (use_agent_store) {
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      g_store =
          c10::make_intrusive<c10d::PrefixStore>(std::string("/worker/attempt_") + (attempt ? attempt : "0"), g_store);
    }
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(world.master_addr));
    g_group = c10::make_intrusive<c10d::ProcessGroupGloo>(g_store, world.rank, world.size, opts);
  } catch (const std::exception& e) {
    throw DistributedError("rank " + std::to_string(world.rank) + " of " + std::to_string(world.size) +
                           ": cannot join the process group at " + world.master_addr + ":" +
                           std::to_string(world.master_port) + " within " + seconds(timeout) + ": " + brief(e));
  }
}

bool active() { return static_cast<bool>(g_group); }
const World& world() { return g_world; }

namespace {
// Runs `op` on flat buffers of consecutive tensors (at most kBucketBytes each, one dtype), then
// copies the results back.
template <class Op>
void bucketed(const std::vector<torch::Tensor>& tensors, Op op) {
  size_t i = 0;
  while (i < tensors.size()) {
    size_t j = i;
    int64_t bytes = 0;
    std::vector<torch::Tensor> flat;
    while (j < tensors.size() && (j == i || (bytes + tensors[j].nbytes() <= kBucketBytes &&
                                             tensors[j].scalar_type() == tensors[i].scalar_type()))) {
      bytes += static_cast<int64_t>(tensors[j].nbytes());
      flat.push_back(tensors[j].reshape({-1}));
      ++j;
    }
    std::vector<torch::Tensor> bucket = {torch::cat(flat)};
    op(bucket[0]);
    int64_t at = 0;
    for (size_t k = i; k < j; ++k) {
      const int64_t n = tensors[k].numel();
      tensors[k].copy_(bucket[0].narrow(0, at, n).view_as(tensors[k]));
      at += n;
    }
    i = j;
  }
}
}  // namespace

void broadcast_from_rank0(const std::vector<torch::Tensor>& tensors) {
  if (!active()) return;
  torch::NoGradGuard ng;
  bucketed(tensors, [](torch::Tensor& b) {
    std::vector<torch::Tensor> v = {b};
    c10d::BroadcastOptions o;
    o.rootRank = 0;
    collective("a broadcast of the parameters", [&] { return g_group->broadcast(v, o); });
  });
}

int64_t all_reduce_sum(int64_t value) {
  if (!active()) return value;
  std::vector<torch::Tensor> v = {torch::tensor({value}, torch::kLong)};
  collective("an all-reduce of a count", [&] { return g_group->allreduce(v); });
  return v[0].item<int64_t>();
}

std::string text_of_rank0(const std::string& text) {
  if (!active()) return text;
  torch::Tensor size = torch::tensor({static_cast<int64_t>(text.size())}, torch::kLong);
  broadcast_from_rank0({size});
  torch::Tensor bytes = torch::zeros({size.item<int64_t>()}, torch::kUInt8);
  if (world().rank == 0) std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  broadcast_from_rank0({bytes});
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
}

SyncStats sync_stats() { return g_sync; }

void sync_gradients(const std::vector<torch::Tensor>& parameters, double count) {
  if (!active()) return;
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : parameters) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // every rank reduces the same list
    grads.push_back(p.grad());
  }
  double total = -1;  // known after the first bucket, which carries the counts
  bucketed(grads, [&](torch::Tensor& b) {
    b.mul_(count);
    std::vector<torch::Tensor> v = {total < 0 ? torch::cat({b, torch::full({1}, count, b.options())}) : b};
    collective("an all-reduce of the gradients", [&] { return g_group->allreduce(v); });
    if (total < 0) {
      total = v[0][-1].item<double>();
      b.copy_(v[0].narrow(0, 0, b.numel()));
    }
    total > 0 ? b.div_(total) : b.zero_();  // no rank had an item: no gradient
    g_sync.bytes += b.numel() * static_cast<int64_t>(b.element_size());
  });
  ++g_sync.calls;
  g_sync.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace softrl::distributed
