// SAC end to end: update wiring, learning on LunarLanderContinuous-v3 within a CI budget, checkpoints (round trip,
// corruption, compatibility), resume equivalence and evaluation output.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "agents/sac/sac.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/algos/sac_algo.h"
#include "apps/commands/eval_command.h"
#include "apps/commands/train_command.h"
#include "apps/config/run_config.h"
#include "apps/run/run.h"
#include "apps/run/run_dir.h"
#include "common/runtime.h"
#include "common/stats.h"
#include "envs/registry.h"
#include "objectives/sac.h"
#include "tests/run_fixtures.h"

using namespace softrl;
using namespace softrl::test;
namespace fs = std::filesystem;

namespace {

// Every parameter of the SAC learner in a checkpoint of either format.
std::vector<torch::Tensor> checkpoint_parameters(const fs::path& ckpt) {
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  const apps::RunConfig cfg = apps::parse_config(c.header.config_yaml, "embedded");
  const auto env = envs::make_env(cfg.env_id, cfg.env_options);
  agents::Sac agent(sac_of(cfg), agents::PolicySpec::for_env(env->spec(), sac_of(cfg).net_arch), 99);
  agents::restore_policy(agent.policy(), c);
  torch::serialize::InputArchive learner = c.section("learner");
  agent.load(learner);
  std::vector<torch::Tensor> p;
  for (const auto& t : agent.all_parameters()) p.push_back(t.detach().clone());
  return p;
}

// The rows of a CSV file after its header, split into fields.
std::vector<std::vector<double>> csv_rows(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<double>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) row.push_back(f.empty() ? std::nan("") : std::stod(f));
    rows.push_back(row);
  }
  return rows;
}

agents::SacConfig small_config(std::vector<int64_t> hidden, double tau, double lr) {
  agents::SacConfig cfg;
  cfg.net_arch = std::move(hidden);
  cfg.tau = tau;
  cfg.learning_rate.initial = lr;
  return cfg;
}

// A 5-dimensional observation and 2 continuous or 3 discrete actions.
agents::PolicySpec spec(bool discrete) {
  return discrete ? agents::PolicySpec{.kind = agents::PolicySpec::Kind::categorical,
                                       .obs_dim = 5,
                                       .act_dim = 1,
                                       .num_actions = 3}
                  : agents::PolicySpec{.kind = agents::PolicySpec::Kind::tanh_gaussian, .obs_dim = 5, .act_dim = 2};
}

agents::Batch random_batch(int64_t b, int64_t obs_dim, int64_t act_dim, bool terminal) {
  torch::manual_seed(1);
  return {torch::randn({b, obs_dim}), torch::rand({b, act_dim}) * 2 - 1, torch::randn({b}), torch::randn({b, obs_dim}),
          torch::full({b}, terminal ? 1.0f : 0.0f)};
}
}  // namespace

TEST_CASE("SAC update: Polyak targets and the temperature's direction", "[sac]") {
  const agents::SacConfig cfg = small_config({16, 16}, 0.25, 1e-2);
  for (bool discrete : {false, true}) {
    agents::Sac agent(cfg, spec(discrete), 0);
    const auto before = agent.all_parameters();
    std::vector<torch::Tensor> old;
    for (const auto& t : before) old.push_back(t.detach().clone());
    agents::Batch b = random_batch(16, 5, discrete ? 1 : 2, false);
    if (discrete) b.actions = torch::randint(0, 3, {16, 1}).to(torch::kFloat32);
    at::Generator gen = at::detail::createCPUGenerator(0);
    agent.update(b, gen);
    const auto after = agent.all_parameters();
    // Layout: policy params, critic params, target params, log_alpha.
    const size_t n_policy = agent.policy().parameters().size();
    const size_t n_critic = (after.size() - n_policy - 1) / 2;
    for (size_t i = 0; i < n_critic; ++i) {
      const torch::Tensor critic_new = after[n_policy + i];
      const torch::Tensor target_old = old[n_policy + n_critic + i];
      const torch::Tensor target_new = after[n_policy + n_critic + i];
      CHECK(torch::allclose(target_new, 0.75 * target_old + 0.25 * critic_new, 1e-6, 1e-7));
    }
  }
  // The temperature rises when the policy's entropy is below the target and falls when above.
  for (double target : {50.0, -50.0}) {
    agents::SacConfig c = cfg;
    c.target_entropy = target;
    agents::Sac agent(c, spec(false), 0);
    const double a0 = agent.alpha();
    at::Generator gen = at::detail::createCPUGenerator(0);
    agent.update(random_batch(16, 5, 2, false), gen);
    CHECK((target > 0 ? agent.alpha() > a0 : agent.alpha() < a0));
  }
}

