#include "apps/commands/eval_command.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <type_traits>
#include <vector>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "apps/algos/registry.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/command_boundary.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "envs/registry.h"
#include "envs/render.h"

namespace softrl::apps {
namespace {
namespace fs = std::filesystem;

// The policy to evaluate and where it came from.
struct Evaluated {
  std::string label, env_id;
  envs::EnvOptions env_options;
  std::unique_ptr<envs::Env> env;
  std::unique_ptr<envs::Policy> actor;
  agents::LoadedPolicy loaded;  // keeps a checkpoint's policy alive for `actor`
  GuidedActor guided;           // value-guided selection: its counters and what it keeps alive
  fs::path report_dir;          // where eval_report.json goes (empty: nowhere)
};

Evaluated heuristic_policy(const std::string& id) {
  Evaluated p;
  p.label = "heuristic:" + id;
  p.env_id = id;
  p.env = envs::make_env(id);
  p.actor = envs::make_heuristic(id);
  return p;
}

// The policy choosing among sampled actions with its run's value function (its algorithm's hook).
Evaluated value_guided(Evaluated p, const RunConfig& cfg, const std::string& ckpt, const EvalOptions& opt) {
  const AlgoEntry& algo = *find_algo(cfg.algo);
  if (!algo.value_guided)
    throw InputError(ckpt + ": --value-guided needs a run with a value function (" +
                     algo_names_where([](const AlgoEntry& a) { return static_cast<bool>(a.value_guided); }) +
                     "); this is a '" + cfg.algo + "' run");
  p.guided = algo.value_guided(cfg, ckpt, *p.loaded.policy, *p.env, opt.value_guided, opt.seed);
  p.actor = std::move(p.guided.actor);
  p.label += " (value-guided, K=" + std::to_string(opt.value_guided) + ")";
  return p;
}

// Acts through load_policy: no learner, critics or optimizers are built.
Evaluated checkpoint_policy(const std::string& target, const EvalOptions& opt) {
  Evaluated p;
  const fs::path ckpt = agents::checkpoint_of(target);
  p.report_dir = ckpt.parent_path();  // beside the checkpoint evaluated, whatever named it
  p.loaded = agents::load_policy(ckpt.string());
  const RunConfig cfg = parse_config(p.loaded.header.config_yaml, ckpt.string() + " (embedded config)");
  p.label = ckpt.string();
  p.env_id = cfg.env_id;
  p.env_options = cfg.env_options;
  p.env = envs::make_env(cfg.env_id, cfg.env_options);
  agents::check_compatible(p.loaded.header, ckpt.string(), p.env->spec());
  if (opt.value_guided > 0) return value_guided(std::move(p), cfg, ckpt.string(), opt);
  // Groups of episodes from one start state differ only by the policy's draws: --group samples.
  p.actor = make_actor(cfg, *p.loaded.policy, !opt.stochastic && opt.group == 1, opt.seed);
  return p;
}

// A JSON list of an evaluation's per-episode numbers (integers exact, returns to 10 digits).
template <class T>
std::string json_list(const std::vector<T>& values) {
  std::vector<std::string> items;
  for (const T& v : values)
    items.push_back(std::is_integral_v<T> ? std::to_string(v) : json_number(static_cast<double>(v)));
  return json_array(items);
}

std::string stats_json(const Evaluated& p, const EvalOptions& opt, const envs::GroupEvaluation& g, double threshold) {
  const ReturnStats& s = g.stats;
  return JsonObject()
      .add("policy", p.label)
      .add("env", p.env_id)
      .add("episodes", s.episodes)
      .add("seed", opt.seed)
      .add("deterministic", !opt.stochastic && opt.value_guided == 0 && opt.group == 1)
      .add("start_states", g.start_states)
      .add("group", g.group)
      .add("pass_at_1", g.pass_at_1)
      .add("pass_at_k", g.pass_at_k)
      .add("best_of_k", g.best_of_k)
      .add("mean", s.mean)
      .add("std", s.std)
      .add("stderr", s.stderr_)
      .add("median", s.median)
      .add("iqm", s.iqm)
      .add("min", s.min)
      .add("max", s.max)
      .add("success_rate", s.success_rate)
      .add("threshold", threshold)
      .add("mean_length", s.mean_length)
      .add("value_guided", opt.value_guided)
      .add("env_steps_per_decision", p.guided.env_steps_per_decision ? p.guided.env_steps_per_decision() : 1.0)
      .raw("returns", json_list(g.returns))
      .raw("lengths", json_list(g.lengths))
      .raw("seeds", json_list(g.seeds))
      .str();
}

void print_summary(std::ostream& out, const Evaluated& p, const EvalOptions& opt, const envs::GroupEvaluation& g,
                   double threshold) {
  const ReturnStats& s = g.stats;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s on %s, %d episodes (seeds %llu..%llu, %s)\n  return mean %.2f  std %.2f  median %.2f  IQM %.2f  "
                "min %.2f  max %.2f\n  success (return >= %.0f) %.1f %%  mean length %.1f\n",
                p.label.c_str(), p.env_id.c_str(), s.episodes, static_cast<unsigned long long>(opt.seed),
                static_cast<unsigned long long>(opt.seed + opt.episodes - 1),
                opt.value_guided > 0              ? "sampled candidates"
                : opt.stochastic || opt.group > 1 ? "stochastic"
                                                  : "deterministic",
                s.mean, s.std, s.median, s.iqm, s.min, s.max, threshold, 100 * s.success_rate, s.mean_length);
  out << buf;
  if (opt.group > 1) {
    std::snprintf(buf, sizeof buf,
                  "  %d episodes from each of the %d start seeds: Pass@1 %.3f  Pass@%d %.3f  best of %d (mean) %.2f\n",
                  g.group, g.start_states, g.pass_at_1, g.group, g.pass_at_k, g.group, g.best_of_k);
    out << buf;
  }
  if (p.guided.env_steps_per_decision)
    out << "  value-guided: " << opt.value_guided << " candidates, " << p.guided.env_steps_per_decision()
        << " env steps per decision\n";
  if (!opt.record.empty()) out << "  recorded episode 0 to " << opt.record << "\n";
  if (!p.report_dir.empty() && opt.write_report)
    out << "  report: " << (p.report_dir / "eval_report.json").string() << "\n";
}

// Runs the episodes, keeping episode 0's frames when asked (written once the results are shown).
envs::GroupEvaluation evaluate_recording(Evaluated& p, const EvalOptions& opt, envs::Env& env,
                                         std::vector<envs::Image>& frames) {
  envs::StepObserver record;
  if (!opt.record.empty())
    record = [&](int episode, const envs::Env& e, const envs::StepResult* step) {
      if (episode == 0 && (!step || e.elapsed_steps() % 2 == 0 || step->terminated || step->truncated))
        frames.push_back(envs::render(e));
    };
  return envs::evaluate_groups(env, *p.actor, opt.episodes, opt.group, opt.seed, record, opt.threshold);
}

void write_recording(const EvalOptions& opt, const std::vector<envs::Image>& frames) {
  if (opt.record.empty()) return;
  if (opt.record.ends_with(".gif")) envs::write_gif(opt.record, frames, 4);
  else envs::write_png(opt.record, frames.back());
}

}  // namespace

