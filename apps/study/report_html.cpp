#include "apps/study/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "apps/study/study_report.h"
#include "common/atomic_file.h"

namespace softrl::apps {
namespace {

// Okabe & Ito's colour-blind-safe palette.
const char* colour(size_t i) {
  static const char* c[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};
  return c[i % 8];
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(double v, int digits = 1) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// Digits after the point that show an interval of this width with two significant figures
// (0.801 [0.754, 0.845], 232.2 [225.0, 240.0]): one at least, four at most.
int digits_for(double width) {
  if (!(width > 0) || !std::isfinite(width)) return 1;
  return std::clamp(1 - static_cast<int>(std::floor(std::log10(width))), 1, 4);
}
std::string interval_text(const Interval& iv, int digits) {
  return num(iv.point, digits) + " [" + num(iv.lo, digits) + ", " + num(iv.hi, digits) + "]";
}

// Axis ticks at multiples of 1, 2 or 5 times a power of ten covering [lo, hi] in 3 to 6 steps.
struct Ticks {
  double first, step;
  int count;
  int digits;  // after the point, enough for the step
};
Ticks nice_ticks(double lo, double hi) {
  const double span = hi > lo ? hi - lo : 1.0;
  const double raw = span / 5, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  const double first = std::floor(lo / step) * step, last = std::ceil(hi / step) * step;
  return {first, step, static_cast<int>(std::lround((last - first) / step)) + 1,
          std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)))};
}

// A tick's text: 250000 as 250k and 12000000 as 12M when the value is round there.
std::string tick_label(double v, int digits) {
  const double a = std::abs(v);
  if (a >= 1e6 && std::fmod(a, 1e5) == 0) return num(v / 1e6, std::fmod(a, 1e6) == 0 ? 0 : 1) + "M";
  if (a >= 1e4 && std::fmod(a, 1e3) == 0) return num(v / 1e3, 0) + "k";
  return num(v == 0 ? 0.0 : v, digits);
}

// A chart area mapping data coordinates to SVG pixels, with labelled axes.
struct Chart {
  double x0, x1, y0, y1;
  static constexpr double W = 560, H = 300, L = 70, R = 20, T = 20, B = 50;
  Ticks xt, yt;
  // The axes reach the ticks' round values around the data's range.
  Chart(double xa, double xb, double ya, double yb)
      : xt(nice_ticks(xa, xb == xa ? xa + 1 : xb)),
        yt(nice_ticks(ya, yb == ya ? ya + 1 : yb)) {
    x0 = xt.first, x1 = xt.first + xt.step * (xt.count - 1);
    y0 = yt.first, y1 = yt.first + yt.step * (yt.count - 1);
  }
  double px(double x) const { return L + (x - x0) / (x1 - x0) * (W - L - R); }
  double py(double y) const { return H - B - (y - y0) / (y1 - y0) * (H - T - B); }
  std::string open(const std::string& xlabel, const std::string& ylabel, const std::string& aria) const {
    std::ostringstream o;
    o << "<svg role=\"img\" aria-label=\"" << esc(aria) << "\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << " " << H << "\">";
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
      << "\" fill=\"#fff\" stroke=\"#888\"/>";
    for (int k = 0; k < xt.count; ++k) {
      const double xv = xt.first + k * xt.step;
      o << "<text class=\"xtick\" x=\"" << px(xv) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\">"
        << tick_label(xv, xt.digits) << "</text>";
    }
    for (int k = 0; k < yt.count; ++k) {
      const double yv = yt.first + k * yt.step;
      o << "<text class=\"ytick\" x=\"" << L - 6 << "\" y=\"" << py(yv) + 4 << "\" text-anchor=\"end\">"
        << tick_label(yv, yt.digits) << "</text>";
      o << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << py(yv) << "\" y2=\"" << py(yv)
        << "\" stroke=\"#eee\"/>";
    }
    o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">" << esc(xlabel)
      << "</text>";
    o << "<text transform=\"translate(16," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << esc(ylabel) << "</text>";
    return o.str();
  }
};

std::string legend(const std::vector<std::string>& arms) {
  std::string o = "<p class=\"legend\">";
  for (size_t i = 0; i < arms.size(); ++i)
    o += "<span><i style=\"background:" + std::string(colour(i)) + "\"></i>" + esc(arms[i]) + "</span> ";
  return o + "</p>";
}

constexpr const char* kStepsLabel = "training steps (env steps; transitions for offline learners)";