namespace {
// SAC's continuous update written the textbook way, all through autograd, on its own copies of
// the networks: the reference for the split update (which runs the critics by hand).
struct ReferenceSac {
  agents::GaussianPolicy actor;
  agents::EnsembleMlp critic, target;
  torch::Tensor log_alpha;
  std::unique_ptr<torch::optim::Adam> actor_opt, critic_opt, alpha_opt;
  double tau, gamma, target_entropy;

  // Copies the agent's tensors (all_parameters order: policy, critic, target, log_alpha).
  ReferenceSac(agents::Sac& agent, const agents::SacConfig& cfg, const agents::PolicySpec& p)
      : actor(p.obs_dim, p.act_dim, cfg.net_arch),
        critic(2, p.obs_dim + p.act_dim, cfg.net_arch, 1),
        target(2, p.obs_dim + p.act_dim, cfg.net_arch, 1),
        tau(cfg.tau),
        gamma(cfg.gamma),
        target_entropy(agent.target_entropy()) {
    std::vector<torch::Tensor> mine = actor->parameters();
    for (auto& t : critic->parameters()) mine.push_back(t);
    for (auto& t : target->parameters()) mine.push_back(t);
    log_alpha = torch::zeros({}, torch::kDouble).requires_grad_();
    mine.push_back(log_alpha);
    const auto theirs = agent.all_parameters();
    REQUIRE(mine.size() == theirs.size());
    torch::NoGradGuard ng;
    for (size_t i = 0; i < mine.size(); ++i) mine[i].set_data(theirs[i].detach().clone());
    const double lr = cfg.learning_rate.at(1.0);
    actor_opt = std::make_unique<torch::optim::Adam>(actor->parameters(), torch::optim::AdamOptions(lr));
    critic_opt = std::make_unique<torch::optim::Adam>(critic->parameters(), torch::optim::AdamOptions(lr));
    alpha_opt =
        std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{log_alpha}, torch::optim::AdamOptions(lr));
  }

  std::vector<torch::Tensor> parameters() {
    std::vector<torch::Tensor> all = actor->parameters();
    for (auto& t : critic->parameters()) all.push_back(t);
    for (auto& t : target->parameters()) all.push_back(t);
    all.push_back(log_alpha);
    return all;
  }

  // Returns the update's metrics as the learner names them.
  std::map<std::string, double> update(const agents::Batch& b, at::Generator& gen) {
    std::map<std::string, double> m;
    const auto step = [&](torch::optim::Optimizer& opt, const torch::Tensor& loss, const char* name) {
      m[name] = loss.item<double>();
      opt.zero_grad();
      loss.backward();
      opt.step();
    };
    const double alpha = std::exp(log_alpha.item<double>());
    const torch::Tensor eps = at::normal(0.0, 1.0, {b.obs.size(0), actor->act_dim}, gen, b.obs.options());
    const torch::Tensor eps_next = at::normal(0.0, 1.0, {b.obs.size(0), actor->act_dim}, gen, b.obs.options());
    const agents::PolicySample pi = actor->sample_with_noise(b.obs, eps);
    step(*alpha_opt, sac::continuous_temperature_loss(log_alpha, pi.log_prob, target_entropy), "alpha_loss");
    torch::Tensor y;
    {
      torch::NoGradGuard ng;
      const agents::PolicySample next = actor->sample_with_noise(b.next_obs, eps_next);
      const torch::Tensor nq = target->forward(torch::cat({b.next_obs, next.action}, -1)).squeeze(-1);
      y = sac::continuous_critic_target(b.rewards, b.terminated, nq, next.log_prob, alpha, gamma);
    }
    sac::CriticLossInfo ci;
    sac::ActorLossInfo ai;
    step(*critic_opt, sac::critic_loss(critic->forward(torch::cat({b.obs, b.actions}, -1)).squeeze(-1), y, &ci),
         "critic_loss");
    step(*actor_opt,
         sac::continuous_actor_loss(pi.log_prob, critic->forward(torch::cat({b.obs, pi.action}, -1)).squeeze(-1), alpha,
                                    &ai),
         "actor_loss");
    agents::polyak_update(*target, *critic, tau);
    m["alpha"] = std::exp(log_alpha.item<double>());
    m["entropy"] = ai.entropy, m["q1_mean"] = ci.q1_mean, m["q2_mean"] = ci.q2_mean,
    m["target_q_mean"] = ci.target_mean;
    return m;
  }
};

