#include "apps/commands/train_command.h"

#include <ctime>
#include <filesystem>
#include <ostream>

#include "agents/core/checkpoint.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/command_boundary.h"
#include "apps/run/run.h"
#include "common/distributed.h"
#include "envs/env.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

// Discards what it is given: the output of ranks other than 0.
struct NullStream : std::ostream {
  NullStream() : std::ostream(nullptr) {}
};

RunResult train(const TrainOptions& opt, std::ostream& rank0_out) {
  distributed::World world;
  try {
    world = distributed::world_from_env();
  } catch (const distributed::DistributedError& e) {
    throw InputError(e.what());
  }
  if (world.size > 1)
    distributed::init(world, std::chrono::milliseconds(static_cast<int64_t>(opt.dist_timeout_s * 1000)));
  static NullStream quiet;
  std::ostream& out = world.rank == 0 ? rank0_out : quiet;
  RunOptions ro{.progress = opt.progress && world.rank == 0,
                .interrupt_after_steps = opt.interrupt_after_steps,
                .rank = world.rank,
                .world_size = world.size};
  if (!opt.resume_dir.empty()) {
    if (!opt.overrides.empty() || !opt.config_path.empty())
      throw InputError("--resume takes no CONFIG or key=value overrides (the run keeps its config.yaml), got '" +
                       (opt.config_path.empty() ? opt.overrides.front() : opt.config_path) + "'");
    return resume_run(opt.resume_dir, ro, out);
  }
  if (opt.config_path.empty()) throw InputError("give a CONFIG.yaml or --resume RUN_DIR");
  const RunConfig cfg = load_config(opt.config_path, opt.overrides);
  ro.pick_free_name = opt.run_dir.empty();  // two runs started in the same second get two directories
  const fs::path dir =
      opt.run_dir.empty()
          ? fs::path("runs") / (cfg.env_id + "-" + cfg.algo + "-seed" + std::to_string(cfg.seed) + "-" + timestamp())
          : fs::path(opt.run_dir);
  return start_run(cfg, dir, ro, out);
}

}  // namespace

int run_train(const TrainOptions& opt, std::ostream& out, std::ostream& err) {
  return guarded(
      "train", [&] { return train(opt, out).exit_code; }, err);
}

}  // namespace softrl::apps
