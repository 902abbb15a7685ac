// SofT-GRPO (Zheng & Lee 2025): soft actions as the collector plays them (option B: the executed
// action is argmax g', y fed back; option A: the prototype mixture), the Gumbel log-density of g'
// (exact sum against a float64 evaluation; the reference code's clamp), the categorical score of the
// executed action against a float64 log-softmax, ratio 1 before any update, the noise's Gumbel(0, 1)
// statistics, one update at ratio 1 along the gradient of A log q(g'), the categorical update with
// the inputs held at zero equal to plain GRPO's, exact resume, evaluation and bad configs.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "agents/bc/reference_policy.h"
#include "agents/grpo/grpo.h"
#include "agents/grpo/soft_actions.h"
#include "agents/loops/collector.h"
#include "envs/registry.h"
#include "objectives/softmax.h"
#include "tests/learner_testing.h"
#include "tests/shell.h"

using namespace softrl;
namespace fs = std::filesystem;
using Soft = agents::SoftActionSettings;

namespace {

Soft soft_settings(const std::string& env_id, Soft::Score score = Soft::Score::gumbel_exact) {
  Soft s;
  s.score = score;
  if (env_id == "LunarLanderContinuous-v3") {
    s.execution = Soft::Execution::prototype_mixture;
    s.prototypes = agents::lunar_lander_prototypes();
  }
  return s;
}

// Groups of episodes played by a fresh soft policy.
data::Dataset soft_rollouts(const std::string& env_id, const Soft& s, std::shared_ptr<agents::PolicyHead> policy,
                            int64_t groups = 2, int64_t group_size = 4) {
  agents::CollectSettings c;
  c.env_id = env_id;
  agents::BehaviourSource src;
  src.kind = agents::BehaviourSource::Kind::policy;
  src.policy = std::move(policy);
  src.soft = s;
  c.sources = {src};
  c.start_seeds = groups;
  c.group_size = group_size;
  c.first_start_seed = 42;
  c.seed = 9;
  c.n_envs = 5;
  return agents::collect(c, [](const agents::CollectProgress&) { return true; });
}

std::shared_ptr<agents::PolicyHead> fresh_policy(const Soft& s, const std::string& env_id, uint64_t seed = 1) {
  return agents::seeded_policy(agents::soft_policy_spec(s, envs::make_env(env_id)->spec(), {32}), seed);
}

// log q(g') = sum_k [-(g'_k - log p_k) - exp(-(g'_k - log p_k))], p = softmax(z), in float64.
torch::Tensor exact_log_density64(const torch::Tensor& logits, const torch::Tensor& g) {
  const torch::Tensor e = g.to(torch::kFloat64) - torch::log_softmax(logits.to(torch::kFloat64), -1);
  return (-e - torch::exp(-e)).sum(-1);
}

}  // namespace