void to_double(agents::Sac& agent) {
  torch::NoGradGuard ng;
  for (auto& p : agent.all_parameters()) p.set_data(p.detach().to(torch::kDouble));
}
}  // namespace

TEST_CASE("continuous SAC: the split update is the textbook update at any thread count", "[sac]") {
  const agents::SacConfig cfg = small_config({24, 16}, 0.1, 3e-3);
  const agents::PolicySpec p = spec(false);
  // In float64 against the autograd reference: the two differ only in summation order (by-hand
  // matmuls vs baddbmm and autograd), about 1e-16 relative per gradient; Adam's step is
  // continuous in the gradient away from exact zeros (identical in both), so after 4 updates the
  // parameters (|p| < 1, rounding step <= 1.1e-16) agree within a few rounding steps (measured
  // 5.6e-17): tolerance 1e-15.
  set_compute_threads(1);
  for (int threads : {1, 2}) {
    agents::SacConfig c = cfg;
    c.threads = threads;
    agents::Sac agent(c, p, 7);
    to_double(agent);
    ReferenceSac ref(agent, c, p);
    at::Generator g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
    for (int k = 0; k < 4; ++k) {
      agents::Batch b = random_batch(9, 5, 2, false);  // odd: the actor's halves are 4 and 5 rows
      for (torch::Tensor* t : {&b.obs, &b.actions, &b.rewards, &b.next_obs, &b.terminated})
        *t = t->to(torch::kDouble) + 0.1 * k;
      b.terminated = (torch::arange(9) % 3 == 0).to(torch::kDouble);
      // The learner computes its reported losses when they are read (after the update, from the
      // tensors it kept): they must be the reference's, within a few rounding steps of each value.
      const agents::Metrics got = agent.update(b, g1).get();
      const std::map<std::string, double> want = ref.update(b, g2);
      REQUIRE(got.size() == want.size());
      for (const auto& [name, value] : got) {
        INFO("threads " << threads << ", update " << k << ": " << name << " " << value << " vs " << want.at(name));
        CHECK(std::abs(value - want.at(name)) <= 1e-13 * std::abs(want.at(name)));
      }
    }
    const auto got = agent.all_parameters(), want = ref.parameters();
    double worst = 0, moved = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, (got[i] - want[i]).abs().max().item<double>());
      moved = std::max(moved, want[i].abs().max().item<double>());
    }
    INFO("threads " << threads << ": largest difference " << worst);
    CHECK(worst < 1e-15);
    CHECK(moved < 1.0);
  }
  // float32, 1 vs 2 threads: bit-identical after 5 updates.
  std::vector<std::vector<torch::Tensor>> runs;
  for (int threads : {1, 2}) {
    agents::SacConfig c = cfg;
    c.threads = threads;
    agents::Sac agent(c, p, 7);
    at::Generator gen = at::detail::createCPUGenerator(5);
    for (int k = 0; k < 5; ++k) agent.update(random_batch(32, 5, 2, false), gen);
    runs.push_back(agent.all_parameters());
  }
  for (size_t i = 0; i < runs[0].size(); ++i) CHECK(torch::equal(runs[0][i], runs[1][i]));
}

TEST_CASE("SAC learns LunarLanderContinuous-v3 within a CI budget", "[sac][learning]") {
  // Budget: 15k env steps, 14k updates of a 64x64 network (about 80 s on one core). The same
  // 10 evaluation seeds are played by a uniformly random policy as the baseline.
  const fs::path dir = fresh_dir("learn");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string log;
  const int rc = train(
      cfg, dir / "run",
      {"total_steps=15000", "seed=0", "sac.learning_starts=1000", "sac.net_arch=[64,64]", "sac.learning_rate=1e-3",
       "sac.batch_size=128", "sac.buffer_size=20000", "eval.episodes=10", "checkpoint.save_replay_buffer=false"},
      -1, &log);
  INFO(log);
  REQUIRE(rc == 0);
  std::ifstream in(dir / "run" / "eval.csv");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  const double trained = std::stod(last.substr(last.find(',') + 1));

  auto env = envs::make_env("LunarLanderContinuous-v3");
  std::mt19937 gen(0);
  std::uniform_real_distribution<float> u(-1, 1);
  double random_mean = 0;
  for (int k = 0; k < 10; ++k) {
    env->reset(1000000 + k);
    while (true) {
      const auto r = env->step(std::vector<float>{u(gen), u(gen)});
      random_mean += r.reward / 10;
      if (r.terminated || r.truncated) break;
    }
  }
  INFO("trained " << trained << " vs random " << random_mean);
  // Random play crashes (about -180 +- 100 per episode, so +-30 for a 10-episode mean); the
  // margin of 75 is 2.5 of those standard errors. Our recorded run reaches about -80.
  CHECK(trained > random_mean + 75);
  fs::remove_all(dir);
}