size_t arm_index(const Report& r, const std::string& arm) {
  return static_cast<size_t>(std::find(r.arms.begin(), r.arms.end(), arm) - r.arms.begin());
}

std::string curves_svg(const Report& r, const std::string& task) {
  double xa = 0, xb = 1, ya = 1e300, yb = -1e300;
  for (const auto& c : r.curves)
    if (c.task == task)
      for (size_t k = 0; k < c.steps.size(); ++k)
        xb = std::max(xb, static_cast<double>(c.steps[k])), ya = std::min(ya, c.iqm[k].lo),
        yb = std::max(yb, c.iqm[k].hi);
  if (ya > yb) return "<p>No evaluations.</p>";
  const Chart ch(xa, xb, ya, yb);
  std::ostringstream o;
  o << ch.open(kStepsLabel,
               r.normalizers.empty() ? "IQM of evaluation returns" : "IQM of normalised scores",
               task + " learning curves");
  for (const auto& c : r.curves) {
    if (c.task != task || c.steps.empty()) continue;
    const char* col = colour(arm_index(r, c.arm));
    std::string band, line;
    for (size_t k = 0; k < c.steps.size(); ++k)
      band += num(ch.px(c.steps[k]), 1) + "," + num(ch.py(c.iqm[k].hi), 1) + " ";
    for (size_t k = c.steps.size(); k-- > 0;)
      band += num(ch.px(c.steps[k]), 1) + "," + num(ch.py(c.iqm[k].lo), 1) + " ";
    for (size_t k = 0; k < c.steps.size(); ++k)
      line += num(ch.px(c.steps[k]), 1) + "," + num(ch.py(c.iqm[k].point), 1) + " ";
    o << "<polygon class=\"band\" points=\"" << band << "\" fill=\"" << col
      << "\" fill-opacity=\"0.18\" stroke=\"none\"/>";
    o << "<polyline class=\"curve\" points=\"" << line << "\" fill=\"none\" stroke=\"" << col
      << "\" stroke-width=\"2\"/>";
  }
  return o.str() + "</svg>";
}

// One chart per training metric (a metrics.csv column) logged on `task`, a line per arm: the
// losses, temperatures, KL and entropies TensorBoard users read beside the returns.
std::string metric_charts(const Report& r, const std::string& task) {
  std::vector<std::string> names;
  for (const auto& c : r.metric_curves)
    if (c.task == task && std::find(names.begin(), names.end(), c.metric) == names.end()) names.push_back(c.metric);
  std::ostringstream o;
  for (const auto& name : names) {
    double xb = 1, ya = 1e300, yb = -1e300;
    for (const auto& c : r.metric_curves)
      if (c.task == task && c.metric == name)
        for (size_t k = 0; k < c.steps.size(); ++k)
          xb = std::max(xb, static_cast<double>(c.steps[k])), ya = std::min(ya, c.mean[k]), yb = std::max(yb, c.mean[k]);
    const Chart ch(0, xb, ya, yb);
    o << ch.open(kStepsLabel, name + " (mean over runs)", task + " training metric " + name);
    for (const auto& c : r.metric_curves) {
      if (c.task != task || c.metric != name) continue;
      std::string line;
      for (size_t k = 0; k < c.steps.size(); ++k)
        line += num(ch.px(c.steps[k]), 1) + "," + num(ch.py(c.mean[k]), 1) + " ";
      o << "<polyline class=\"metric-curve\" points=\"" << line << "\" fill=\"none\" stroke=\""
        << colour(arm_index(r, c.arm)) << "\" stroke-width=\"1.5\"/>";
    }
    o << "</svg>";
  }
  return o.str();
}

