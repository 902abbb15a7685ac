#include "apps/eval_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <vector>

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

int run_eval(const EvalOptions& opt, std::ostream& out, std::ostream& err) {
  const std::string prefix = "heuristic:";
  if (opt.target.rfind(prefix, 0) != 0) {
    err << "softrl eval: '" << opt.target
        << "' is not supported yet: give heuristic:ENV_ID (checkpoint evaluation arrives with SAC training)\n";
    return 2;
  }
  if (!opt.record.empty() && !(opt.record.ends_with(".gif") || opt.record.ends_with(".png"))) {
    err << "softrl eval: --record " << opt.record << ": expected a .gif or .png file name\n";
    return 2;
  }
  const std::string id = opt.target.substr(prefix.size());
  std::unique_ptr<envs::Env> env;
  std::unique_ptr<envs::Policy> policy;
  try {
    env = envs::make_env(id);
    policy = envs::make_heuristic(id);
  } catch (const envs::EnvError& e) {
    err << "softrl eval: " << e.what() << "\n";
    return 2;
  }
  std::vector<double> returns;
  std::vector<int> lengths;
  std::vector<envs::Image> frames;
  for (int ep = 0; ep < opt.episodes; ++ep) {
    std::vector<float> obs = env->reset(opt.seed + static_cast<uint64_t>(ep));
    policy->begin_episode();
    const bool record = ep == 0 && !opt.record.empty();
    if (record) frames.push_back(envs::render(*env));
    double ret = 0;
    int len = 0;
    while (true) {
      envs::StepResult r = env->step(policy->act(obs));
      ret += r.reward;
      ++len;
      obs = std::move(r.obs);
      if (record && (len % 2 == 0 || r.terminated || r.truncated)) frames.push_back(envs::render(*env));
      if (r.terminated || r.truncated) break;
    }
    returns.push_back(ret);
    lengths.push_back(len);
  }
  const ReturnStats s = return_stats(returns, lengths, env->spec().reward_threshold);
  if (!opt.record.empty()) {
    if (opt.record.ends_with(".gif")) envs::write_gif(opt.record, frames, 4);
    else envs::write_png(opt.record, frames.back());
  }
  if (opt.json) {
    out << "{\"policy\": \"" << opt.target << "\", \"env\": \"" << id << "\", \"episodes\": " << s.episodes
        << ", \"seed\": " << opt.seed << ", \"mean\": " << s.mean << ", \"std\": " << s.std << ", \"median\": "
        << s.median << ", \"iqm\": " << s.iqm << ", \"min\": " << s.min << ", \"max\": " << s.max
        << ", \"success_rate\": " << s.success_rate << ", \"threshold\": " << env->spec().reward_threshold
        << ", \"mean_length\": " << s.mean_length << "}\n";
    return 0;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s on %s, %d episodes (seeds %llu..%llu)\n  return mean %.2f  std %.2f  median %.2f  IQM %.2f  "
                "min %.2f  max %.2f\n  success (return >= %.0f) %.1f %%  mean length %.1f\n",
                opt.target.c_str(), id.c_str(), s.episodes, static_cast<unsigned long long>(opt.seed),
                static_cast<unsigned long long>(opt.seed + opt.episodes - 1), s.mean, s.std, s.median, s.iqm, s.min,
                s.max, env->spec().reward_threshold, 100 * s.success_rate, s.mean_length);
  out << buf;
  if (!opt.record.empty()) out << "  recorded episode 0 to " << opt.record << "\n";
  return 0;
}

}  // namespace softrl::apps