TEST_CASE("checkpoints: round trip, corruption and compatibility", "[sac][checkpoint]") {
  const fs::path dir = fresh_dir("ckpt");
  const fs::path cfg = write_config(dir, kBaseConfig);
  REQUIRE(train(cfg, dir / "run", {"total_steps=300"}) == 0);
  const fs::path ckpt = dir / "run" / "checkpoints" / "latest.pt";
  const auto p1 = checkpoint_parameters(ckpt);
  const auto p2 = checkpoint_parameters(ckpt);
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(torch::equal(p1[i], p2[i]));

  // Truncated and bit-flipped copies are refused with the file named.
  std::ifstream in(ckpt, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "trunc.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK_THROWS_WITH(agents::open_checkpoint((dir / "trunc.pt").string()),
                    Catch::Contains("trunc.pt: truncated checkpoint"));
  std::string flipped = bytes;
  for (size_t k = flipped.size() / 3; k < flipped.size() / 3 + 64; ++k) flipped[k] = static_cast<char>(~flipped[k]);
  std::ofstream(dir / "flip.pt", std::ios::binary) << flipped;
  bool refused = false;
  try {
    checkpoint_parameters(dir / "flip.pt");
  } catch (const std::exception&) {
    refused = true;
  }
  CHECK(refused);
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "trunc.pt").string(), .episodes = 1}, out, err) == 2);

  // Made for another env or architecture: refused.
  const agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  CHECK_THROWS_WITH(agents::check_compatible(c.header, "x.pt", envs::make_env("BipedalWalker-v3")->spec()),
                    Catch::Contains("made for LunarLanderContinuous-v3, not BipedalWalker-v3"));
  {
    agents::OpenedCheckpoint opened = agents::open_checkpoint(ckpt.string());
    agents::PolicyHead wider(agents::PolicySpec::for_env(envs::make_env("LunarLanderContinuous-v3")->spec(), {64, 64}));
    CHECK_THROWS_WITH(agents::restore_policy(wider, opened),
                      Catch::Contains("latest.pt: the saved policy is tanh-Gaussian 8 -> [32, 32] -> 2, this run's is "
                                      "tanh-Gaussian 8 -> [64, 64] -> 2"));
  }
  // A new run into an existing run directory is refused and leaves its checkpoint intact.
  CHECK(train(cfg, dir / "run", {"total_steps=300"}) == 2);
  const auto p3 = checkpoint_parameters(ckpt);
  for (size_t i = 0; i < p1.size(); ++i) CHECK(torch::equal(p1[i], p3[i]));
  fs::remove_all(dir);
}