std::string intervals_svg(const Report& r, const std::string& task, const char* metric) {
  const auto pick = [&](const ArmTaskRow& row) {
    const std::string m = metric;
    return m == "mean" ? row.mean : m == "median" ? row.median : m == "IQM" ? row.iqm : row.optimality_gap;
  };
  double lo = 1e300, hi = -1e300;
  int n = 0;
  for (const auto& row : r.rows)
    if (row.task == task) lo = std::min(lo, pick(row).lo), hi = std::max(hi, pick(row).hi), ++n;
  if (n == 0) return "";
  // Room on the right for the value labels; each arm's full name on a line above its interval.
  Chart ch(lo, hi + (hi - lo) * 0.6 + 1e-9, 0, n);
  double narrowest = 1e300;
  for (const auto& row : r.rows)
    if (row.task == task) narrowest = std::min(narrowest, pick(row).hi - pick(row).lo);
  const int digits = digits_for(narrowest);
  constexpr int kRow = 40;
  std::ostringstream o;
  o << "<svg role=\"img\" aria-label=\"" << esc(task) << " " << metric << "\" width=\"" << Chart::W << "\" height=\""
    << 44 + kRow * n << "\">";
  int k = 0;
  for (const auto& row : r.rows) {
    if (row.task != task) continue;
    const Interval iv = pick(row);
    const double y = 34 + kRow * k++;
    const char* col = colour(arm_index(r, row.arm));
    o << "<text class=\"arm-label\" x=\"" << Chart::L << "\" y=\"" << y - 10 << "\">" << esc(row.arm) << "</text>";
    o << "<line class=\"interval\" x1=\"" << ch.px(iv.lo) << "\" x2=\"" << ch.px(iv.hi) << "\" y1=\"" << y << "\" y2=\""
      << y << "\" stroke=\"" << col << "\" stroke-width=\"8\" stroke-opacity=\"0.5\"/>";
    o << "<circle cx=\"" << ch.px(iv.point) << "\" cy=\"" << y << "\" r=\"5\" fill=\"" << col << "\"/>";
    o << "<text x=\"" << ch.px(iv.hi) + 8 << "\" y=\"" << y + 4 << "\">" << interval_text(iv, digits) << "</text>";
  }
  o << "<text x=\"" << (Chart::L + Chart::W) / 2 << "\" y=\"" << 36 + kRow * n << "\" text-anchor=\"middle\">" << metric
    << " of the runs' scores (95 % stratified bootstrap interval)</text>";
  return o.str() + "</svg>";
}

std::string profile_svg(const Report& r, size_t t) {
  const auto& th = r.profile_thresholds[t];
  const Chart ch(th.front(), th.back(), 0, 1);
  std::ostringstream o;
  o << ch.open("score threshold", "share of runs above", r.tasks[t] + " performance profile");
  for (size_t a = 0; a < r.arms.size(); ++a) {
    std::string pts;
    for (size_t k = 0; k < th.size(); ++k) pts += num(ch.px(th[k]), 1) + "," + num(ch.py(r.profiles[t][a][k]), 1) + " ";
    o << "<polyline class=\"profile\" points=\"" << pts << "\" fill=\"none\" stroke=\"" << colour(a)
      << "\" stroke-width=\"2\"/>";
  }
  return o.str() + "</svg>";
}

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
  }
  if (i < bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) << 8 : 0);
    out += {table[v >> 18], table[(v >> 12) & 63], i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=', '='};
  }
  return out;
}

std::string gifs_html(const Report& r) {
  std::string o;
  for (size_t a = 0; a < r.gifs.size() && a < r.arms.size(); ++a) {
    if (r.gifs[a].empty()) continue;
    std::ifstream in(r.gifs[a], std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (bytes.empty()) continue;
    o += "<figure style=\"display:inline-block\"><img alt=\"" + esc(r.arms[a]) + "\" src=\"data:image/gif;base64," +
         base64(bytes) + "\"><figcaption>" + esc(r.arms[a]) + "</figcaption></figure>";
  }
  return o.empty() ? "" : "<h2>Best run of each arm (one evaluation episode)</h2>" + o;
}

// The arms' aggregate metrics on `task` with their intervals.
std::string rows_table(const Report& r, const std::string& task) {
  std::ostringstream o;
  o << "<table><tr><th>arm</th><th>runs</th><th>mean</th><th>median</th><th>IQM</th><th>optimality gap</th></tr>";
  for (const auto& row : r.rows) {
    if (row.task != task) continue;
    o << "<tr><td>" << esc(row.arm) << "</td><td>" << row.runs << "</td>";
    for (const Interval& iv : {row.mean, row.median, row.iqm, row.optimality_gap})
      o << "<td>" << interval_text(iv, digits_for(iv.hi - iv.lo)) << "</td>";
    o << "</tr>";
  }
  return o.str() + "</table>";
}

}  // namespace

