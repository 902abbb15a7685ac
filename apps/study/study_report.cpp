#include "apps/study/study_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "apps/algos/run_config_yaml.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "envs/registry.h"
#include "envs/rollout.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

// "a.b.c" -> scalar text, for telling the configs of one algorithm apart.
void flatten(const YAML::Node& n, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n)
      flatten(kv.second, prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar(), out);
  } else {
    YAML::Emitter e;
    e << YAML::Flow << n;
    out[prefix] = e.c_str();
  }
}

ScoreMatrix scores_of(const std::vector<RunRecord>& runs, const std::string& arm,
                      const std::vector<std::string>& tasks) {
  ScoreMatrix m;
  for (const auto& t : tasks) {
    std::vector<double> s;
    for (const auto& r : runs)
      if (r.complete && r.arm == arm && r.task == t) s.push_back(r.score);
    if (!s.empty()) m.push_back(s);
  }
  return m;
}

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// A score named `metric`: the last logged value of that training metric, else that number of the
// run's eval_report.json (written by softrl eval: pass_at_1, pass_at_k, mean, iqm, ...).
double metric_of_run(const fs::path& dir, const std::string& metric) {
  try {
    return read_last_metric(dir, metric);
  } catch (const InputError& e) {
    // softrl eval writes it beside the checkpoint it evaluated (a run's best.pt: checkpoints/);
    // runs evaluated before that have it in the run directory.
    fs::path report = dir / "checkpoints" / "eval_report.json";
    if (!fs::exists(report)) report = dir / "eval_report.json";
    if (!fs::exists(report)) throw;
    YAML::Node n;
    try {
      n = YAML::LoadFile(report.string());  // JSON is YAML
    } catch (const YAML::Exception& y) {
      throw InputError(report.string() + ": unreadable (" + y.what() + ")");
    }
    if (!n.IsMap() || !n[metric].IsScalar())
      throw InputError(std::string(e.what()) + "; nor is it a number of " + report.string());
    try {
      return n[metric].as<double>();
    } catch (const YAML::Exception&) {
      throw InputError(report.string() + ": " + metric + " is not a number");
    }
  }
}

}  // namespace

RunRecord read_run(const fs::path& dir, const std::string& arm, int last_k, bool best, const std::string& metric) {
  const RunConfig cfg = load_config((dir / "config.yaml").string());
  RunRecord r;
  r.dir = dir;
  r.arm = arm;
  r.task = cfg.env_id;
  r.seed = cfg.seed;
  r.total_steps = cfg.total_steps;
  r.threshold = envs::make_env(cfg.env_id, cfg.env_options)->spec().reward_threshold;
  r.evals = read_eval_log(dir);
  if (fs::exists(dir / "metrics.csv")) r.metrics = read_metric_log(dir);
  r.complete = !r.evals.empty() && r.evals.back().step >= r.total_steps;
  const size_t k = std::min(r.evals.size(), static_cast<size_t>(std::max(1, last_k)));
  for (size_t i = r.evals.size() - k; i < r.evals.size(); ++i) r.score += r.evals[i].mean / static_cast<double>(k);
  r.best = best;
  if (best && !r.evals.empty())
    r.score = std::max_element(r.evals.begin(), r.evals.end(), [](const EvalRecord& a, const EvalRecord& b) {
                return a.mean < b.mean;
              })->mean;
  if (!metric.empty()) {
    r.score = metric_of_run(dir, metric);
    // Returns of an evaluation keep the task's threshold; the optimality gap of any other metric
    // (accuracy, WinMass, Pass@k) is taken below 1.
    static const std::set<std::string> returns = {"mean", "median", "iqm", "min", "max", "best_of_k"};
    if (!returns.count(metric)) {
      r.threshold = 1.0;
      r.share = true;
    }
  }
  return r;
}

std::string study_arm_of(const fs::path& run_dir) {
  const fs::path cell = fs::absolute(run_dir).lexically_normal();
  const fs::path arm = (cell.has_filename() ? cell : cell.parent_path()).parent_path();
  const fs::path runs = arm.parent_path();
  if (runs.filename() == "runs" && fs::exists(runs.parent_path() / "study.yaml")) return arm.filename().string();
  return "";
}

void name_arms(std::vector<RunRecord>& runs) {
  std::map<std::string, std::vector<size_t>> by_algo;
  std::vector<std::map<std::string, std::string>> flat(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i].arm.empty()) continue;
    const YAML::Node root = YAML::LoadFile((runs[i].dir / "config.yaml").string());
    flatten(root, "", flat[i]);
    flat[i].erase("seed");
    by_algo[flat[i]["algo"]].push_back(i);
  }
  for (const auto& [algo, idx] : by_algo) {
    std::set<std::string> differing;
    for (size_t i : idx)
      for (const auto& [k, v] : flat[i])
        for (size_t j : idx)
          if (!flat[j].count(k) || flat[j].at(k) != v) differing.insert(k);
    for (size_t i : idx) {
      std::string name = algo;
      for (const auto& k : differing)
        if (k != "env.id" && flat[i].count(k)) name += " " + k + "=" + flat[i][k];
      runs[i].arm = name;
    }
  }
}