TEST_CASE("an interrupted then resumed run ends with the same parameters", "[sac][resume]") {
  for (const char* env_id : {"LunarLanderContinuous-v3", "LunarLander-v3"}) {
    const fs::path dir = fresh_dir("resume");
    const fs::path cfg = write_config(dir, kBaseConfig);
    const std::vector<std::string> ov = {std::string("env.id=") + env_id, "total_steps=500"};
    REQUIRE(train(cfg, dir / "straight", ov) == 0);
    REQUIRE(train(cfg, dir / "split", ov, 230) == 130);
    // As if the run had been killed after logging past its checkpoint: the resumed run drops these.
    std::ofstream(dir / "split" / "metrics.csv", std::ios::app) << "300,1e9,0,0,0,0,0,0,0,0,0,0,0,0,0\n";
    std::ofstream(dir / "split" / "metrics.jsonl", std::ios::app) << "{\"step\": 300, \"wall_time\": 1e9}\n";
    std::ofstream(dir / "split" / "eval.csv", std::ios::app) << "240,1,0,0,0,0,0,0,0\n";
    apps::TrainOptions r;
    r.resume_dir = (dir / "split").string();
    r.progress = false;
    std::ostringstream out, err;
    REQUIRE(apps::run_train(r, out, err) == 0);
    const auto a = checkpoint_parameters(dir / "straight" / "checkpoints" / "latest.pt");
    const auto b = checkpoint_parameters(dir / "split" / "checkpoints" / "latest.pt");
    REQUIRE(a.size() == b.size());
    INFO(env_id);
    for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
    // Every step is logged once, in order, and wall time carries on from the interrupted session.
    const auto rows = csv_rows(dir / "split" / "metrics.csv");
    REQUIRE(rows.size() == 5);
    for (size_t i = 0; i < rows.size(); ++i) {
      CHECK(rows[i][0] == 100.0 * (i + 1));
      if (i > 0) CHECK(rows[i][1] >= rows[i - 1][1]);
    }
    std::ifstream jsonl(dir / "split" / "metrics.jsonl");
    int json_rows = 0;
    for (std::string l; std::getline(jsonl, l); ++json_rows) CHECK(l.find("1e9") == std::string::npos);
    CHECK(json_rows == 5);
    const auto evals = csv_rows(dir / "split" / "eval.csv");
    REQUIRE(evals.size() == 1);
    CHECK(evals[0][0] == 500);
    // Resuming a finished run says so and changes nothing.
    std::ostringstream again;
    CHECK(apps::run_train(r, again, err) == 0);
    CHECK(again.str().find("is complete (500 of 500 steps)") != std::string::npos);
    CHECK(csv_rows(dir / "split" / "eval.csv").size() == 1);
    fs::remove_all(dir);
  }
}

TEST_CASE("eval of a run directory prints and writes every statistic", "[sac][eval]") {
  const fs::path dir = fresh_dir("eval");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string train_output;
  REQUIRE(train(cfg, dir / "run", {"total_steps=200"}, -1, &train_output) == 0);
  CHECK(train_output.find("eval @200: mean ") != std::string::npos);
  // best.pt is the checkpoint of the evaluation with the highest mean.
  REQUIRE(train(cfg, dir / "evals", {"total_steps=600", "eval.every=150", "eval.episodes=2"}) == 0);
  const auto evals = csv_rows(dir / "evals" / "eval.csv");
  REQUIRE(evals.size() == 4);
  const auto best =
      std::max_element(evals.begin(), evals.end(), [](const auto& a, const auto& b) { return a[1] < b[1]; });
  CHECK(agents::open_checkpoint((dir / "evals" / "checkpoints" / "best.pt").string()).header.env_steps == (*best)[0]);
  std::ostringstream out, err;
  REQUIRE(apps::run_eval({.target = (dir / "run").string(), .episodes = 3, .seed = 5, .json = true}, out, err) == 0);
  for (const char* key : {"\"mean\"", "\"std\"", "\"median\"", "\"iqm\"", "\"min\"", "\"max\"", "\"success_rate\"",
                          "\"mean_length\"", "\"episodes\": 3", "\"env\": \"LunarLanderContinuous-v3\""})
    CHECK(out.str().find(key) != std::string::npos);
  CHECK(fs::exists(dir / "run" / "eval_report.json"));
  const ReturnStats s = return_stats({1, 2, 3, 4, 100, -50, 7, 8}, {1, 1, 1, 1, 1, 1, 1, 1}, 5);
  CHECK(s.median == Approx(3.5));
  CHECK(s.iqm == Approx((2 + 3 + 4 + 7) / 4.0));
  CHECK(s.success_rate == Approx(3.0 / 8));
  fs::remove_all(dir);
}