TEST_CASE("soft actions, option B: argmax g' is executed, y is fed back, ratio 1 before any update", "[soft_grpo]") {
  const Soft s = soft_settings("LunarLander-v3");
  auto policy = fresh_policy(s, "LunarLander-v3");
  REQUIRE(policy->spec().obs_dim == 12);
  const data::Dataset d = soft_rollouts("LunarLander-v3", s, policy, 3, 4);
  REQUIRE(d.perturbed_logits.defined());
  REQUIRE(d.perturbed_logits.sizes() == torch::IntArrayRef({d.num_steps(), 4}));
  CHECK(d.actions.equal(d.perturbed_logits.argmax(-1)));

  // The learner's inputs rebuild what the policy saw: the fed-back y of the previous step, zeros
  // at each episode's first step; the same logits give back the recorded log-density.
  const agents::PolicySteps steps = agents::soft_policy_steps(s, d);
  const torch::Tensor starts = d.episode_start.narrow(0, 0, d.num_episodes());
  CHECK(steps.obs.index_select(0, starts).narrow(1, 8, 4).abs().max().item<float>() == 0.0f);
  const torch::Tensor y = torch::softmax(d.perturbed_logits / 0.1, -1);
  const int64_t t = starts[1].item<int64_t>() - 1;  // the last step of episode 0
  CHECK(torch::allclose(steps.obs[t].narrow(0, 8, 4), y[t - 1], 0, 1e-6));
  const agents::StepScores now = agents::score_all_steps(*policy, steps);
  const torch::Tensor ratio = torch::exp(now.logp.to(torch::kFloat64) - d.behaviour_log_prob);
  CHECK((ratio - 1).abs().max().item<double>() < 1e-5);
  // The exact density against float64: within a few float32 rounding steps of each value.
  const torch::Tensor want = exact_log_density64(now.a, d.perturbed_logits);
  const torch::Tensor err = (now.logp.to(torch::kFloat64) - want).abs() / (want.abs() + 1);
  CHECK(err.max().item<double>() < 1e-5);

  // Unclamped Gumbel(0, 1) noise: mean 0.5772, std 1.2825 (s.e. of the mean 1.28 / sqrt(entries)).
  const torch::Tensor e = d.perturbed_logits.to(torch::kFloat64) - torch::log_softmax(now.a.to(torch::kFloat64), -1);
  const double se = 1.2825 / std::sqrt(static_cast<double>(e.numel()));
  INFO(e.numel() << " noise entries, mean " << e.mean().item<double>() << ", std " << e.std().item<double>());
  CHECK(std::abs(e.mean().item<double>() - 0.5772) < 4 * se);
  CHECK(std::abs(e.std().item<double>() - 1.2825) < 0.05);
}

TEST_CASE("soft actions, option A: the env takes the prototype mixture; reference density clamps", "[soft_grpo]") {
  const Soft s = soft_settings("LunarLanderContinuous-v3", Soft::Score::gumbel_reference);
  auto policy = fresh_policy(s, "LunarLanderContinuous-v3");
  REQUIRE(policy->spec().obs_dim == 8);
  const data::Dataset d = soft_rollouts("LunarLanderContinuous-v3", s, policy);
  const torch::Tensor protos = torch::tensor({-1.0f, 0.0f, -1.0f, -1.0f, 1.0f, 0.0f, -1.0f, 1.0f}).reshape({4, 2});
  const torch::Tensor mix = torch::softmax(d.perturbed_logits / 0.1, -1).matmul(protos);
  CHECK(torch::allclose(d.actions, mix, 0, 1e-5));
  // Noise recovered under the sampling policy stays inside SofT-GRPO's clamp [-1.5, 3].
  const agents::PolicySteps steps = agents::soft_policy_steps(s, d);
  const agents::StepScores now = agents::score_all_steps(*policy, steps);
  const torch::Tensor e = d.perturbed_logits - agents::soft_log_probs(s, now.a);
  CHECK(e.min().item<float>() >= -1.5f - 1e-5f);
  CHECK(e.max().item<float>() <= 3.0f + 1e-5f);
  CHECK(((e + 1.5).abs() < 1e-4).any().item<bool>());  // the lower clamp is hit (P(eps < -1.5) = 1.2 %)
  CHECK((torch::exp(now.logp.to(torch::kFloat64) - d.behaviour_log_prob) - 1).abs().max().item<double>() < 1e-5);
}

