// An algorithm added from outside the library: behaviour cloning of Gymnasium's LunarLander heuristic
// from demonstrations it records itself (no dataset file), on the offline loop, registered with one
// register_algo() call. Nothing in apps/ or agents/ knows
// it, yet `train` runs it (config section, logs, evaluations, best.pt, checkpoints, interrupt and
// exact resume) and `eval` acts with its policy through load_policy.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/bc/behaviour_cloning.h"
#include "agents/core/policy.h"
#include "agents/loops/offline_loop.h"
#include "apps/algos/registry.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/eval_command.h"
#include "apps/commands/train_command.h"
#include "apps/run/run.h"
#include "common/json.h"
#include "envs/registry.h"
#include "envs/rollout.h"

using namespace softrl;
namespace fs = std::filesystem;

namespace {

struct BcSettings : apps::AlgoSettings {
  std::vector<int64_t> net_arch = {64, 64};
  int64_t batch_size = 64;
  double learning_rate = 1e-3;
  int64_t demo_episodes = 10;
};

// Wraps a policy and keeps what it saw and did.
class Recorder : public envs::Policy {
 public:
  explicit Recorder(envs::Policy& inner) : inner_(inner) {}
  void begin_episode() override { inner_.begin_episode(); }
  std::vector<float> act(std::span<const float> obs) override {
    std::vector<float> a = inner_.act(obs);
    obs_.insert(obs_.end(), obs.begin(), obs.end());
    actions_.insert(actions_.end(), a.begin(), a.end());
    return a;
  }
  agents::Batch transitions(int64_t obs_dim) const {
    const int64_t n = static_cast<int64_t>(obs_.size()) / obs_dim;
    const torch::Tensor o = torch::tensor(obs_).reshape({n, obs_dim});
    return {o, torch::tensor(actions_).reshape({n, -1}), torch::zeros({n}), o, torch::zeros({n})};
  }

 private:
  envs::Policy& inner_;
  std::vector<float> obs_, actions_;
};

apps::AlgoEntry bc_entry() {
  return {
      .name = "bc_test",
      .summary = "behaviour cloning of the task's heuristic (test learner)",
      // One declaration per key: parsing, validation, the resolved config and `softrl config` follow.
      .section = apps::algo_section<BcSettings>({
          apps::widths<BcSettings>(
              "net_arch", [](auto& s) -> auto& { return s.net_arch; }, "hidden layers"),
          apps::integer<BcSettings>(
              "batch_size", [](auto& s) -> auto& { return s.batch_size; }, 1, INT64_MAX, "samples per step"),
          apps::real<BcSettings>(
              "learning_rate", [](auto& s) -> auto& { return s.learning_rate; }, 0, 1, "Adam step size", true),
          apps::integer<BcSettings>(
              "demo_episodes", [](auto& s) -> auto& { return s.demo_episodes; }, 1, 1000,
              "heuristic episodes recorded"),
      }),
      .build =
          [](const apps::RunConfig& run, const envs::EnvSpec& spec) {
            const auto& s = run.settings<BcSettings>();
            auto env = envs::make_env(run.env_id, run.env_options);
            auto heuristic = envs::make_heuristic(run.env_id);
            Recorder rec(*heuristic);
            for (int64_t k = 0; k < s.demo_episodes; ++k) envs::run_episode(*env, rec, run.seed + k);
            auto learner = std::make_unique<agents::BehaviourCloning>(agents::PolicySpec::for_env(spec, s.net_arch),
                                                                      s.learning_rate, run.seed);
            auto loop = std::make_unique<agents::OfflineLoop>(
                *learner, rec.transitions(spec.observation_space.dim()),
                agents::OfflineSettings{.total_steps = run.total_steps,
                                        .batch_size = s.batch_size,
                                        .learning_rate = {.initial = s.learning_rate}},
                run.seed);
            return agents::Training{std::move(learner), std::move(loop)};
          },
  };
}

const char* kConfig = R"(env: {id: LunarLander-v3}
algo: bc_test
total_steps: 400000
eval: {every: 100000, episodes: 10}
checkpoint: {every: 0}
log: {every: 5000}
bc_test: {net_arch: [64, 64], batch_size: 64, learning_rate: 0.001, demo_episodes: 20}
)";