TEST_CASE("format 1 checkpoints (before the run-loop split) evaluate and resume", "[sac][checkpoint]") {
  // Written by softrl at commit be076b4 (checkpoint format 1): sac_llc_300 stopped at 300 of 600
  // steps with its replay buffer (config.yaml edited to total_steps: 600); sac_llc_600.pt is the
  // uninterrupted 600-step run of the same config; *_eval.json are that version's `softrl eval
  // --episodes 3 --seed 1000000 --json` of each file (6 significant digits).
  const fs::path fixtures = fs::path(SOFTRL_FIXTURES) / "format1";
  for (const char* name : {"sac_llc_600", "sac_ll_300"}) {
    std::ifstream in(fixtures / (std::string(name) + "_eval.json"));
    const std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ostringstream out, err;
    REQUIRE(apps::run_eval({.target = (fixtures / (std::string(name) + ".pt")).string(), .episodes = 3, .json = true},
                           out, err) == 0);
    for (const char* key : {"\"mean\": ", "\"min\": ", "\"max\": ", "\"mean_length\": "}) {
      auto value = [&](const std::string& json) {
        return std::stod(json.substr(json.find(key) + std::string(key).size()));
      };
      INFO(name << " " << key << " now " << out.str() << " was " << expected);
      CHECK(std::abs(value(out.str()) - value(expected)) <= 5e-6 * std::abs(value(expected)));
    }
  }
  const fs::path dir = fresh_dir("format1");
  fs::copy(fixtures / "sac_llc_300", dir, fs::copy_options::recursive);
  std::ostringstream out, err;
  REQUIRE(apps::run_train({.resume_dir = dir.string(), .progress = false}, out, err) == 0);
  const fs::path resumed = dir / "checkpoints" / "latest.pt";
  CHECK(agents::open_checkpoint(resumed.string()).header.format == 2);
  const auto a = checkpoint_parameters(fixtures / "sac_llc_600.pt");
  const auto b = checkpoint_parameters(resumed);
  REQUIRE(a.size() == b.size());
  // The fixture's second half ran the update of its day; today's continuous update sums in
  // another order (critic members by hand, actor halves), so 300 updates later the parameters
  // (|p| < 1) differ by a few float32 rounding steps (measured <= 3.7e-7); a checkpoint section
  // read wrong (optimizer moments, replay buffer, generator) moves them by ~lr = 1e-3.
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].abs().max().item<double>() < 1.0);
    CHECK((a[i] - b[i]).abs().max().item<double>() < 1e-6);
  }
  fs::remove_all(dir);
}

TEST_CASE("all_finite finds a single infinite or NaN element anywhere, in float32 and float64", "[sac][faults]") {
  // The divergence guard reads the raw bits; a length that is not a multiple of any vector width
  // puts some positions in the loop's remainder. The largest finite values, subnormals and -0 are
  // finite.
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double big =
        dtype == torch::kFloat32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
    const double tiny =
        dtype == torch::kFloat32 ? std::numeric_limits<float>::denorm_min() : std::numeric_limits<double>::denorm_min();
    const torch::Tensor ok = torch::tensor({big, -big, tiny, -0.0}, dtype).repeat({251}).narrow(0, 0, 1003);
    CHECK(agents::all_finite({ok, ok.view({17, 59}).t()}));
    for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()})
      for (const int64_t at : {int64_t{0}, int64_t{1}, int64_t{500}, int64_t{1001}, int64_t{1002}}) {
        torch::Tensor t = ok.clone();
        t[at] = bad;
        INFO("dtype " << dtype << ", value " << bad << " at " << at);
        CHECK_FALSE(agents::all_finite({ok, t}));
        CHECK_FALSE(agents::all_finite({t.view({17, 59}).t()}));  // non-contiguous
        // Shared between threads (SAC checks half of every tensor on each): exactly one part sees it.
        for (const int64_t parts : {int64_t{2}, int64_t{3}}) {
          int found = 0;
          for (int64_t k = 0; k < parts; ++k) {
            CHECK(agents::all_finite({ok}, k, parts));
            found += agents::all_finite({ok, t}, k, parts) ? 0 : 1;
          }
          CHECK(found == 1);
        }
      }
  }
}

