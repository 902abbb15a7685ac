#include "apps/train_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <sstream>

#include "agents/checkpoint.h"
#include "agents/sac.h"
#include "apps/atomic_file.h"
#include "apps/config.h"
#include "apps/threads.h"
#include "apps/eval_command.h"
#include "apps/run_logs.h"
#include "envs/vector_env.h"

namespace softrl::apps {
namespace fs = std::filesystem;
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

constexpr uint64_t kEvalSeedBase = 1000000;  // evaluation episodes use seeds disjoint from training

struct Recent {
  std::deque<double> returns;
  std::deque<int> lengths;
  void add(double r, int l) {
    returns.push_back(r);
    lengths.push_back(l);
    if (returns.size() > 20) returns.pop_front(), lengths.pop_front();
  }
  double mean_return() const {
    double s = 0;
    for (double r : returns) s += r;
    return returns.empty() ? std::nan("") : s / returns.size();
  }
  double mean_length() const {
    double s = 0;
    for (int l : lengths) s += l;
    return lengths.empty() ? std::nan("") : s / lengths.size();
  }
};

// Throughput over the last minute: the cumulative average would mix the fast random-action warm-up
// into the ETA of the (slower) learning phase.
class RecentRate {
 public:
  void add(double wall, int64_t steps, int64_t updates) {
    samples_.push_back({wall, steps, updates});
    while (samples_.size() > 2 && samples_[1].wall <= wall - 60.0) samples_.pop_front();
  }
  double steps_per_s() const { return rate(&Sample::steps); }
  double updates_per_s() const { return rate(&Sample::updates); }

