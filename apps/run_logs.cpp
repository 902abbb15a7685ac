#include "apps/run_logs.h"

#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>

#include "apps/atomic_file.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMetricsHeader =
    "step,wall_time,episodes,ep_return_mean,ep_length_mean,critic_loss,actor_loss,alpha_loss,alpha,entropy,q1_mean,"
    "q2_mean,target_q_mean,steps_per_s,updates_per_s";
constexpr const char* kEvalHeader = "step,mean,std,median,iqm,min,max,success_rate,mean_length";

// The step a data line records: a CSV line's first field, or a JSONL line's "step" value.
std::optional<int64_t> step_of(const std::string& line) {
  const size_t key = line.find("\"step\":");
  const size_t from = key == std::string::npos ? 0 : key + 7;
  try {
    size_t used = 0;
    const long long v = std::stoll(line.substr(from), &used);
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;  // the header, or a line cut short by a crash
  }
}

void drop_rows_after(const fs::path& path, int64_t last_step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept;
  bool dropped = false, first = true;
  for (std::string line; std::getline(in, line); first = false) {
    const std::optional<int64_t> s = step_of(line);
    if ((first && !s) || (s && *s <= last_step)) kept += line + "\n";
    else dropped = true;
  }
  in.close();
  if (dropped) write_text_atomic(path, kept);
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream o;
  o << std::setprecision(10) << v;
  return o.str();
}

}  // namespace

RunLogs::RunLogs(const fs::path& run_dir, std::optional<int64_t> resume_step) {
  const fs::path csv = run_dir / "metrics.csv", jsonl = run_dir / "metrics.jsonl", eval = run_dir / "eval.csv";
  if (resume_step)
    for (const fs::path& p : {csv, jsonl, eval}) drop_rows_after(p, *resume_step);
  csv_.open(csv, std::ios::app);
  jsonl_.open(jsonl, std::ios::app);
  eval_.open(eval, std::ios::app);
  if (!resume_step) {
    csv_ << kMetricsHeader << "\n";
    eval_ << kEvalHeader << "\n" << std::flush;
  }
}

void RunLogs::metrics(const MetricsRow& r) {
  const agents::SacMetrics& m = r.sac;
  csv_ << r.step << "," << r.wall_time << "," << r.episodes << "," << r.ep_return_mean << "," << r.ep_length_mean << ","
       << m.critic_loss << "," << m.actor_loss << "," << m.alpha_loss << "," << m.alpha << "," << m.entropy << "," << m.q1
       << "," << m.q2 << "," << m.target_q << "," << r.steps_per_s << "," << r.updates_per_s << std::endl;
  jsonl_ << "{\"step\": " << r.step << ", \"wall_time\": " << json_number(r.wall_time) << ", \"episodes\": " << r.episodes
         << ", \"ep_return_mean\": " << json_number(r.ep_return_mean)
         << ", \"ep_length_mean\": " << json_number(r.ep_length_mean)
         << ", \"critic_loss\": " << json_number(m.critic_loss) << ", \"actor_loss\": " << json_number(m.actor_loss)
         << ", \"alpha_loss\": " << json_number(m.alpha_loss) << ", \"alpha\": " << json_number(m.alpha)
         << ", \"entropy\": " << json_number(m.entropy) << ", \"q1_mean\": " << json_number(m.q1)
         << ", \"q2_mean\": " << json_number(m.q2) << ", \"target_q_mean\": " << json_number(m.target_q)
         << ", \"steps_per_s\": " << json_number(r.steps_per_s) << ", \"updates_per_s\": " << json_number(r.updates_per_s)
         << "}" << std::endl;
}

void RunLogs::eval(int64_t step, const ReturnStats& s) {
  eval_ << step << "," << s.mean << "," << s.std << "," << s.median << "," << s.iqm << "," << s.min << "," << s.max << ","
        << s.success_rate << "," << s.mean_length << std::endl;
}

}  // namespace softrl::apps