std::string report_html(const Report& r, const std::filesystem::path& dir, const std::string& title,
                        const std::string& settings_text) {
  std::ostringstream o;
  o << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << esc(title) << "</title><style>"
    << "body{font:14px/1.4 sans-serif;margin:24px;max-width:1200px;color:#222}"
    << "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    << "th{background:#f4f4f4}td:first-child{text-align:left}svg{font:12px sans-serif;margin:4px 12px 4px 0}"
    << ".legend span{margin-right:16px}.legend "
       "i{display:inline-block;width:14px;height:14px;margin-right:4px;vertical-align:-2px}"
    << "pre{background:#f6f6f6;padding:8px;overflow:auto}</style></head><body>";
  o << "<h1>" << esc(title) << "</h1>";
  o << "<p>" << r.runs.size() << " runs, " << r.arms.size() << " arms, " << r.tasks.size()
    << " task(s). Score of a run: " << esc(r.score) << ". Intervals: 95 % stratified bootstrap over runs ("
    << r.bootstrap_reps << " resamples, seed " << r.bootstrap_seed
    << "; rliable, Agarwal et al. 2021). Optimality gap: how far the scores fall below the task's success "
       "threshold. Incomplete runs are listed below and left out of every statistic and curve.</p>";
  for (const auto& n : r.normalizers)
    o << "<p>" << esc(n.task) << ": scores normalised as (return &minus; " << num(n.random) << ") / ("
      << num(n.heuristic) << " &minus; " << num(n.random)
      << "): 0 = random play, 1 = the task's heuristic; optimality gap below 1.</p>";
  o << legend(r.arms);
  for (size_t t = 0; t < r.tasks.size(); ++t) {
    const std::string& task = r.tasks[t];
    o << "<h2>" << esc(task) << "</h2>" << rows_table(r, task);
    o << "<h3>Learning curves</h3>" << curves_svg(r, task);
    if (std::any_of(r.metric_curves.begin(), r.metric_curves.end(), [&](const MetricCurve& c) { return c.task == task; }))
      o << "<h3>Training metrics</h3>" << metric_charts(r, task);
    o << "<h3>Aggregate metrics</h3>";
    for (const char* m : {"mean", "median", "IQM", "optimality gap"}) o << intervals_svg(r, task, m);
    o << "<h3>Performance profile</h3>" << profile_svg(r, t);
  }
  if (std::any_of(r.rows.begin(), r.rows.end(), [](const ArmTaskRow& row) { return row.task == kAllTasks; })) {
    o << "<h2>All tasks</h2><p>Normalised scores of every task pooled as one runs &times; tasks matrix "
         "(rliable's aggregate; bootstrap resamples runs within each task).</p>"
      << rows_table(r, kAllTasks);
    for (const char* m : {"mean", "median", "IQM", "optimality gap"}) o << intervals_svg(r, kAllTasks, m);
  }
  if (!r.pairs.empty()) {
    o << "<h2>Probability of improvement P(row &gt; column)</h2><table><tr><th></th>";
    for (const auto& a : r.arms) o << "<th>" << esc(a) << "</th>";
    o << "</tr>";
    for (const auto& x : r.arms) {
      o << "<tr><td>" << esc(x) << "</td>";
      for (const auto& y : r.arms) {
        auto it = std::find_if(r.pairs.begin(), r.pairs.end(), [&](const PairRow& p) { return p.x == x && p.y == y; });
        if (it == r.pairs.end()) o << "<td>-</td>";
        else
          o << "<td>" << num(it->probability.point, 2) << " [" << num(it->probability.lo, 2) << ", "
            << num(it->probability.hi, 2) << "]</td>";
      }
      o << "</tr>";
    }
    o << "</table>";
  }
  o << gifs_html(r);
  o << "<h2>Runs</h2><table><tr><th>run directory</th><th>arm</th><th>task</th><th>seed</th><th>score</th></tr>";
  for (const auto& run : r.runs) {
    std::error_code ec;
    const std::filesystem::path rel = std::filesystem::relative(run.dir, dir, ec);
    o << "<tr><td><a href=\"" << esc((ec ? run.dir : rel).string()) << "/\">" << esc(run.dir.string())
      << "</a></td><td>" << esc(run.arm) << "</td><td>" << esc(run.task) << "</td><td>" << run.seed << "</td><td>"
      << (run.complete ? num(run.score) : "incomplete") << "</td></tr>";
  }
  o << "</table><h2>Settings</h2><pre>" << esc(settings_text) << "</pre></body></html>\n";
  return o.str();
}

void write_report(const Report& r, const std::filesystem::path& dir, const std::string& title,
                  const std::string& settings_text) {
  write_summary(r, dir, title);
  write_file_atomic(dir / "report.html", report_html(r, dir, title, settings_text));
}

}  // namespace softrl::apps