namespace {

// Scores between random play (0) and the task's heuristic (1), each measured here.
void normalize_scores(Report& rep, std::vector<RunRecord>& runs, const ReportSettings& st) {
  for (const auto& task : rep.tasks) {
    auto env = envs::make_env(task);
    auto heuristic = envs::make_heuristic(task);
    auto random = envs::make_random_policy(task, st.seed);
    const Normalizer n{task, envs::evaluate(*env, *random, st.normalize_episodes, envs::kEvalSeedBase).mean,
                       envs::evaluate(*env, *heuristic, st.normalize_episodes, envs::kEvalSeedBase).mean};
    for (auto& r : runs) {
      if (r.task != task) continue;
      const auto norm = [&](double v) { return (v - n.random) / (n.heuristic - n.random); };
      r.score = norm(r.score);
      for (auto& e : r.evals) e.mean = norm(e.mean);
      r.threshold = 1.0;
      r.share = true;
    }
    rep.normalizers.push_back(n);
  }
}

// Each arm's aggregate metrics on `tasks` (one task, or every task as `label`), with
// stratified-bootstrap intervals.
void add_rows(Report& rep, const std::string& label, const std::vector<std::string>& tasks, const ReportSettings& st) {
  const auto stat = [&](const ScoreMatrix& m, double (*f)(const ScoreMatrix&)) {
    return stratified_bootstrap(
        m, [f](const ScoreMatrix& s) { return f(s); }, st.bootstrap_reps, st.seed);
  };
  for (const auto& arm : rep.arms) {
    const ScoreMatrix m = scores_of(rep.runs, arm, tasks);
    if (m.empty()) continue;
    int runs = 0;
    for (const auto& per_task : m) runs += static_cast<int>(per_task.size());
    ArmTaskRow row{.arm = arm, .task = label, .runs = runs};
    for (const auto& r : rep.runs)
      if (std::find(tasks.begin(), tasks.end(), r.task) != tasks.end()) row.threshold = r.threshold, row.share = r.share;
    row.mean = stat(m, mean);
    row.median = stat(m, median);
    row.iqm = stat(m, iqm);
    const double g = row.threshold;
    row.optimality_gap = stratified_bootstrap(
        m, [g](const ScoreMatrix& s) { return optimality_gap(s, g); }, st.bootstrap_reps, st.seed);
    rep.rows.push_back(row);
  }
}

// Performance profiles on 41 thresholds spanning the task's scores.
void add_profiles(Report& rep, const std::string& task) {
  double lo = 1e300, hi = -1e300;
  for (const auto& r : rep.runs)
    if (r.complete && r.task == task) lo = std::min(lo, r.score), hi = std::max(hi, r.score);
  std::vector<double> th;
  for (int k = 0; k <= 40; ++k) th.push_back(lo + (hi - lo) * k / 40.0 - (k == 0 ? 1e-9 * (1 + std::abs(lo)) : 0.0));
  rep.profile_thresholds.push_back(th);
  std::vector<std::vector<double>> per_arm;
  for (const auto& arm : rep.arms) {
    const ScoreMatrix m = scores_of(rep.runs, arm, {task});
    per_arm.push_back(m.empty() ? std::vector<double>(th.size(), 0.0) : performance_profile(m, th));
  }
  rep.profiles.push_back(per_arm);
}

// IQM learning curves at the steps every run of the arm has evaluated.
void add_curves(Report& rep, const std::string& task, const ReportSettings& st) {
  for (const auto& arm : rep.arms) {
    std::vector<const RunRecord*> rs;
    // The runs the statistics count: an unfinished run would shape a curve the table leaves it out of.
    for (const auto& r : rep.runs)
      if (r.complete && r.arm == arm && r.task == task) rs.push_back(&r);
    if (rs.empty()) continue;
    CurveRow c{.arm = arm, .task = task};
    // The k-th evaluation of every run, at the mean of their steps: group learners evaluate after
    // the iteration that crosses each multiple of eval.every, at steps that differ from run to run.
    size_t evaluations = rs.front()->evals.size();
    for (const RunRecord* r : rs) evaluations = std::min(evaluations, r->evals.size());
    for (size_t k = 0; k < evaluations; ++k) {
      ScoreMatrix at(1);
      double step = 0;
      for (const RunRecord* r : rs) at[0].push_back(r->evals[k].mean), step += static_cast<double>(r->evals[k].step);
      c.steps.push_back(std::llround(step / static_cast<double>(rs.size())));
      c.iqm.push_back(stratified_bootstrap(
          at, [](const ScoreMatrix& s) { return iqm(s); }, 500, st.seed));
    }
    rep.curves.push_back(c);
  }
}

// Training-metric curves: every column of the runs' metrics.csv but the step, time and rates.
void add_metric_curves(Report& rep, const std::string& task) {
  static const std::set<std::string> not_curves = {"step", "wall_time", "steps_per_s", "updates_per_s"};
  for (const auto& arm : rep.arms) {
    std::vector<const RunRecord*> rs;
    for (const auto& r : rep.runs)
      if (r.complete && r.arm == arm && r.task == task && !r.metrics.rows.empty()) rs.push_back(&r);
    if (rs.empty()) continue;
    size_t rows = rs.front()->metrics.rows.size();
    for (const RunRecord* r : rs) rows = std::min(rows, r->metrics.rows.size());
    for (const std::string& name : rs.front()->metrics.columns) {
      if (not_curves.count(name)) continue;
      MetricCurve c{.arm = arm, .task = task, .metric = name};
      std::vector<size_t> column;  // the metric's column in each run's log (past the end: not logged)
      for (const RunRecord* r : rs) {
        const auto& cols = r->metrics.columns;
        column.push_back(static_cast<size_t>(std::find(cols.begin(), cols.end(), name) - cols.begin()));
      }
      for (size_t k = 0; k < rows; ++k) {
        double step = 0, sum = 0;
        int values = 0;
        for (size_t i = 0; i < rs.size(); ++i) {
          const std::vector<double>& row = rs[i]->metrics.rows[k];
          step += row[0];
          if (column[i] < row.size() && std::isfinite(row[column[i]])) sum += row[column[i]], ++values;
        }
        if (values == 0) continue;  // not logged yet at this row (e.g. before the first update)
        c.steps.push_back(std::llround(step / static_cast<double>(rs.size())));
        c.mean.push_back(sum / values);
      }
      if (!c.steps.empty()) rep.metric_curves.push_back(std::move(c));
    }
  }
}

// The probability that each arm improves on each other, over the tasks both ran.
void add_pairs(Report& rep, const ReportSettings& st) {
  for (const auto& x : rep.arms)
    for (const auto& y : rep.arms) {
      if (x == y) continue;
      std::vector<std::string> shared;
      for (const auto& t : rep.tasks)
        if (!scores_of(rep.runs, x, {t}).empty() && !scores_of(rep.runs, y, {t}).empty()) shared.push_back(t);
      if (shared.empty()) continue;
      const auto poi = [](const ScoreMatrix& a, const ScoreMatrix& b) { return probability_of_improvement(a, b); };
      rep.pairs.push_back({x, y,
                           stratified_bootstrap(scores_of(rep.runs, x, shared), scores_of(rep.runs, y, shared), poi,
                                                st.bootstrap_reps, st.seed)});
    }
}

}  // namespace