TEST_CASE("soft actions, categorical score: log softmax(z / T) of the executed action; greedy feeds one-hot y",
          "[soft_grpo]") {
  for (const std::string env_id : {"LunarLander-v3", "LunarLanderContinuous-v3"}) {
    INFO(env_id);
    Soft s = soft_settings(env_id, Soft::Score::categorical);
    s.temperature = 0.7;
    const auto policy = fresh_policy(s, env_id);
    const data::Dataset d = soft_rollouts(env_id, s, policy);
    const agents::PolicySteps steps = agents::soft_policy_steps(s, d);
    const agents::StepScores now = agents::score_all_steps(*policy, steps);
    const torch::Tensor executed = d.perturbed_logits.argmax(-1);
    if (env_id == "LunarLander-v3") CHECK(torch::equal(d.actions.to(torch::kLong).reshape({-1}), executed));
    const torch::Tensor want =
        torch::log_softmax(now.a.to(torch::kFloat64) / 0.7, -1).gather(-1, executed.unsqueeze(-1)).squeeze(-1);
    // Within a few float32 rounding steps of each log-probability.
    const torch::Tensor err = (now.logp.to(torch::kFloat64) - want).abs() / (want.abs() + 1);
    CHECK(err.max().item<double>() < 1e-5);
    // The collector recorded the same score: ratio 1 before any update.
    CHECK((torch::exp(now.logp.to(torch::kFloat64) - d.behaviour_log_prob) - 1).abs().max().item<double>() < 1e-5);

    // The greedy step executes argmax z and feeds back its one-hot vector.
    const agents::SoftStep g = agents::greedy_soft_step(s, now.a);
    CHECK(torch::equal(g.weights, torch::one_hot(now.a.argmax(-1), 4).to(torch::kFloat32)));
    if (env_id == "LunarLanderContinuous-v3") {
      const torch::Tensor protos = torch::tensor({-1.f, 0.f, -1.f, -1.f, 1.f, 0.f, -1.f, 1.f}).reshape({4, 2});
      CHECK(torch::equal(g.actions, protos.index_select(0, now.a.argmax(-1))));
    }
  }
}

