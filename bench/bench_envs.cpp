#include "bench/bench_envs.h"

#include "common/json.h"

#include <chrono>
#include <cstdio>
#include <ostream>
#include <random>
#include <thread>

#include "bench/timing.h"
#include "envs/registry.h"
#include "envs/vector_env.h"

namespace softrl::bench {
namespace {
using clock_type = std::chrono::steady_clock;

std::vector<float> random_action(const envs::Space& s, std::mt19937& gen) {
  if (s.kind == envs::Space::Kind::discrete) return {static_cast<float>(gen() % s.n)};
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(s.low.size());
  for (float& x : a) x = u(gen);
  return a;
}

double single_env_steps_per_s(const std::string& id, double seconds) {
  auto env = envs::make_env(id);
  std::mt19937 gen(0);
  env->reset(0);
  int64_t steps = 0;
  const auto start = clock_type::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int k = 0; k < 200; ++k) {
      const auto r = env->step(random_action(env->spec().action_space, gen));
      ++steps;
      if (r.terminated || r.truncated) env->reset();
    }
    elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  }
  return static_cast<double>(steps) / elapsed;
}

struct VectorRate {
  double steps_per_s;
  double join_idle_share;  // of the threads' time, waiting at the end of a step for the others
  // of the loop's wall-clock, outside the pool's calls: the step's own serial work on the calling
  // thread (action conversion, output tensors, gathering the results) while the other thread waits
  double serial_share;
};

VectorRate vector_steps_per_s(const std::string& id, int n, int threads, double seconds) {
  envs::VectorEnv venv(id, n, {}, threads);
  venv.reset(0);
  at::Generator gen = at::detail::createCPUGenerator(0);  // its own: no lock shared with another thread
  const auto& as = venv.spec().action_space;
  // The actions are drawn beforehand and cycled: drawing them costs ~3 us per step on the calling
  // thread, serial work of the benchmark's own that would count against the vector env's scaling.
  std::vector<torch::Tensor> actions;
  for (int k = 0; k < 64; ++k)
    actions.push_back(as.kind == envs::Space::Kind::discrete ? torch::randint(0, as.n, {n}, gen).to(torch::kFloat32)
                                                             : torch::rand({n, as.dim()}, gen) * 2 - 1);
  const auto before = venv.join_stats();  // the reset's call is not the loop's
  int64_t steps = 0;
  const auto start = clock_type::now();
  double elapsed = 0;
  for (size_t k = 0; elapsed < seconds; ++k) {
    venv.step(actions[k % actions.size()]);
    steps += n;
    elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  }
  const auto join = venv.join_stats();
  const double idle = join.idle_thread_seconds - before.idle_thread_seconds, in_pool = join.seconds - before.seconds;
  // Against the whole loop's time: the share of the threads' time lost at the joins.
  return {static_cast<double>(steps) / elapsed, idle / (threads * elapsed),
          threads > 1 ? 1.0 - in_pool / elapsed : 0.0};
}

// The machine's own ceiling for two threads: two 1-thread vector envs stepped at the same time on
// two threads that share nothing (summed steps/s). Against one alone, it shows what the cores,
// their shared cache and memory, and the clock give to a second thread without any
// synchronisation; the 2-thread vector env can at best match it.
double independent_steps_per_s(const std::string& id, int n, double seconds) {
  double rates[2] = {0, 0};
  std::thread other([&] { rates[1] = vector_steps_per_s(id, n, 1, seconds).steps_per_s; });
  rates[0] = vector_steps_per_s(id, n, 1, seconds).steps_per_s;
  other.join();
  return rates[0] + rates[1];
}
}  // namespace

int run_env_bench(const EnvBenchOptions& opt, std::ostream& out) {
  struct Row {
    std::string id;
    double single, vec1, vec2, independent, scaling, ceiling, join_idle,
        serial;  // rates and ratios: medians over rounds
  };
  // The shared host's speed drifts by 10-20 % within minutes: each round measures the three
  // vector-env rates one right after the other and takes its ratios within the round; the
  // medians over rounds are reported.
  std::vector<Row> rows;
  for (const auto& id : envs::env_ids()) {
    std::vector<double> vec1, vec2, independent, scaling, ceiling, join_idle, serial;
    for (int round = 0; round < opt.rounds; ++round) {
      vec1.push_back(vector_steps_per_s(id, opt.envs, 1, opt.seconds).steps_per_s);
      const VectorRate two = vector_steps_per_s(id, opt.envs, 2, opt.seconds);
      vec2.push_back(two.steps_per_s);
      join_idle.push_back(two.join_idle_share);
      serial.push_back(two.serial_share);
      independent.push_back(independent_steps_per_s(id, opt.envs, opt.seconds));
      scaling.push_back(vec2.back() / vec1.back());
      ceiling.push_back(independent.back() / vec1.back());
    }
    const auto m = median_of_rounds;
    rows.push_back({id, single_env_steps_per_s(id, opt.seconds), m(vec1), m(vec2), m(independent), m(scaling),
                    m(ceiling), m(join_idle), m(serial)});
  }
  if (opt.json) {
    std::vector<std::string> results;
    for (const auto& r : rows)
      results.push_back(JsonObject()
                            .add("id", r.id)
                            .add("single_steps_per_s", r.single)
                            .add("vector_envs", opt.envs)
                            .add("vector_1thread_steps_per_s", r.vec1)
                            .add("vector_2threads_steps_per_s", r.vec2)
                            .add("independent_2x1thread_steps_per_s", r.independent)
                            .add("scaling", r.scaling)
                            .add("ceiling", r.ceiling)
                            .add("join_idle_share_2threads", r.join_idle)
                            .add("serial_share_2threads", r.serial)
                            .add("rounds", opt.rounds)
                            .str());
    out << JsonObject().raw("results", json_array(results)).str() << "\n";
    return 0;
  }
  char buf[200];
  out << "softrl bench envs: random actions, steps/s (vector env: " << opt.envs
      << " envs; ceiling: two 1-thread\n"
         "vector envs stepped at once on two threads that share nothing, over one alone; medians of "
      << opt.rounds
      << " rounds,\neach ratio taken within its round; join idle: share of the 2 threads' time spent waiting\n"
         "at the end of a step for the other's last env; serial: share of the 2-thread loop's time outside the\n"
         "pool, the step's own work on the calling thread while the other waits)\n";
  std::snprintf(buf, sizeof buf, "%-26s %12s %14s %14s %8s %16s %8s %10s %7s\n", "task", "1 env", "vec 1 thread",
                "vec 2 threads", "scaling", "2 x vec 1 thread", "ceiling", "join idle", "serial");
  out << buf;
  for (const auto& r : rows) {
    std::snprintf(buf, sizeof buf, "%-26s %12.0f %14.0f %14.0f %7.2fx %16.0f %7.2fx %9.1f%% %6.1f%%\n", r.id.c_str(),
                  r.single, r.vec1, r.vec2, r.scaling, r.independent, r.ceiling, 100 * r.join_idle, 100 * r.serial);
    out << buf;
  }
  return 0;
}

}  // namespace softrl::bench
