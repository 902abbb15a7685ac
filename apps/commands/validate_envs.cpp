#include "apps/commands/validate_envs.h"

#include <cmath>
#include <cstdio>
#include <ostream>
#include <thread>

#include "common/json.h"
#include "common/runtime.h"
#include "common/stats.h"
#include "envs/registry.h"
#include "envs/rollout.h"

namespace softrl::apps {

std::vector<HeuristicResult> validate_heuristics(int episodes, uint64_t seed, int threads) {
  const auto& targets = envs::tasks();
  std::vector<HeuristicResult> results(targets.size());
  // Episodes are independent: split them over threads, each with its own env and policy.
  const int nt = std::max(1, threads);
  for (size_t k = 0; k < targets.size(); ++k) {
    std::vector<envs::EpisodeStats> eps(episodes);
    std::vector<std::thread> pool;
    for (int t = 0; t < nt; ++t) {
      pool.emplace_back([&, t] {
        auto env = envs::make_env(targets[k].id);
        auto policy = envs::make_heuristic(targets[k].id);
        for (int e = t; e < episodes; e += nt)
          eps[e] = envs::run_episode(*env, *policy, seed + static_cast<uint64_t>(e));
      });
    }
    for (auto& th : pool) th.join();
    std::vector<double> returns;
    std::vector<int> lengths;
    for (const auto& e : eps) returns.push_back(e.ret), lengths.push_back(e.length);
    const ReturnStats s = return_stats(returns, lengths, 0.0);
    HeuristicResult& r = results[k];
    r.id = targets[k].id;
    r.target = targets[k].validation;
    r.episodes = episodes;
    r.mean = s.mean;
    r.stderr_ = s.stderr_;
    r.mean_length = s.mean_length;
    r.band = targets[k].validation.tolerance * std::sqrt(1000.0 / std::max(1, episodes));
    r.pass = std::abs(s.mean - targets[k].validation.mean) <= r.band;
  }
  return results;
}

int run_validate_envs(const ValidateOptions& opt, std::ostream& out) {
  const auto results = validate_heuristics(opt.episodes, opt.seed, resolve_threads(opt.threads));
  bool all = true;
  for (const auto& r : results) all = all && r.pass;
  if (opt.json) {
    std::vector<std::string> tasks;
    for (const auto& r : results)
      tasks.push_back(JsonObject()
                          .add("id", r.id)
                          .add("mean_return", r.mean)
                          .add("stderr", r.stderr_)
                          .add("mean_length", r.mean_length)
                          .add("target", r.target.mean)
                          .add("band", r.band)
                          .add("target_length", r.target.mean_length)
                          .add("pass", r.pass)
                          .str());
    out << JsonObject()
               .add("episodes", opt.episodes)
               .add("seed", opt.seed)
               .raw("tasks", json_array(tasks))
               .add("pass", all)
               .str()
        << "\n";
    return all ? 0 : 1;
  }
  char buf[256];
  out << "softrl validate-envs: Gymnasium heuristics, " << opt.episodes << " episodes per task (seeds " << opt.seed
      << ".." << opt.seed + opt.episodes - 1 << "), targets: Gymnasium's heuristics on Box2D 2.4.1\n";
  std::snprintf(buf, sizeof buf, "%-26s %9s %7s %9s %8s %9s %8s %s\n", "task", "return", "s.e.", "length", "target",
                "band", "len ref", "");
  out << buf;
  for (const auto& r : results) {
    std::snprintf(buf, sizeof buf, "%-26s %9.2f %7.2f %9.1f %8.1f %9.2f %8.0f %s\n", r.id.c_str(), r.mean, r.stderr_,
                  r.mean_length, r.target.mean, r.band, r.target.mean_length, r.pass ? "ok" : "OUT OF BAND");
    out << buf;
  }
  return all ? 0 : 1;
}

}  // namespace softrl::apps