TEST_CASE("the replay buffer keeps the last capacity transitions, each row whole, across the ring's wrap", "[sac]") {
  // Transition k of env e: obs (k, e, 1), action (k + 0.5, -k), reward -k - e/2 (float64, as the
  // vector env gives it), next_obs (k + 1, e, 1), terminated k % 2 (bool). 2 envs, 4 steps, capacity 5:
  // the ring wraps and holds the last 5 rows (step 1's second env onwards).
  agents::ReplayBuffer rb(5, 3, 2);
  const auto row_of = [](int64_t k, int64_t e) { return 2 * k + e; };
  for (int64_t k = 0; k < 4; ++k) {
    const torch::Tensor e = torch::arange(2, torch::kFloat32);
    const torch::Tensor obs = torch::stack({torch::full({2}, static_cast<float>(k)), e, torch::ones({2})}, 1);
    const torch::Tensor act = torch::stack({torch::full({2}, k + 0.5f), torch::full({2}, -static_cast<float>(k))}, 1);
    const torch::Tensor next = obs + torch::tensor({1.0f, 0.0f, 0.0f});
    rb.add(obs, act, -k - e.to(torch::kFloat64) / 2, next, torch::full({2}, k % 2 == 1, torch::kBool));
  }
  REQUIRE(rb.size() == 5);
  at::Generator gen = at::detail::createCPUGenerator(3);
  const agents::Batch b = rb.sample(400, gen);
  REQUIRE(b.obs.sizes() == torch::IntArrayRef({400, 3}));
  REQUIRE(b.rewards.sizes() == torch::IntArrayRef({400}));
  std::set<int64_t> seen;
  for (int64_t i = 0; i < 400; ++i) {
    const auto k = static_cast<int64_t>(b.obs[i][0].item<float>()), e = static_cast<int64_t>(b.obs[i][1].item<float>());
    INFO("sampled row " << i << ": step " << k << ", env " << e);
    CHECK(row_of(k, e) >= 3);  // rows 0-2 were overwritten
    CHECK(b.obs[i][2].item<float>() == 1.0f);
    CHECK(b.actions[i][0].item<float>() == k + 0.5f);
    CHECK(b.actions[i][1].item<float>() == -static_cast<float>(k));
    CHECK(b.rewards[i].item<float>() == -k - e / 2.0f);
    CHECK(b.next_obs[i][0].item<float>() == k + 1.0f);
    CHECK(b.next_obs[i][1].item<float>() == static_cast<float>(e));
    CHECK(b.terminated[i].item<float>() == static_cast<float>(k % 2));
    seen.insert(row_of(k, e));
  }
  CHECK(seen == std::set<int64_t>{3, 4, 5, 6, 7});

  // The same row selection serves the offline loop's minibatches of any dtype (a discrete
  // dataset's int64 actions [N]) and layout (a transposed field goes through index_select).
  const agents::Batch d{torch::randn({7, 3}), torch::arange(7, torch::kLong) * 3, torch::randn({7}),
                        torch::randn({3, 7}).t(), torch::rand({7}).round()};
  const torch::Tensor idx = torch::tensor({6, 0, 0, 3}, torch::kLong);
  const agents::Batch s = agents::select_rows(d, idx);
  CHECK(torch::equal(s.obs, d.obs.index_select(0, idx)));
  CHECK(torch::equal(s.actions, torch::tensor({18, 0, 0, 9}, torch::kLong)));
  CHECK(torch::equal(s.rewards, d.rewards.index_select(0, idx)));
  CHECK(torch::equal(s.next_obs, d.next_obs.index_select(0, idx)));
  CHECK(torch::equal(s.terminated, d.terminated.index_select(0, idx)));
}

TEST_CASE("a diverging run stops with exit 4, names the last good checkpoint and saves nothing non-finite",
          "[sac][faults]") {
  // A temperature of 1e308 makes the first update's losses infinite and the parameters NaN.
  const fs::path dir = fresh_dir("diverge");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string log;
  CHECK(train(cfg, dir / "run", {"sac.ent_coef=1e308", "checkpoint.every=100"}, -1, &log) == 4);
  INFO(log);
  CHECK(log.find("diverged at step 101") != std::string::npos);
  CHECK(log.find("the last good checkpoint is " + (dir / "run" / "checkpoints" / "latest.pt").string() +
                 " (step 100)") != std::string::npos);
  const fs::path ckpt = dir / "run" / "checkpoints" / "latest.pt";
  CHECK(agents::open_checkpoint(ckpt.string()).header.env_steps == 100);
  for (const auto& t : checkpoint_parameters(ckpt)) CHECK(torch::isfinite(t).all().item<bool>());
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "run").string(), .episodes = 1}, out, err) == 0);
  fs::remove_all(dir);
}