std::string score_rule(int last_k, bool best, const std::string& metric) {
  if (!metric.empty()) return "the last logged " + metric;
  if (best) return "the mean return of the best evaluation (the one best.pt was saved at)";
  if (last_k > 1) return "the mean return of the last " + std::to_string(last_k) + " evaluations";
  return "the mean return of the final evaluation";
}

Report build_report(std::vector<RunRecord> runs, const ReportSettings& st) {
  Report rep;
  rep.score = st.score;
  rep.bootstrap_reps = st.bootstrap_reps;
  rep.bootstrap_seed = st.seed;
  for (const auto& r : runs) add_unique(rep.arms, r.arm), add_unique(rep.tasks, r.task);
  if (st.normalize) normalize_scores(rep, runs, st);
  rep.runs = std::move(runs);
  for (const auto& task : rep.tasks) {
    add_rows(rep, task, {task}, st);
    add_profiles(rep, task);
    add_curves(rep, task, st);
    add_metric_curves(rep, task);
  }
  const bool shared_scale = std::all_of(rep.runs.begin(), rep.runs.end(), [](const RunRecord& r) { return r.share; });
  if (rep.tasks.size() > 1 && shared_scale) add_rows(rep, kAllTasks, rep.tasks, st);
  add_pairs(rep, st);
  return rep;
}

