#include "bench/bench_collect.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <ostream>

#include "agents/loops/collector.h"
#include "common/json.h"
#include "common/runtime.h"
#include "data/hdf5_dataset.h"

namespace softrl::bench {
namespace {
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

agents::CollectSettings lander(int threads, int64_t episodes, agents::BehaviourSource source) {
  agents::CollectSettings s;
  s.env_id = "LunarLander-v3";
  s.start_seeds = episodes;
  s.n_envs = 16;
  s.threads = threads;
  s.sources = {std::move(source)};
  return s;
}

// Env steps per second of a whole collection (episodes, bookkeeping and assembly included).
double steps_per_s(const agents::CollectSettings& s, int64_t* steps = nullptr) {
  const auto t0 = clock_type::now();
  const data::Dataset d = agents::collect(s, [](const agents::CollectProgress&) { return true; });
  if (steps) *steps = d.num_steps();
  return static_cast<double>(d.num_steps()) / seconds_since(t0);
}

}  // namespace

int run_collect_bench(const CollectBenchOptions& opt, std::ostream& out) {
  set_compute_threads(1);
  const agents::BehaviourSource heuristic{.kind = agents::BehaviourSource::Kind::heuristic, .epsilon = 0.1};
  const double h1 = steps_per_s(lander(1, 300, heuristic)), h2 = steps_per_s(lander(2, 300, heuristic));
  agents::BehaviourSource policy{.kind = agents::BehaviourSource::Kind::policy, .policy_path = "(untrained)"};
  torch::manual_seed(0);
  policy.policy = std::make_shared<agents::PolicyHead>(
      agents::PolicySpec::for_env(envs::make_env("LunarLander-v3")->spec(), std::vector<int64_t>{256, 256}));
  const double p2 = steps_per_s(lander(2, 100, policy));

  // A dataset of about load_steps steps: heuristic episodes average ~270 steps on LunarLander-v3.
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "softrl_bench_collect.hdf5";
  double load_s = 0, write_s = 0, file_mib = 0, tensor_mib = 0;
  int64_t steps = 0;
  {
    const data::Dataset d = agents::collect(lander(2, opt.load_steps / 270 + 1, heuristic),
                                            [](const agents::CollectProgress&) { return true; });
    steps = d.num_steps();
    const auto t0 = clock_type::now();
    data::write_dataset(file.string(), d);
    write_s = seconds_since(t0);
  }
  {
    const auto t0 = clock_type::now();
    const data::Dataset d = data::read_dataset(file.string());
    load_s = seconds_since(t0);
    tensor_mib = static_cast<double>(d.tensor_bytes()) / (1 << 20);
    file_mib = static_cast<double>(std::filesystem::file_size(file)) / (1 << 20);
  }
  std::filesystem::remove(file);
  if (opt.json) {
    out << JsonObject()
               .add("heuristic_steps_per_s_1_thread", h1)
               .add("heuristic_steps_per_s_2_threads", h2)
               .add("policy_256x256_steps_per_s_2_threads", p2)
               .add("dataset_steps", steps)
               .add("write_seconds", write_s)
               .add("load_seconds", load_s)
               .add("file_mib", file_mib)
               .add("tensor_mib", tensor_mib)
               .str()
        << "\n";
    return 0;
  }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "collection on LunarLander-v3, 16 envs (steps/s): heuristic 1 thread %.0f, 2 threads %.0f; "
                "[256, 256] policy 2 threads %.0f\n",
                h1, h2, p2);
  out << buf;
  std::snprintf(buf, sizeof buf,
                "dataset of %lld steps: file %.1f MiB, written in %.2f s, loaded in %.2f s into %.1f MiB of "
                "preallocated tensors (%.2fx the file; the loader's only other buffer is one episode)\n",
                static_cast<long long>(steps), file_mib, write_s, load_s, tensor_mib, tensor_mib / file_mib);
  out << buf;
  return 0;
}

}  // namespace softrl::bench