TEST_CASE("run directories are owned: locked while in use, never reused unless empty", "[sac][faults]") {
  const fs::path dir = fresh_dir("owned");
  const fs::path cfg = write_config(dir, kBaseConfig);
  std::string log;
  // A directory with files but no run (e.g. a crash before the first checkpoint) is refused intact.
  fs::create_directories(dir / "crashed");
  std::ofstream(dir / "crashed" / "eval.csv") << "step,mean\n100,-5\n";
  CHECK(train(cfg, dir / "crashed", {}, -1, &log) == 2);
  CHECK(log.find("is not empty and holds no run to resume") != std::string::npos);
  std::ifstream kept(dir / "crashed" / "eval.csv");
  std::string line;
  std::getline(kept, line);
  std::getline(kept, line);
  CHECK(line == "100,-5");
  // A run in use by another process (here: this one, holding the lock) is neither resumed nor reused.
  REQUIRE(train(cfg, dir / "run", {"total_steps=300"}) == 0);
  {
    const apps::RunDirLock held(dir / "run");
    std::ostringstream out, err;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, out, err) == 2);
    CHECK(err.str().find("is in use by another softrl process") != std::string::npos);
    fs::create_directories(dir / "empty");
    const apps::RunDirLock held_empty(dir / "empty");
    CHECK(train(cfg, dir / "empty", {}, -1, &log) == 2);
    CHECK(log.find("in use by another softrl process") != std::string::npos);
  }
  // Default names: a taken name gets a suffix instead of sharing a directory.
  const apps::RunConfig c = apps::parse_config(kBaseConfig, "c.yaml", {"total_steps=100"});
  std::ostringstream out;
  const auto a = apps::start_run(c, dir / "same-second", {.progress = false, .pick_free_name = true}, out);
  const auto b = apps::start_run(c, dir / "same-second", {.progress = false, .pick_free_name = true}, out);
  CHECK(a.run_dir == dir / "same-second");
  CHECK(b.run_dir == dir / "same-second-2");
  // A resume continues the recorded run or says what differs (total_steps may grow).
  {
    std::ifstream in(dir / "run" / "config.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    const std::string original = text;
    text.replace(text.find("batch_size: 32"), 14, "batch_size: 16");
    std::ofstream(dir / "run" / "config.yaml") << text;
    std::ostringstream o, e;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, o, e) == 2);
    CHECK(e.str().find("only total_steps may change on resume):\n  checkpoint:   batch_size: 32\n  config.yaml:   "
                       "batch_size: 16") != std::string::npos);
    std::string longer = original;
    longer.replace(longer.find("total_steps: 300"), 16, "total_steps: 400");
    std::ofstream(dir / "run" / "config.yaml") << longer;
    CHECK(apps::run_train({.resume_dir = (dir / "run").string(), .progress = false}, o, e) == 0);
    CHECK(agents::open_checkpoint((dir / "run" / "checkpoints" / "latest.pt").string()).header.env_steps == 400);
  }
  fs::remove_all(dir);
}

TEST_CASE("a crafted checkpoint with a valid frame but NaN weights is refused", "[sac][faults]") {
  const fs::path dir = fresh_dir("crafted");
  fs::create_directories(dir);
  const auto env = envs::make_env("LunarLanderContinuous-v3");
  agents::PolicyHead head(agents::PolicySpec::for_env(env->spec(), {32, 32}));
  {
    torch::NoGradGuard ng;
    head.parameters()[0].fill_(std::nan(""));
  }
  agents::CheckpointHeader h = agents::CheckpointHeader::for_env(env->spec());
  h.algo = "sac";
  h.config_yaml = apps::to_yaml(apps::parse_config(kBaseConfig, "c.yaml"));
  agents::write_checkpoint((dir / "nan.pt").string(), h, {{"policy", [&](auto& ar) { head.save(ar); }}});
  CHECK_THROWS_WITH(agents::load_policy((dir / "nan.pt").string()),
                    Catch::Contains("nan.pt: tensor trunk.layers.0.weight is not finite"));
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "nan.pt").string(), .episodes = 1}, out, err) == 2);
  CHECK(err.str().find("is not finite") != std::string::npos);
  // A valid frame around a policy whose weights have another shape than its spec says.
  agents::PolicyHead wide(agents::PolicySpec::for_env(env->spec(), {64, 32}));
  agents::write_checkpoint((dir / "shape.pt").string(), h,
                           {{"policy", [&](auto& ar) {
                               torch::serialize::OutputArchive net;
                               wide.gaussian()->save(net);
                               ar.write("spec", torch::tensor({int64_t{1}, int64_t{8}, int64_t{2}, int64_t{0}}));
                               ar.write("hidden", torch::tensor(std::vector<int64_t>{32, 32}));
                               ar.write("net", net);
                             }}});
  CHECK_THROWS_WITH(agents::load_policy((dir / "shape.pt").string()),
                    Catch::Contains("shape.pt: tensor trunk.layers.0.weight has shape [64, 8]"));
  fs::remove_all(dir);
}
