#include "apps/eval_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <ostream>
#include <vector>

#include "agents/checkpoint.h"
#include "agents/sac.h"
#include "apps/atomic_file.h"
#include "apps/config.h"
#include "envs/registry.h"
#include "envs/render.h"

namespace softrl::apps {

ReturnStats return_stats(const std::vector<double>& returns, const std::vector<int>& lengths, double threshold) {
  ReturnStats s;
  s.episodes = static_cast<int>(returns.size());
  if (returns.empty()) return s;
  std::vector<double> r = returns;
  std::sort(r.begin(), r.end());
  const double n = static_cast<double>(r.size());
  for (double x : r) s.mean += x / n;
  for (double x : r) s.std += (x - s.mean) * (x - s.mean) / n;
  s.std = std::sqrt(s.std);
  s.median = r.size() % 2 ? r[r.size() / 2] : 0.5 * (r[r.size() / 2 - 1] + r[r.size() / 2]);
  // IQM over the middle half, with fractional weights at the quartile boundaries (rliable).
  const double lo = 0.25 * n, hi = 0.75 * n;
  double total = 0, weight = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double w = std::max(0.0, std::min(static_cast<double>(i + 1), hi) - std::max(static_cast<double>(i), lo));
    total += w * r[i];
    weight += w;
  }
  s.iqm = total / weight;
  s.min = r.front();
  s.max = r.back();
  for (double x : returns) s.success_rate += (x >= threshold) / n;
  for (int l : lengths) s.mean_length += l / n;
  return s;
}

namespace {
namespace fs = std::filesystem;

// One policy to evaluate: an env factory and a per-episode action function.
struct Evaluated {
  std::string label, env_id;
  envs::EnvOptions env_options;
  std::function<void()> begin_episode;
  std::function<std::vector<float>(const std::vector<float>&)> act;
  fs::path report_dir;  // where eval_report.json goes (empty: nowhere)
};

Evaluated heuristic_policy(const std::string& id) {
  auto policy = std::shared_ptr<envs::Policy>(envs::make_heuristic(id));
  return {"heuristic:" + id, id, {}, [policy] { policy->begin_episode(); },
          [policy](const std::vector<float>& o) { return policy->act(o); }, {}};
}

Evaluated checkpoint_policy(const std::string& target, bool stochastic) {
  fs::path ckpt = target;
  fs::path report_dir;
  if (fs::is_directory(ckpt)) {
    report_dir = ckpt;
    ckpt = ckpt / "checkpoints" / "latest.pt";
  } else {
    report_dir = ckpt.parent_path();
  }
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  const TrainConfig cfg = parse_config(c.header.config_yaml, ckpt.string() + " (embedded config)");
  auto env = envs::make_env(cfg.env_id, cfg.env_options);
  const auto& as = env->spec().action_space;
  const bool discrete = as.kind == envs::Space::Kind::discrete;
  agents::check_compatible(c.header, ckpt.string(), cfg.env_id, env->spec().observation_space.dim(),
                           discrete ? 1 : as.dim(), discrete ? as.n : 0, cfg.sac.net_arch);
  auto agent = std::make_shared<agents::Sac>(cfg.sac, c.header.obs_dim, c.header.act_dim, c.header.num_actions, cfg.seed);
  torch::serialize::InputArchive learner;
  try {
    c.archive.read("learner", learner);
    agent->load(learner);
  } catch (const c10::Error& e) {
    throw agents::CheckpointError(ckpt.string() + ": learner state does not match its header (" +
                                  std::string(e.what_without_backtrace()).substr(0, 160) + ")");
  }
  return {ckpt.string(), cfg.env_id, cfg.env_options, [] {},
          [agent, stochastic](const std::vector<float>& o) {
            const torch::Tensor x = torch::tensor(o).reshape({1, -1});
            const torch::Tensor a = agent->act(x, !stochastic).to(torch::kFloat32).reshape({-1}).contiguous();
            return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
          },
          report_dir};
}

std::string stats_json(const Evaluated& p, const EvalOptions& opt, const ReturnStats& s, double threshold) {
  std::ostringstream o;
  o << "{\"policy\": \"" << p.label << "\", \"env\": \"" << p.env_id << "\", \"episodes\": " << s.episodes
    << ", \"seed\": " << opt.seed << ", \"deterministic\": " << (opt.stochastic ? "false" : "true")
    << ", \"mean\": " << s.mean << ", \"std\": " << s.std << ", \"median\": " << s.median << ", \"iqm\": " << s.iqm
    << ", \"min\": " << s.min << ", \"max\": " << s.max << ", \"success_rate\": " << s.success_rate
    << ", \"threshold\": " << threshold << ", \"mean_length\": " << s.mean_length << "}";
  return o.str();
}
}  // namespace

