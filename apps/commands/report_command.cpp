#include "apps/commands/report_command.h"

#include <filesystem>
#include <ostream>

#include "apps/commands/command_boundary.h"
#include "apps/study/report_html.h"
#include "apps/study/study_report.h"
#include "common/error.h"

namespace softrl::apps {
namespace fs = std::filesystem;

int run_report(const ReportOptions& opt, std::ostream& out, std::ostream& err) {
  return guarded(
      "report",
      [&] {
        std::vector<RunRecord> runs;
        for (const auto& d : opt.run_dirs) {
          if (!fs::exists(fs::path(d) / "config.yaml")) throw InputError(d + ": not a run directory (no config.yaml)");
          runs.push_back(read_run(d, study_arm_of(d), opt.last_k, opt.best, opt.metric));
        }
        name_arms(runs);
        const Report r = build_report(runs, {.last_k = opt.last_k,
                                             .normalize = opt.normalize,
                                             .score = score_rule(opt.last_k, opt.best, opt.metric)});
        out << report_table(r);
        if (!opt.out.empty()) {
          fs::create_directories(opt.out);
          std::string dirs;
          for (const auto& d : opt.run_dirs) dirs += d + "\n";
          write_report(r, opt.out, "softrl report", "run directories:\n" + dirs);
          out << "wrote " << (fs::path(opt.out) / "summary.csv").string() << ", summary.json and report.html\n";
        }
        return 0;
      },
      err);
}

}  // namespace softrl::apps
