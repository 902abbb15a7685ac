#pragma once
// `softrl compare ... --executor slurm`: the study's unfinished cells go to Slurm as one job array
// (task i runs `softrl compare STUDY_DIR --cell i`), followed by a report job that depends on the
// array (`softrl compare STUDY_DIR --report`). The two sbatch scripts are written into
// STUDY_DIR/slurm/ for the user to read and adapt; the array's task list is given to sbatch on its
// command line, so a re-submission (`softrl compare --resume STUDY_DIR --executor slurm`) submits
// only the cells still unfinished. A cell whose job times out or is preempted stops at a
// checkpoint (SIGTERM) and resumes from it when its task runs again (`--requeue`).
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct SlurmOptions {
  std::string partition;                 // --slurm.partition (default: the cluster's default)
  std::string time;                      // --slurm.time, per cell: HH:MM:SS, D-HH:MM:SS, ...
  std::string account;                   // --slurm.account
  int cpus_per_task = 1;                 // --slurm.cpus-per-task (a cell trains on one thread)
  std::vector<std::string> sbatch_args;  // --slurm.sbatch-arg, repeatable: any other #SBATCH option
};

// "0-3,5,7-8" for Slurm's --array (indices ascending).
std::string array_spec(const std::vector<size_t>& indices);

// The sbatch scripts (one array task per cell; the report after it).
std::string cells_script(const std::filesystem::path& study_dir, const std::string& study_name,
                         const std::filesystem::path& softrl, const SlurmOptions& opt);
std::string report_script(const std::filesystem::path& study_dir, const std::string& study_name,
                          const std::filesystem::path& softrl, const SlurmOptions& opt);

// Writes the scripts, submits `cells` (indices into Study::cells()) as one array and the report job
// after it, and prints the job ids and how to follow them. Returns 0; throws InputError when sbatch
// is missing or refuses the job (its message included).
int submit_to_slurm(const std::filesystem::path& study_dir, const std::string& study_name,
                    const std::vector<size_t>& cells, const SlurmOptions& opt, std::ostream& out);

}  // namespace softrl::apps