int run_eval(const EvalOptions& opt, std::ostream& out, std::ostream& err) {
  if (!opt.record.empty() && !(opt.record.ends_with(".gif") || opt.record.ends_with(".png"))) {
    err << "softrl eval: --record " << opt.record << ": expected a .gif or .png file name\n";
    return 2;
  }
  const std::string prefix = "heuristic:";
  Evaluated p;
  std::unique_ptr<envs::Env> env;
  try {
    p = opt.target.rfind(prefix, 0) == 0 ? heuristic_policy(opt.target.substr(prefix.size()))
                                         : checkpoint_policy(opt.target, opt.stochastic);
    env = envs::make_env(p.env_id, p.env_options);
  } catch (const std::exception& e) {
    err << "softrl eval: " << e.what() << "\n";
    return 2;
  }
  std::vector<double> returns;
  std::vector<int> lengths;
  std::vector<envs::Image> frames;
  for (int ep = 0; ep < opt.episodes; ++ep) {
    std::vector<float> obs = env->reset(opt.seed + static_cast<uint64_t>(ep));
    p.begin_episode();
    const bool record = ep == 0 && !opt.record.empty();
    if (record) frames.push_back(envs::render(*env));
    double ret = 0;
    int len = 0;
    while (true) {
      envs::StepResult r = env->step(p.act(obs));
      ret += r.reward;
      ++len;
      obs = std::move(r.obs);
      if (record && (len % 2 == 0 || r.terminated || r.truncated)) frames.push_back(envs::render(*env));
      if (r.terminated || r.truncated) break;
    }
    returns.push_back(ret);
    lengths.push_back(len);
  }
  const double threshold = env->spec().reward_threshold;
  const ReturnStats s = return_stats(returns, lengths, threshold);
  try {
    if (!opt.record.empty()) {
      if (opt.record.ends_with(".gif")) envs::write_gif(opt.record, frames, 4);
      else envs::write_png(opt.record, frames.back());
    }
    if (!p.report_dir.empty()) {
      write_text_atomic(p.report_dir / "eval_report.json", stats_json(p, opt, s, threshold) + "\n");
    }
  } catch (const std::exception& e) {
    err << "softrl eval: " << e.what() << "\n";
    return 2;
  }
  if (opt.json) {
    out << stats_json(p, opt, s, threshold) << "\n";
    return 0;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s on %s, %d episodes (seeds %llu..%llu, %s)\n  return mean %.2f  std %.2f  median %.2f  IQM %.2f  "
                "min %.2f  max %.2f\n  success (return >= %.0f) %.1f %%  mean length %.1f\n",
                p.label.c_str(), p.env_id.c_str(), s.episodes, static_cast<unsigned long long>(opt.seed),
                static_cast<unsigned long long>(opt.seed + opt.episodes - 1), opt.stochastic ? "stochastic" : "deterministic",
                s.mean, s.std, s.median, s.iqm, s.min, s.max, threshold, 100 * s.success_rate, s.mean_length);
  out << buf;
  if (!opt.record.empty()) out << "  recorded episode 0 to " << opt.record << "\n";
  if (!p.report_dir.empty()) out << "  report: " << (p.report_dir / "eval_report.json").string() << "\n";
  return 0;
}

}  // namespace softrl::apps
