#include "apps/study/slurm_executor.h"

#include <sys/wait.h>

#include <cstdio>
#include <ostream>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

// A shell word: single-quoted, with embedded single quotes closed, escaped and reopened.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string header(const std::string& job_name, const std::string& output, const SlurmOptions& opt) {
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "#SBATCH --job-name=" << job_name << "\n"
    << "#SBATCH --output=" << output << "\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=" << opt.cpus_per_task << "\n";
  if (!opt.partition.empty()) s << "#SBATCH --partition=" << opt.partition << "\n";
  if (!opt.time.empty()) s << "#SBATCH --time=" << opt.time << "\n";
  if (!opt.account.empty()) s << "#SBATCH --account=" << opt.account << "\n";
  for (const std::string& a : opt.sbatch_args) s << "#SBATCH " << a << "\n";
  return s.str();
}

// Runs a shell command, returns its exit code and what it printed (stdout and stderr).
int capture(const std::string& command, std::string& output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) throw IoError("cannot run: " + command);
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// `sbatch --parsable ARGS SCRIPT` -> the job id (sbatch prints "ID" or "ID;CLUSTER").
std::string sbatch(const std::string& args, const fs::path& script) {
  std::string out;
  const int code = capture("sbatch --parsable " + args + " " + quoted(script.string()), out);
  if (code == 127)
    throw InputError(
        "--executor slurm: sbatch not found (install Slurm's client, e.g. Debian's slurm-client, or use --executor "
        "local)");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  const std::string last = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  const std::string id = last.substr(0, last.find(';'));
  if (code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw InputError("--executor slurm: sbatch refused " + script.string() + " (exit " + std::to_string(code) +
                     "): " + out);
  return id;
}

}  // namespace

std::string array_spec(const std::vector<size_t>& indices) {
  std::string s;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += std::to_string(indices[i]);
    if (j > i) s += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  return s;
}

std::string cells_script(const fs::path& study_dir, const std::string& study_name, const fs::path& softrl,
                         const SlurmOptions& opt) {
  std::ostringstream s;
  s << header("softrl-" + study_name, (study_dir / "logs" / "slurm-cell-%a-job-%A.out").string(), opt)
    << "#SBATCH --requeue\n"
    << "#SBATCH --signal=B:TERM@120\n"
    << "# Written by `softrl compare --executor slurm`: array task i trains cell i of study '" << study_name << "'\n"
    << "# (softrl compare --resume " << study_dir.string()
    << " --dry-run lists them). Submitted with --array=<unfinished cells>;\n"
    << "# a task that runs again (requeued after preemption, or re-submitted) resumes from the cell's\n"
    << "# checkpoint. SIGTERM (the time limit, scancel) makes the cell save a checkpoint and stop.\n"
    << "exec " << quoted(softrl.string()) << " compare " << quoted(study_dir.string())
    << " --cell \"$SLURM_ARRAY_TASK_ID\"\n";
  return s.str();
}

std::string report_script(const fs::path& study_dir, const std::string& study_name, const fs::path& softrl,
                          const SlurmOptions& opt) {
  std::ostringstream s;
  s << header("softrl-" + study_name + "-report", (study_dir / "logs" / "slurm-report-job-%j.out").string(), opt)
    << "# Written by `softrl compare --executor slurm`: runs after every cell's task has ended and writes\n"
    << "# summary.csv, summary.json and report.html if all cells finished (otherwise it names the\n"
    << "# unfinished ones: re-submit them with softrl compare --resume " << study_dir.string()
    << " --executor slurm).\n"
    << "exec " << quoted(softrl.string()) << " compare " << quoted(study_dir.string()) << " --report\n";
  return s.str();
}

int submit_to_slurm(const fs::path& study_dir, const std::string& study_name, const std::vector<size_t>& cells,
                    const SlurmOptions& opt, std::ostream& out) {
  const fs::path dir = fs::absolute(study_dir);
  const fs::path softrl = fs::canonical("/proc/self/exe");
  fs::create_directories(dir / "slurm");
  fs::create_directories(dir / "logs");
  const fs::path cells_sh = dir / "slurm" / "cells.sbatch", report_sh = dir / "slurm" / "report.sbatch";
  write_file_atomic(cells_sh, cells_script(dir, study_name, softrl, opt));
  write_file_atomic(report_sh, report_script(dir, study_name, softrl, opt));
  std::string dependency;
  if (!cells.empty()) {
    const std::string array_id = sbatch("--array=" + array_spec(cells), cells_sh);
    out << "submitted " << cells.size() << " cell(s) as job array " << array_id << " (--array=" << array_spec(cells)
        << ", " << cells_sh.string() << ")\n";
    dependency = "--dependency=afterany:" + array_id + " ";
  }
  const std::string report_id = sbatch(dependency + "--kill-on-invalid-dep=yes", report_sh);
  out << "submitted the report as job " << report_id << (cells.empty() ? "" : ", after the array") << " ("
      << report_sh.string() << ")\nfollow with: squeue --name=softrl-" << study_name << ",softrl-" << study_name
      << "-report; logs in " << (dir / "logs").string() << "\n";
  return 0;
}

}  // namespace softrl::apps