TEST_CASE("SofT-GRPO with y held at zero and the categorical score updates as GRPO with four zero inputs",
          "[soft_grpo]") {
  Soft s = soft_settings("LunarLander-v3", Soft::Score::categorical);
  s.feedback = false;
  const agents::PolicySpec spec = agents::soft_policy_spec(s, envs::make_env("LunarLander-v3")->spec(), {16});
  agents::GrpoSettings gs;
  gs.epochs = 2;
  gs.minibatch_episodes = 3;
  agents::GrpoSettings plain_settings = gs;
  gs.soft = s;
  agents::Grpo soft(spec, gs, 5), plain(spec, plain_settings, 5);
  const data::Dataset d = soft_rollouts("LunarLander-v3", s,
                                        std::shared_ptr<agents::PolicyHead>(&soft.policy(), [](agents::PolicyHead*) {}));
  // The same episodes as plain GRPO sees them: the four inputs as zero columns, no g'.
  data::Dataset plain_d = d;
  plain_d.observations = torch::cat({d.observations, torch::zeros({d.num_steps(), 4})}, 1);
  plain_d.perturbed_logits = torch::Tensor();
  at::Generator gen_soft = at::detail::createCPUGenerator(11), gen_plain = at::detail::createCPUGenerator(11);
  int64_t n_soft = 0, n_plain = 0;
  const agents::Metrics m_soft = soft.learn(d, gen_soft, &n_soft), m_plain = plain.learn(plain_d, gen_plain, &n_plain);
  CHECK(n_soft == n_plain);
  CHECK(n_soft > 2);
  for (const std::string name : {"loss", "clip_fraction", "approx_kl", "grad_norm", "entropy"})
    CHECK(testing::metric(m_soft, name) == testing::metric(m_plain, name));
  const auto a = soft.policy().parameters(), b = plain.policy().parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

TEST_CASE("SofT-GRPO: one update at ratio 1 follows the gradient of A log q(g')", "[soft_grpo]") {
  // Adam's first step is -lr * sign(gradient): it checks the direction of every weight's gradient,
  // not a constant factor of the whole loss (the float64 density check above covers that).
  const Soft s = soft_settings("LunarLander-v3");
  agents::GrpoSettings gs;
  gs.epochs = 1;
  gs.minibatch_episodes = 100;
  gs.learning_rate = 1e-3;
  gs.soft = s;
  agents::Grpo g(agents::soft_policy_spec(s, envs::make_env("LunarLander-v3")->spec(), {16}), gs, 3);
  // Borrow the learner's own policy (no copy) to play the episodes.
  const data::Dataset d =
      soft_rollouts("LunarLander-v3", s, std::shared_ptr<agents::PolicyHead>(&g.policy(), [](agents::PolicyHead*) {}));
  const torch::Tensor adv = g.advantages(d).to(torch::kFloat64);
  const agents::PolicySteps steps = agents::soft_policy_steps(s, d);
  const agents::Metrics m = testing::check_update_follows_gradient(
      g, d,
      [&] {
        const torch::Tensor logits = g.policy().categorical()->logits(steps.obs);
        return -(adv * exact_log_density64(logits, d.perturbed_logits)).sum() / static_cast<double>(d.num_steps());
      },
      1e-3);
  CHECK(testing::metric(m, "clip_fraction") == 0.0);
  CHECK(testing::metric(m, "noise_at_clamp") == 0.0);
}

TEST_CASE("SofT-GRPO run: resumed = uninterrupted; eval and Pass@k act softly; bad configs", "[soft_grpo][resume]") {
  const fs::path dir = testing::fresh_dir("softrl_soft_grpo");
  const fs::path cfg = testing::write_group_run_config(dir, "soft_grpo", ", density: reference");
  testing::check_resume_exact(cfg, dir, 1200, [](const fs::path& ckpt) {
    return testing::policy_and_learner_policy(ckpt, "reference");  // the policy and the KL reference
  });
  const std::string csv = testing::read_text(dir / "full" / "metrics.csv");
  CHECK(csv.substr(0, csv.find('\n')) ==
        "step,wall_time,iteration,mean_return,group_max_return,zero_std_groups,loss,clip_fraction,approx_kl,"
        "grad_norm,kl_to_reference,entropy,noise_mean,noise_std,noise_at_clamp,collect_s,learn_s,steps_per_s,updates_per_s");
  for (const std::string mode : {"", " --group 3"}) {
    const auto run = testing::run_shell(std::string(SOFTRL_BIN) + " eval " + (dir / "full").string() + " --episodes 2" +
                                        mode + " --json");
    INFO(run.output);
    CHECK(run.code == 0);
  }

  // A plain GRPO policy (8 inputs) cannot start a SofT-GRPO run (12 inputs).
  std::ofstream(dir / "plain.yaml") << "env: {id: LunarLander-v3}\nalgo: grpo\ntotal_steps: 500\n"
                                       "eval: {every: 0, episodes: 1}\ngrpo: {net_arch: [16], groups: 2}\n";
  const auto grpo = testing::run_shell(std::string(SOFTRL_BIN) + " train " + (dir / "plain.yaml").string() +
                                       " --run-dir " + (dir / "plain").string() + " --no-progress");
  INFO(grpo.output);
  REQUIRE(grpo.code == 0);
  testing::expect_refused(std::string(SOFTRL_BIN) + " train " + cfg.string() + " --run-dir " + (dir / "run").string(),
                          dir / "run",
                          {{"soft_grpo.density=approx", "soft_grpo.density: expected exact or reference"},
                           {"soft_grpo.score=gumbel", "soft_grpo.score: expected categorical, gumbel_exact or "
                                                      "gumbel_reference, got 'gumbel'"},
                           {"soft_grpo.feedback=2", "soft_grpo.feedback: expected"},
                           {"soft_grpo.gumbel_temperature=0", "soft_grpo.gumbel_temperature: expected"},
                           {"soft_grpo.temperature=-1", "soft_grpo.temperature: expected"},
                           {"env.id=BipedalWalker-v3", "env.id: soft_grpo runs on LunarLander-v3"},
                           {"soft_grpo.init=" + (dir / "plain").string(), "soft_grpo.init: "},
                           {"soft_grpo.clip_range=0", "soft_grpo.clip_range: expected"}});
  fs::remove_all(dir);
}