int run_eval(const EvalOptions& opt, std::ostream& out, std::ostream& err) {
  if (!opt.record.empty() && !(opt.record.ends_with(".gif") || opt.record.ends_with(".png"))) {
    err << "softrl eval: --record " << opt.record << ": expected a .gif or .png file name\n";
    return 2;
  }

  const std::string prefix = "heuristic:";
  return guarded(
      "eval",
      [&] {
        Evaluated p = opt.target.rfind(prefix, 0) == 0 ? heuristic_policy(opt.target.substr(prefix.size()))
                                                       : checkpoint_policy(opt.target, opt);
        if (opt.value_guided > 0 && p.report_dir.empty())
          throw InputError("--value-guided needs a run directory or checkpoint, not " + opt.target);
        if (opt.group > 1 && opt.value_guided > 0) throw InputError("--group and --value-guided do not combine");
        std::vector<envs::Image> frames;
        const envs::GroupEvaluation s = evaluate_recording(p, opt, *p.env, frames);
        const double threshold = s.threshold;
        if (opt.json) out << stats_json(p, opt, s, threshold) << "\n";
        else print_summary(out, p, opt, s, threshold);
        out << std::flush;
        // The results are printed first: a recording or report that cannot be written loses
        // nothing already shown.
        write_recording(opt, frames);
        if (!p.report_dir.empty() && opt.write_report)
          write_file_atomic(p.report_dir / "eval_report.json", stats_json(p, opt, s, threshold) + "\n");
        return 0;
      },
      err);
}

}  // namespace softrl::apps