 private:
  struct Sample {
    double wall;
    int64_t steps, updates;
  };
  double rate(int64_t Sample::*field) const {
    if (samples_.size() < 2) return std::nan("");
    const Sample &a = samples_.front(), &b = samples_.back();
    return b.wall - a.wall >= 1.0 ? (b.*field - a.*field) / (b.wall - a.wall) : std::nan("");
  }
  std::deque<Sample> samples_;
};

std::string rate_text(double per_s) { return std::isfinite(per_s) ? std::to_string(std::lround(per_s)) : "-"; }

std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

std::string hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int s = static_cast<int>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

struct Learner {
  int64_t obs_dim, act_dim, num_actions;
};

Learner shapes_of(const envs::EnvSpec& spec) {
  const bool discrete = spec.action_space.kind == envs::Space::Kind::discrete;
  return {spec.observation_space.dim(), discrete ? 1 : spec.action_space.dim(), discrete ? spec.action_space.n : 0};
}

// Evaluates the deterministic policy on fresh envs (seeds kEvalSeedBase + k).
ReturnStats evaluate(agents::Sac& agent, const TrainConfig& cfg, int64_t episodes) {
  auto env = envs::make_env(cfg.env_id, cfg.env_options);
  std::vector<double> rets;
  std::vector<int> lens;
  for (int64_t k = 0; k < episodes; ++k) {
    std::vector<float> obs = env->reset(kEvalSeedBase + static_cast<uint64_t>(k));
    double ret = 0;
    int len = 0;
    while (true) {
      const torch::Tensor a = agent.act(torch::from_blob(obs.data(), {1, static_cast<int64_t>(obs.size())}).clone(), true);
      const torch::Tensor af = a.to(torch::kFloat32).reshape({-1}).contiguous();
      const envs::StepResult r = env->step(std::span<const float>(af.data_ptr<float>(), af.numel()));
      ret += r.reward;
      ++len;
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
    rets.push_back(ret);
    lens.push_back(len);
  }
  return return_stats(rets, lens, env->spec().reward_threshold);
}

}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

int run_train(const TrainOptions& opt, std::ostream& out, std::ostream& err) {
  g_interrupted.store(false);
  TrainConfig cfg;
  fs::path run_dir;
  const bool resuming = !opt.resume_dir.empty();
  try {
    if (resuming) {
      run_dir = opt.resume_dir;
      if (!opt.overrides.empty()) throw InputError("--resume takes no key=value overrides (the run keeps its config)");
      cfg = load_config((run_dir / "config.yaml").string());
      if (!fs::exists(run_dir / "checkpoints" / "latest.pt"))
        throw InputError(run_dir.string() + ": no checkpoints/latest.pt to resume from");
    } else {
      if (opt.config_path.empty()) throw InputError("give a CONFIG.yaml or --resume RUN_DIR");
      cfg = load_config(opt.config_path, opt.overrides);
      run_dir = opt.run_dir.empty()
                    ? fs::path("runs") / (cfg.env_id + "-sac-seed" + std::to_string(cfg.seed) + "-" + timestamp())
                    : fs::path(opt.run_dir);
      if (fs::exists(run_dir / "checkpoints" / "latest.pt"))
        throw InputError(run_dir.string() + " already holds a run; use --resume " + run_dir.string() +
                         " or choose another --run-dir");
      fs::create_directories(run_dir / "checkpoints");
      write_text_atomic(run_dir / "config.yaml", to_yaml(cfg));
    }
  } catch (const InputError& e) {
    err << "softrl train: " << e.what() << "\n";
    return 2;
  } catch (const fs::filesystem_error& e) {
    err << "softrl train: " << e.what() << "\n";
    return 2;
  }

  set_compute_threads(cfg.threads);
  envs::VectorEnv venv(cfg.env_id, static_cast<int>(cfg.n_envs), cfg.env_options, cfg.threads);
  const Learner shp = shapes_of(venv.spec());
  {
    const double bytes = static_cast<double>(cfg.sac.buffer_size) * (2 * shp.obs_dim + shp.act_dim + 2) * 4.0;
    const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
    if (bytes > 0.8 * ram) {
      err << "softrl train: sac.buffer_size: " << cfg.sac.buffer_size << " transitions need " << bytes / (1 << 30)
          << " GiB, more than 80% of this machine's " << ram / (1 << 30) << " GiB\n";
      return 2;
    }
  }
  agents::Sac agent(cfg.sac, shp.obs_dim, shp.act_dim, shp.num_actions, cfg.seed);
  agents::ReplayBuffer buffer(cfg.sac.buffer_size, shp.obs_dim, shp.act_dim);
  const fs::path ckpt_path = run_dir / "checkpoints" / "latest.pt", best_path = run_dir / "checkpoints" / "best.pt";
  int64_t step = 0, updates = 0, episodes = 0, iteration = 0;
  Recent recent;
  double last_eval = std::nan("");
  int64_t last_eval_step = -1;
  double best_eval = -std::numeric_limits<double>::infinity(), wall_before = 0;  // wall_before: earlier sessions
  torch::Tensor obs;

  if (resuming) {
    try {
      agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt_path.string());
      agents::check_compatible(c.header, ckpt_path.string(), cfg.env_id, shp.obs_dim, shp.act_dim, shp.num_actions,
                               cfg.sac.net_arch);
      torch::serialize::InputArchive learner, trainer;
      c.archive.read("learner", learner);
      agent.load(learner);
      c.archive.read("trainer", trainer);
      torch::Tensor t;
      t = agents::read_tensor(trainer, "counters");
      step = t[0].item<int64_t>(), updates = t[1].item<int64_t>(), episodes = t[2].item<int64_t>(),
      iteration = t[3].item<int64_t>();
      if (torch::Tensor p; trainer.try_read("progress", p)) {  // absent from checkpoints of older versions
        wall_before = p[0].item<double>();
        best_eval = p[1].item<double>();
      }
      if (step >= cfg.total_steps) {
        out << run_dir.string() << " is complete (" << step << " of " << cfg.total_steps
            << " steps); evaluate it with: softrl eval " << run_dir.string() << "\n";
        return 0;
      }
      envs::VectorEnvSnapshot snap;
      t = agents::read_tensor(trainer, "venv_base_seed");
      snap.base_seed = static_cast<uint64_t>(t.item<int64_t>());
      t = agents::read_tensor(trainer, "venv_episode_index");
      for (int64_t i = 0; i < t.numel(); ++i) snap.episode_index.push_back(t[i].item<int64_t>());
      t = agents::read_tensor(trainer, "venv_returns");
      for (int64_t i = 0; i < t.numel(); ++i) snap.returns.push_back(t[i].item<double>());
      t = agents::read_tensor(trainer, "venv_lengths");
      for (int64_t i = 0; i < t.numel(); ++i) snap.lengths.push_back(static_cast<int>(t[i].item<int64_t>()));
      for (int64_t i = 0; i < cfg.n_envs; ++i) {
        t = agents::read_tensor(trainer, "venv_actions_" + std::to_string(i));
        snap.episode_actions.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      }
      t = agents::read_tensor(trainer, "has_replay_buffer");
      if (t.item<bool>()) buffer.load(trainer);
      else err << "softrl train: the checkpoint holds no replay buffer (checkpoint.save_replay_buffer: false); "
                  "the resumed run refills it\n";
      obs = venv.restore(snap);
      out << "resumed " << run_dir.string() << " at step " << step << "\n";
    } catch (const std::exception& e) {
      err << "softrl train: cannot resume: " << e.what() << "\n";
      return 2;
    }
  } else {
    obs = venv.reset(cfg.seed);
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto wall = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  // best.pt holds no replay buffer: it is for evaluation, latest.pt for resuming.
  auto save_checkpoint = [&](const fs::path& path, bool with_replay_buffer) {
    agents::CheckpointHeader h;
    h.env_id = cfg.env_id;
    h.obs_dim = shp.obs_dim;
    h.act_dim = shp.act_dim;
    h.num_actions = shp.num_actions;
    h.net_arch = cfg.sac.net_arch;
    h.config_yaml = to_yaml(cfg);
    h.env_steps = step;
    const envs::VectorEnvSnapshot snap = venv.snapshot();
    agents::write_checkpoint(path.string(), h, [&](torch::serialize::OutputArchive& ar) {
      torch::serialize::OutputArchive learner, trainer;
      agent.save(learner);
      trainer.write("counters", torch::tensor({step, updates, episodes, iteration}));
      trainer.write("progress", torch::tensor({wall_before + wall(), best_eval}, torch::kFloat64));
      trainer.write("venv_base_seed", torch::tensor(static_cast<int64_t>(snap.base_seed)));
      trainer.write("venv_episode_index", torch::tensor(snap.episode_index));
      trainer.write("venv_returns", torch::tensor(snap.returns, torch::kFloat64));
      std::vector<int64_t> lens(snap.lengths.begin(), snap.lengths.end());
      trainer.write("venv_lengths", torch::tensor(lens));
      for (size_t i = 0; i < snap.episode_actions.size(); ++i)
        trainer.write("venv_actions_" + std::to_string(i),
                      torch::tensor(snap.episode_actions[i].empty() ? std::vector<float>{} : snap.episode_actions[i],
                                    torch::kFloat32));
      trainer.write("has_replay_buffer", torch::tensor(with_replay_buffer));
      if (with_replay_buffer) buffer.save(trainer);
      ar.write("learner", learner);
      ar.write("trainer", trainer);
    });
  };

  auto save_latest = [&] { save_checkpoint(ckpt_path, cfg.save_replay_buffer); };
  RunLogs logs(run_dir, resuming ? std::optional<int64_t>(step) : std::nullopt);
  const bool tty = isatty(fileno(stdout));
  const int64_t start_step = step, start_updates = updates;
  double last_progress = -1.0;
  RecentRate recent_rate;
  recent_rate.add(0.0, step, updates);
  agents::SacMetrics m;
  const auto& as = venv.spec().action_space;
  const int64_t n = cfg.n_envs;

  auto do_eval = [&] {
    const double started = wall();
    const ReturnStats s = evaluate(agent, cfg, cfg.eval_episodes);
    last_eval = s.mean;
    last_eval_step = step;
    logs.eval(step, s);
    const bool best = s.mean > best_eval;
    if (best) {
      best_eval = s.mean;
      save_checkpoint(best_path, false);
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "eval @%lld: mean %.1f +- %.1f | median %.1f | IQM %.1f | success %.0f%% | length %.0f (%lld episodes, %s)",
                  static_cast<long long>(step), s.mean, s.std, s.median, s.iqm, 100.0 * s.success_rate, s.mean_length,
                  static_cast<long long>(cfg.eval_episodes), hms(wall() - started).c_str());
    out << (tty && opt.progress ? "\r\033[K" : "") << buf << (best ? " | new best -> checkpoints/best.pt" : "") << "\n"
        << std::flush;
  };

  while (step < cfg.total_steps) {
    if (g_interrupted.load() || (opt.interrupt_after_steps >= 0 && step >= opt.interrupt_after_steps)) {
      save_latest();
      if (tty && opt.progress) out << "\n";
      out << "interrupted at step " << step << ": checkpoint saved to " << ckpt_path.string()
          << "; continue with: softrl train --resume " << run_dir.string() << "\n";
      return 130;
    }
    torch::Tensor actions;
    if (step < cfg.sac.learning_starts) {
      actions = as.kind == envs::Space::Kind::discrete ? torch::randint(0, as.n, {n}, agent.generator(), torch::kLong)
                                                       : torch::rand({n, as.dim()}, agent.generator()) * 2 - 1;
    } else {
      actions = agent.act(obs, false);
    }
    const envs::VectorStep s = venv.step(actions);
    const torch::Tensor done = (s.terminated | s.truncated).unsqueeze(-1);
    buffer.add(obs, actions.to(torch::kFloat32), s.reward, torch::where(done, s.final_obs, s.obs), s.terminated);
    obs = s.obs;
    for (size_t k = 0; k < s.finished_returns.size(); ++k) recent.add(s.finished_returns[k], s.finished_lengths[k]);
    episodes += static_cast<int64_t>(s.finished_returns.size());
    const int64_t prev_step = step;
    step += n;
    ++iteration;
    if (step > cfg.sac.learning_starts && iteration % cfg.sac.train_freq == 0 && buffer.size() >= cfg.sac.batch_size) {
      agent.set_learning_rate(cfg.sac.learning_rate.at(1.0 - static_cast<double>(step) / cfg.total_steps));
      for (int64_t g = 0; g < cfg.sac.gradient_steps; ++g) {
        m = agent.update(buffer.sample(cfg.sac.batch_size, agent.generator()));
        ++updates;
      }
    }
    const double w = wall();
    const double sps = (step - start_step) / std::max(w, 1e-9), ups = (updates - start_updates) / std::max(w, 1e-9);
    if (step / cfg.log_every != prev_step / cfg.log_every || step >= cfg.total_steps) {
      logs.metrics({.step = step, .episodes = episodes, .wall_time = wall_before + w, .ep_return_mean = recent.mean_return(),
                    .ep_length_mean = recent.mean_length(), .sac = m, .steps_per_s = sps, .updates_per_s = ups});
    }
    if (cfg.eval_every > 0 && step / cfg.eval_every != prev_step / cfg.eval_every && step < cfg.total_steps) do_eval();
    if (cfg.checkpoint_every > 0 && step / cfg.checkpoint_every != prev_step / cfg.checkpoint_every &&
        step < cfg.total_steps)
      save_latest();
    if (opt.progress && (w - last_progress >= (tty ? 1.0 : 10.0) || step >= cfg.total_steps)) {
      last_progress = w;
      recent_rate.add(w, step, updates);
      const double recent_sps = recent_rate.steps_per_s(), recent_ups = recent_rate.updates_per_s();
      char buf[256];
      std::snprintf(buf, sizeof buf, "step %lld/%lld (%.0f%%) | %s steps/s, %s updates/s | return %.1f (last %zu) | eval %s | ETA %s",
                    static_cast<long long>(step), static_cast<long long>(cfg.total_steps),
                    100.0 * step / cfg.total_steps, rate_text(recent_sps).c_str(), rate_text(recent_ups).c_str(), recent.mean_return(), recent.returns.size(),
                    last_eval_step < 0 ? "-" : (std::to_string(static_cast<int>(last_eval)) + " @" + std::to_string(last_eval_step)).c_str(),
                    hms((cfg.total_steps - step) / recent_sps).c_str());
      out << (tty ? "\r\033[K" : "") << buf << (tty ? "" : "\n") << std::flush;
    }
  }
  if (tty && opt.progress) out << "\n";
  do_eval();
  save_latest();
  out << "done: " << step << " steps, " << updates << " updates in " << hms(wall()) << "; final eval (" << cfg.eval_episodes
      << " episodes) mean return " << last_eval << "\n"
      << "run directory: " << run_dir.string() << " (config.yaml, metrics.csv, metrics.jsonl, eval.csv, checkpoints/latest.pt; checkpoints/best.pt: best evaluation, "
      << (std::isfinite(best_eval) ? std::to_string(static_cast<int>(std::lround(best_eval))) : std::string("-")) << ")\n";
  return 0;
}

}  // namespace softrl::apps
