#include "apps/run/run_logs.h"

#include <algorithm>

#include <limits>

#include "apps/config/config_reader.h"

#include <cmath>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

constexpr const char* kEvalHeader = "step,mean,std,median,iqm,min,max,success_rate,mean_length";
constexpr const char* kEpisodesHeader = "step,episode,seed,return,length";

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

// A CSV log a resumed run appends to must start with a header "step,...", else the new rows
// would land under columns that are not theirs: such a log (edited, a byte-order mark before its
// header) is refused with InputError. An empty or missing log is fine.
void check_csv_header(const fs::path& path) {
  std::ifstream in(path);
  std::string header;
  if (!in || !std::getline(in, header) || header.rfind("step,", 0) == 0) return;
  throw InputError(path.string() + ": its first line is not a header starting with 'step,' (" +
                   (header.rfind("\xEF\xBB\xBF", 0) == 0 ? std::string("a byte-order mark precedes it") : "edited?") +
                   "); the run cannot append to it: restore the file or start a new run");
}

// Keeps the header and the rows up to last_step; returns the header line ("" when none).
std::string drop_rows_after(const fs::path& path, int64_t last_step) {
  std::ifstream in(path);
  if (!in) return "";
  std::string kept, header;
  bool dropped = false, first = true;
  for (std::string line; std::getline(in, line); first = false) {
    const std::optional<int64_t> s = step_of(line);
    if (first && !s) header = line;
    if ((first && !s) || (s && *s <= last_step)) kept += line + "\n";
    else dropped = true;
  }
  in.close();
  if (dropped) write_file_atomic(path, kept);
  return header;
}

// Integers as integers (step counts), other numbers with 6 significant digits, NaN as empty.
std::string csv_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "" : (v > 0 ? "inf" : "-inf");
  if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  std::ostringstream o;
  o << v;
  return o.str();
}

std::string json_value(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return json_number(v);
}

// An append that did not reach the file (disk full, I/O error) stops the run: a log with holes
// would silently disagree with the checkpoints.
void check_written(std::ofstream& f, const fs::path& path) {
  if (!f) throw IoError(path.string() + ": cannot append to the log (disk full or I/O error)");
}

}  // namespace

RunLogs::RunLogs(const fs::path& run_dir, std::optional<int64_t> resume_step)
    : csv_path_(run_dir / "metrics.csv"),
      jsonl_path_(run_dir / "metrics.jsonl"),
      eval_path_(run_dir / "eval.csv"),
      episodes_path_(run_dir / "evaluations.csv") {
  const fs::path &csv = csv_path_, &jsonl = jsonl_path_, &eval = eval_path_, &episodes = episodes_path_;
  if (resume_step) {
    for (const fs::path& p : {csv, eval, episodes}) check_csv_header(p);  // all checked before any is shortened
    const std::string csv_header = drop_rows_after(csv, *resume_step);
    for (const fs::path& p : {eval, episodes, jsonl}) drop_rows_after(p, *resume_step);
    std::stringstream header(csv_header);
    for (std::string col; std::getline(header, col, ',');) columns_.push_back(col);
  }
  const auto mode = resume_step ? std::ios::app : std::ios::trunc;
  csv_.open(csv, mode);
  jsonl_.open(jsonl, mode);
  eval_.open(eval, mode);
  episodes_.open(episodes, mode);
  // A run resumed from before evaluations.csv existed starts the file with its header.
  if (!resume_step || fs::file_size(eval) == 0) eval_ << kEvalHeader << "\n" << std::flush;
  if (!resume_step || fs::file_size(episodes) == 0) episodes_ << kEpisodesHeader << "\n" << std::flush;
  check_written(csv_, csv);
  check_written(jsonl_, jsonl);
  check_written(eval_, eval);
  check_written(episodes_, episodes);
}

void RunLogs::metrics(const agents::Metrics& row) {
  if (columns_.empty()) {
    for (const auto& [name, value] : row) columns_.push_back(name);
    std::string header;
    for (const auto& c : columns_) header += (header.empty() ? "" : ",") + c;
    csv_ << header << "\n";
  }
  std::string line;
  for (size_t i = 0; i < columns_.size(); ++i) {
    double v = std::nan("");
    for (const auto& [name, value] : row)
      if (name == columns_[i]) v = value;
    line += (i ? "," : "") + csv_number(v);
  }
  csv_ << line << std::endl;
  check_written(csv_, csv_path_);
  JsonObject o;
  for (const auto& [name, value] : row) o.raw(name, json_value(value));
  jsonl_ << o.str() << std::endl;
  check_written(jsonl_, jsonl_path_);
}

void RunLogs::eval(int64_t step, const envs::GroupEvaluation& g) {
  const ReturnStats& s = g.stats;
  eval_ << step << "," << s.mean << "," << s.std << "," << s.median << "," << s.iqm << "," << s.min << "," << s.max
        << "," << s.success_rate << "," << s.mean_length << std::endl;
  check_written(eval_, eval_path_);
  std::string rows;
  for (size_t k = 0; k < g.returns.size(); ++k)
    rows += std::to_string(step) + "," + std::to_string(k) + "," + std::to_string(g.seeds[k]) + "," +
            csv_number(g.returns[k]) + "," + std::to_string(g.lengths[k]) + "\n";
  episodes_ << rows << std::flush;
  check_written(episodes_, episodes_path_);
}

std::vector<EvalRecord> read_eval_log(const fs::path& run_dir) {
  const fs::path path = run_dir / "eval.csv";
  std::vector<EvalRecord> rows;
  std::ifstream in(path);
  if (!in) return rows;
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line != kEvalHeader)
    throw InputError(path.string() + ": not an eval.csv written by softrl train");
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const size_t comma = line.find(','), next = line.find(',', comma + 1);
    const std::optional<int64_t> step = parse_integer(line.substr(0, comma));
    const std::optional<double> mean =
        comma == std::string::npos ? std::nullopt : parse_whole_double(line.substr(comma + 1, next - comma - 1));
    if (!step || !mean) throw InputError(path.string() + ": line " + std::to_string(n) + " is not step,mean,...");
    rows.push_back({*step, *mean});
  }
  return rows;
}

MetricLog read_metric_log(const fs::path& run_dir) {
  const fs::path path = run_dir / "metrics.csv";
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": no metrics.csv (has the run logged anything?)");
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    return cells;
  };
  MetricLog log;
  std::string line;
  std::getline(in, line);
  log.columns = split(line);
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    std::vector<double> row(log.columns.size(), std::numeric_limits<double>::quiet_NaN());
    for (size_t c = 0; c < std::min(cells.size(), row.size()); ++c)
      if (const std::optional<double> v = parse_whole_double(cells[c])) row[c] = *v;
    log.rows.push_back(std::move(row));
  }
  return log;
}

double read_last_metric(const fs::path& run_dir, const std::string& name) {
  const MetricLog log = read_metric_log(run_dir);
  const auto it = std::find(log.columns.begin(), log.columns.end(), name);
  if (it == log.columns.end()) {
    std::string names;
    for (const auto& h : log.columns) names += (names.empty() ? "" : ", ") + h;
    throw InputError((run_dir / "metrics.csv").string() + ": no metric '" + name + "'; logged: " + names);
  }
  const size_t column = static_cast<size_t>(it - log.columns.begin());
  double last = std::numeric_limits<double>::quiet_NaN();
  for (const auto& row : log.rows)
    if (!std::isnan(row[column])) last = row[column];
  return last;
}

}  // namespace softrl::apps