std::string report_table(const Report& r) {
  std::string out;
  char buf[400];
  for (const auto& n : r.normalizers) {
    std::snprintf(buf, sizeof buf, "%s scores normalised: (return - %.4f) / (%.4f - %.4f) (random play, heuristic)\n",
                  n.task.c_str(), n.random, n.heuristic, n.random);
    out += buf;
  }
  std::vector<std::string> sections = r.tasks;
  if (std::any_of(r.rows.begin(), r.rows.end(), [](const ArmTaskRow& row) { return row.task == kAllTasks; }))
    sections.push_back(kAllTasks);
  for (const auto& task : sections) {
    out += task + " (score: " + r.score + "; 95 % stratified bootstrap intervals)\n";
    // Arm names print whole: the column is as wide as the longest one.
    int arm_width = 3;
    for (const auto& row : r.rows) arm_width = std::max(arm_width, static_cast<int>(row.arm.size()));
    std::snprintf(buf, sizeof buf, "  %-*s %4s  %-26s %-26s %-26s %-26s\n", arm_width, "arm", "runs", "mean", "median",
                  "IQM", "optimality gap");
    out += buf;
    for (const auto& row : r.rows) {
      if (row.task != task) continue;
      // Returns with one decimal; normalised scores and metrics (shares, losses) with three.
      const int digits = row.share ? 3 : 1;
      const auto iv = [digits](const Interval& i) {
        char b[64];
        std::snprintf(b, sizeof b, "%.*f [%.*f, %.*f]", digits, i.point, digits, i.lo, digits, i.hi);
        return std::string(b);
      };
      out += "  " + row.arm + std::string(static_cast<size_t>(arm_width) - row.arm.size() + 1, ' ');
      std::snprintf(buf, sizeof buf, "%4d  %-26s %-26s %-26s %-26s\n", row.runs, iv(row.mean).c_str(),
                    iv(row.median).c_str(), iv(row.iqm).c_str(), iv(row.optimality_gap).c_str());
      out += buf;
    }
  }
  if (!r.pairs.empty()) out += "probability of improvement P(X > Y):\n";
  size_t x_width = 0, y_width = 0;
  for (const auto& p : r.pairs) x_width = std::max(x_width, p.x.size()), y_width = std::max(y_width, p.y.size());
  for (const auto& p : r.pairs) {
    std::snprintf(buf, sizeof buf, " %.2f [%.2f, %.2f]\n", p.probability.point, p.probability.lo, p.probability.hi);
    out += "  " + p.x + std::string(x_width - p.x.size(), ' ') + " > " + p.y + std::string(y_width - p.y.size(), ' ') + buf;
  }
  int incomplete = 0;
  for (const auto& run : r.runs) incomplete += !run.complete;
  if (incomplete) out += std::to_string(incomplete) + " run(s) without a final evaluation left out\n";
  return out;
}

void write_summary(const Report& r, const fs::path& dir, const std::string& title) {
  std::string csv = "arm,task,metric,value,ci_low,ci_high,runs\n";
  std::vector<std::string> rows;
  for (const auto& row : r.rows) {
    for (const auto& [name, iv] : {std::pair<const char*, Interval>{"mean", row.mean},
                                   {"median", row.median},
                                   {"iqm", row.iqm},
                                   {"optimality_gap", row.optimality_gap}}) {
      csv += json_string(row.arm) + "," + row.task + "," + name + "," + json_number(iv.point) + "," +
             json_number(iv.lo) + "," + json_number(iv.hi) + "," + std::to_string(row.runs) + "\n";
      rows.push_back(JsonObject()
                         .add("arm", row.arm)
                         .add("task", row.task)
                         .add("metric", name)
                         .add("value", iv.point)
                         .add("ci_low", iv.lo)
                         .add("ci_high", iv.hi)
                         .add("runs", row.runs)
                         .str());
    }
  }
  std::vector<std::string> pairs;
  for (const auto& p : r.pairs)
    pairs.push_back(JsonObject()
                        .add("x", p.x)
                        .add("y", p.y)
                        .add("probability_of_improvement", p.probability.point)
                        .add("ci_low", p.probability.lo)
                        .add("ci_high", p.probability.hi)
                        .str());
  std::vector<std::string> runs;
  for (const auto& run : r.runs)
    runs.push_back(JsonObject()
                       .add("dir", run.dir.string())
                       .add("arm", run.arm)
                       .add("task", run.task)
                       .add("seed", run.seed)
                       .add("complete", run.complete)
                       .add("score", run.score)
                       .str());
  write_file_atomic(dir / "summary.csv", csv);
  std::vector<std::string> norms;
  for (const auto& n : r.normalizers)
    norms.push_back(JsonObject().add("task", n.task).add("random", n.random).add("heuristic", n.heuristic).str());
  write_file_atomic(dir / "summary.json", JsonObject()
                                                  .add("title", title)
                                                  .add("score", r.score)
                                                  .add("confidence", 0.95)
                                                  .add("bootstrap_reps", r.bootstrap_reps)
                                                  .add("bootstrap_seed", r.bootstrap_seed)
                                                  .raw("normalizers", json_array(norms))
                                                  .raw("rows", json_array(rows))
                                                  .raw("probability_of_improvement", json_array(pairs))
                                                  .raw("runs", json_array(runs))
                                                  .str() +
                                              "\n");
}

}  // namespace softrl::apps