fs::path plugin_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("softrl_plugin_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  std::ofstream(p / "bc.yaml") << kConfig;
  return p;
}

std::vector<torch::Tensor> policy_parameters(const fs::path& ckpt) {
  std::vector<torch::Tensor> p;
  for (const auto& t : agents::load_policy(ckpt.string()).policy->parameters()) p.push_back(t.detach().clone());
  return p;
}

// Registered when the test runs (once), not at start-up: the other tests in this binary see the
// shipped registry only.
bool register_plugin() {
  static const bool registered = [] {
    apps::register_algo(bc_entry());
    return true;
  }();
  return registered;
}

}  // namespace

TEST_CASE("a learner registered from outside runs through train, eval and resume", "[plugin]") {
  REQUIRE(register_plugin());
  const fs::path dir = plugin_dir("bc");
  std::ostringstream out;
  const apps::RunResult r =
      apps::start_run(apps::load_config((dir / "bc.yaml").string(), {"seed=0"}), dir / "run", {.progress = false}, out);
  INFO(out.str());
  REQUIRE(r.status == apps::RunResult::Status::finished);
  CHECK(r.steps == 400000);
  // Random play scores about -180 +- 32 over 10 episodes, the imitated heuristic about 235.
  // Recorded (seeds 0-4): 231, 260, 222, 218, 222 (sd 17). A crash among the 10 episodes costs the
  // mean 30-50, so 100 leaves room for three, and is 280 above random play.
  CHECK(r.final_eval.mean > 100);
  CHECK(fs::exists(r.best_checkpoint));

  // The learner's own metric reached the logs, under the loop's.
  std::ifstream csv(dir / "run" / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "step,wall_time,epoch,bc_loss,steps_per_s,updates_per_s");

  // `softrl eval` acts through load_policy: the same 10 deterministic episodes, the same mean.
  std::ostringstream eval_out, eval_err;
  REQUIRE(apps::run_eval({.target = (dir / "run").string(), .episodes = 10, .json = true}, eval_out, eval_err) == 0);
  CHECK(eval_out.str().find("\"mean\": " + json_number(r.final_eval.mean)) != std::string::npos);

  // Interrupted at 10000 transitions and resumed: the same policy as the uninterrupted run.
  apps::TrainOptions split{.config_path = (dir / "bc.yaml").string(),
                           .overrides = {"seed=0"},
                           .run_dir = (dir / "split").string(),
                           .progress = false,
                           .interrupt_after_steps = 150000};
  std::ostringstream o2, e2;
  REQUIRE(apps::run_train(split, o2, e2) == 130);
  REQUIRE(apps::run_train({.resume_dir = (dir / "split").string(), .progress = false}, o2, e2) == 0);
  const auto a = policy_parameters(dir / "run" / "checkpoints" / "latest.pt");
  const auto b = policy_parameters(dir / "split" / "checkpoints" / "latest.pt");
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));

  // A run stopped during its final evaluation (its eval.csv lacks the final row) resumes into that
  // evaluation alone: the same row again, and then it counts as complete.
  const fs::path eval_csv = dir / "run" / "eval.csv";
  std::string text;
  {
    std::ifstream in(eval_csv);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t cut = text.rfind('\n', text.size() - 2) + 1;
  std::ofstream(eval_csv, std::ios::trunc) << text.substr(0, cut);
  std::ostringstream o3;
  const apps::RunResult again = apps::resume_run(dir / "run", {.progress = false}, o3);
  CHECK(again.status == apps::RunResult::Status::finished);
  CHECK(again.final_eval.mean == r.final_eval.mean);
  {
    std::ifstream in(eval_csv);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == text);
  }
  CHECK(apps::resume_run(dir / "run", {.progress = false}, o3).status == apps::RunResult::Status::already_complete);
  fs::remove_all(dir);
}
