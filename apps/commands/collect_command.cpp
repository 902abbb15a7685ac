#include "apps/commands/collect_command.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <ostream>

#include "apps/commands/collect_config.h"
#include "apps/commands/command_boundary.h"
#include "apps/run/interrupts.h"
#include "apps/run/progress.h"
#include "common/runtime.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

int collect(const CollectOptions& opt, std::ostream& out) {
  if (opt.out.empty()) throw InputError("give the dataset file to write: --out DATASET");
  if (opt.config_path.empty()) throw InputError("give a collection CONFIG.yaml");
  const agents::CollectSettings s = load_collect_config(opt.config_path, opt.overrides);
  const fs::path path = opt.out;
  // Checked before collecting; the final move checks again (another collect may finish first).
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (fs::exists(st) && !opt.overwrite)
    throw InputError(opt.out + " already exists; choose another --out or add --overwrite");
  if (fs::exists(st) && !fs::is_regular_file(st))
    throw InputError(opt.out + " is not a regular file; --overwrite replaces dataset files only");
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  set_compute_threads(s.threads);
  out << "collecting " << s.start_seeds << " start states x " << s.group_size << " episodes on " << s.env_id << " ("
      << s.n_envs << " envs, " << s.threads << " threads) from:\n";
  for (size_t i = 0; i < s.sources.size(); ++i)
    out << "  [" << i << "] weight " << s.sources[i].weight << ": " << s.sources[i].describe() << "\n";
  out << std::flush;

  const bool tty = isatty(STDOUT_FILENO) && &out == &std::cout;
  const auto t0 = std::chrono::steady_clock::now();
  RecentRate rate;
  double last_print = -1;
  const auto keep_going = [&](const agents::CollectProgress& p) {
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opt.progress && (wall - last_print >= (tty ? 1.0 : 10.0) || p.episodes_done == p.episodes_total)) {
      rate.add(wall, p.steps, p.episodes_done);
      last_print = wall;
      const double eps = rate.updates_per_s();  // episodes/s over the last minute
      char buf[256];
      std::snprintf(buf, sizeof buf, "episodes %lld/%lld (%.0f%%) | %lld steps | %.0f steps/s | ETA %s",
                    static_cast<long long>(p.episodes_done), static_cast<long long>(p.episodes_total),
                    100.0 * p.episodes_done / p.episodes_total, static_cast<long long>(p.steps), rate.steps_per_s(),
                    hms((p.episodes_total - p.episodes_done) / eps).c_str());
      out << (tty ? "\r\033[K" : "") << buf << (tty ? "" : "\n") << std::flush;
    }
    return pending_signal() == 0;
  };
  const data::Dataset d = agents::collect(s, keep_going);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty && opt.progress) out << "\n";
  const int signal = pending_signal();
  if (d.num_episodes() == 0) {
    out << "interrupted before any group was complete: nothing written\n";
    return 128 + signal;
  }
  data::write_dataset(opt.out, d, /*replace=*/opt.overwrite);
  out << (signal ? "interrupted: wrote the " : "wrote ") << d.num_groups() << " complete groups, " << d.num_episodes()
      << " episodes, " << d.num_steps() << " steps to " << opt.out << " (" << fs::file_size(path) / 1024 << " KiB, "
      << static_cast<int64_t>(d.num_steps() / std::max(wall, 1e-9)) << " steps/s)\n";
  return signal ? 128 + signal : 0;
}

}  // namespace

int run_collect(const CollectOptions& opt, std::ostream& out, std::ostream& err) {
  clear_pending_signal();
  return guarded(
      "collect", [&] { return collect(opt, out); }, err);
}

}  // namespace softrl::apps
