#pragma once
// `softrl report RUN_DIR... [--out DIR] [--last K | --best | --metric NAME] [--normalize]`: rliable statistics over
// existing run directories, grouped by algorithm and config (apps/study_report.h).
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct ReportOptions {
  std::vector<std::string> run_dirs;
  std::string out;  // also write summary.csv, summary.json and report.html there
  int last_k = 1;
  bool best = false;       // score = each run's best evaluation
  bool normalize = false;  // scores between random play (0) and the heuristic (1), 100 episodes each
  std::string metric;      // score = the last logged value of this training metric instead
};

int run_report(const ReportOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
