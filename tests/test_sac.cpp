// SAC: update wiring, the split update against the textbook one, learning on
// LunarLanderContinuous-v3 within a CI budget, the replay buffer. (The driver, the config and the
// checkpoints have their own test files, exercised with SAC runs.)
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
