// DPO / ADPO learners: sequence scores and their gradients against float64 autograd, the
// learner-level identities (ADPO pairwise with hard labels and tau = 1/beta is DPO; listwise over
// two candidates is pairwise), the reference scored once, the anchors' updates, held-out accuracy
// rising on clean labels, and through the binary: exact resume and bad configs.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/loops/collector.h"
#include "agents/loops/offline_loop.h"
#include "agents/preference/preference_learner.h"
#include "apps/commands/train_command.h"
#include "data/hdf5_dataset.h"
#include "envs/registry.h"
#include "tests/learner_testing.h"
#include "tests/shell.h"
#include "tests/synthetic_dataset.h"

using namespace softrl;
namespace fs = std::filesystem;
using Settings = agents::PreferenceLearnerSettings;

namespace {

data::Dataset synthetic(const std::string& env_id, const std::vector<std::vector<int64_t>>& lengths) {
  return testing::synthetic_dataset(env_id, lengths);
}

std::shared_ptr<agents::PolicyHead> random_policy(const data::Dataset& d, uint64_t seed) {
  torch::manual_seed(seed);
  return std::make_shared<agents::PolicyHead>(agents::PolicySpec::for_env(d.env_spec, {16}));
}

std::vector<torch::Tensor> parameters(agents::PolicyHead& p) {
  std::vector<torch::Tensor> out;
  for (const auto& t : p.parameters()) out.push_back(t.detach().clone());
  return out;
}

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// Runs `updates` updates on all training groups at once.
std::vector<agents::Metrics> run_updates(agents::PreferenceLearner& L, int updates) {
  at::Generator gen = at::detail::createCPUGenerator(0);
  std::vector<agents::Metrics> m;
  int64_t steps = 0;
  for (int u = 0; u < updates; ++u) m.push_back(L.update_items(torch::arange(L.num_items()), gen, &steps));
  return m;
}

using testing::metric;

}  // namespace

TEST_CASE("preference learner: sequence scores and gradients = float64 autograd", "[preference]") {
  for (const std::string env : {"LunarLander-v3", "LunarLanderContinuous-v3"})
    for (bool normalize : {false, true}) {
      INFO(env << (normalize ? ", length-normalised" : ""));
      const data::Dataset d = synthetic(env, {{2, 5, 1}, {4, 3}, {6, 2, 3}});
      const data::PreferenceView v = data::build_preferences(d, {});
      Settings s;
      s.length_normalize = normalize;
      agents::PreferenceLearner L(d, v, s, {.policy = random_policy(d, 7)}, 3);
      // Move the policy off the reference so that l != l_ref.
      {
        torch::NoGradGuard g;
        for (auto& p : L.policy().parameters()) p.add_(torch::randn_like(p) * 0.1);
      }
      const auto sc = L.training_scores(torch::arange(3));
      REQUIRE(sc.l.sizes() == torch::IntArrayRef({3, 3}));
      CHECK(sc.mask.equal(torch::tensor({true, true, true, true, true, false, true, true, true}).view({3, 3})));
      const torch::Tensor w = torch::randn({3, 3}, torch::kFloat64);
      (sc.l * w.to(torch::kFloat32)).sum().backward();

      // float64: a copy of the policy in double, candidates summed one by one.
      agents::PolicyHead p64(L.policy().spec());
      agents::copy_parameters(p64, L.policy());
      p64.module().to(torch::kFloat64);
      const agents::PolicySteps steps = agents::policy_steps(d);
      torch::Tensor obj = torch::zeros({}, torch::kFloat64);
      const int64_t* st = d.episode_start.data_ptr<int64_t>();
      const int64_t slot[8] = {0, 1, 2, 3, 4, 6, 7, 8};
      for (int64_t e = 0; e < 8; ++e) {
        const torch::Tensor obs = steps.obs.narrow(0, st[e], st[e + 1] - st[e]).to(torch::kFloat64);
        torch::Tensor logp;
        if (p64.discrete()) {
          logp = torch::log_softmax(p64.categorical()->logits(obs), -1)
                     .gather(1, d.actions.narrow(0, st[e], st[e + 1] - st[e]).unsqueeze(1));
        } else {
          const auto q = p64.gaussian()->params(obs);
          const torch::Tensor z =
              (steps.u.narrow(0, st[e], st[e + 1] - st[e]).to(torch::kFloat64) - q.mu) / q.log_std.exp();
          logp = -0.5 * z * z - q.log_std - 0.5 * std::log(2 * M_PI);
        }
        torch::Tensor l = logp.sum();
        if (normalize) l = l / static_cast<double>(st[e + 1] - st[e]);
        const double l32 = sc.l.view(-1)[slot[e]].item<double>();
        CHECK(std::abs(l32 - l.item<double>()) <= 1e-6 * std::max(1.0, std::abs(l.item<double>())));
        obj = obj + l * w.view(-1)[slot[e]];
      }
      CHECK(sc.l.view(-1)[5].item<double>() == 0.0);  // the empty slot
      obj.backward();
      const auto g32 = L.policy().parameters(), g64 = p64.parameters();
      for (size_t k = 0; k < g32.size(); ++k) {
        const torch::Tensor ref = g64[k].grad();
        // float32 network against float64: a few rounding steps of each gradient's largest entry.
        CHECK(max_abs(g32[k].grad().to(torch::kFloat64) - ref) <= 1e-5 * std::max(max_abs(ref), 1e-3));
      }
    }
}

TEST_CASE("preference learner: ADPO pairwise (hard, tau = 1/beta) is DPO; listwise and Plackett-Luce over two are too",
          "[preference]") {
  const data::Dataset d = synthetic("LunarLander-v3", {{3, 5, 2}, {4, 3, 6}, {2, 2, 5}});
  const data::PreferenceView v = data::build_preferences(d, {.label = data::PreferenceSettings::Label::hard});
  Settings dpo;
  dpo.dpo.beta = 0.5;
  dpo.learning_rate = 1e-2;
  Settings adpo = dpo;
  adpo.objective = Settings::Objective::adpo_pairwise;
  adpo.tau_anchor = 1.0 / dpo.dpo.beta;
  const auto ref = random_policy(d, 1);
  agents::PreferenceLearner a(d, v, dpo, {.policy = ref}, 5), b(d, v, adpo, {.policy = ref}, 5);
  const auto ma = run_updates(a, 5), mb = run_updates(b, 5);
  for (size_t u = 0; u < ma.size(); ++u) {
    const double la = metric(ma[u], "loss"), lb = metric(mb[u], "loss");
    CHECK(std::abs(la - lb) <= 4e-7 * std::abs(la));
  }
  const auto pa = parameters(a.policy()), pb = parameters(b.policy());
  for (size_t k = 0; k < pa.size(); ++k) CHECK(max_abs(pa[k] - pb[k]) <= 1e-6 * max_abs(pa[k]));
  // The policy moved: the identity is not two learners standing still.
  CHECK(max_abs(pa[0] - ref->parameters()[0]) > 1e-3);

  const data::Dataset pairs = synthetic("LunarLander-v3", {{3, 5}, {4, 3}, {2, 6}, {5, 1}});
  const data::PreferenceView pv = data::build_preferences(pairs, {.label = data::PreferenceSettings::Label::hard});
  Settings list = adpo;
  list.objective = Settings::Objective::adpo_listwise;
  agents::PreferenceLearner c(pairs, pv, adpo, {.policy = ref}, 5), e(pairs, pv, list, {.policy = ref}, 5);
  const auto mc = run_updates(c, 5), me = run_updates(e, 5);
  for (size_t u = 0; u < mc.size(); ++u)
    CHECK(std::abs(metric(mc[u], "loss") - metric(me[u], "loss")) <= 4e-7 * std::abs(metric(mc[u], "loss")));
  const auto pc = parameters(c.policy()), pe = parameters(e.policy());
  for (size_t k = 0; k < pc.size(); ++k) CHECK(max_abs(pc[k] - pe[k]) <= 1e-6 * max_abs(pc[k]));
  // Plackett-Luce over two candidates with beta = 1 / tau is DPO as well.
  Settings pl = adpo;
  pl.objective = Settings::Objective::plackett_luce;
  agents::PreferenceLearner f(pairs, pv, dpo, {.policy = ref}, 5), g(pairs, pv, pl, {.policy = ref}, 5);
  const auto mf = run_updates(f, 5), mg = run_updates(g, 5);
  for (size_t u = 0; u < mf.size(); ++u)
    CHECK(std::abs(metric(mf[u], "loss") - metric(mg[u], "loss")) <= 4e-7 * std::abs(metric(mf[u], "loss")));
  const auto pf = parameters(f.policy()), pg = parameters(g.policy());
  for (size_t k = 0; k < pf.size(); ++k) CHECK(max_abs(pf[k] - pg[k]) <= 1e-6 * max_abs(pf[k]));
}

TEST_CASE("preference learner: the reference is scored once; EMA and dynamic anchors", "[preference]") {
  const data::Dataset d = synthetic("LunarLander-v3", {{3, 5, 2}, {4, 3, 6}});
  const data::PreferenceView v = data::build_preferences(d, {});
  const auto ref = random_policy(d, 1);
  Settings s;
  s.objective = Settings::Objective::adpo_listwise;
  s.learning_rate = 1e-2;
  // Two learners from one reference; the second's reference network is changed after construction.
  // Its updates are unchanged: the reference's scores were computed once, at construction.
  const auto ref2 = random_policy(d, 1);
  agents::PreferenceLearner fixed(d, v, s, {.policy = ref}, 5), changed(d, v, s, {.policy = ref2}, 5);
  {
    torch::NoGradGuard g;
    for (auto& p : changed.reference().parameters()) p.mul_(2.0);
  }
  const auto mf = run_updates(fixed, 3), mc = run_updates(changed, 3);
  for (size_t u = 0; u < mf.size(); ++u) CHECK(metric(mf[u], "loss") == metric(mc[u], "loss"));
  const auto pf = parameters(fixed.policy()), pc = parameters(changed.policy());
  for (size_t k = 0; k < pf.size(); ++k) CHECK(pf[k].equal(pc[k]));
  CHECK(changed.reference_passes() == 1);

  // EMA: KL to the anchor after one update is that of anchor = ref + rate (pi - ref); dynamic:
  // the anchor is the policy right after a refresh, so the next update starts at KL 0.
  s.anchor = Settings::Anchor::dynamic;
  s.refresh_every = 2;
  agents::PreferenceLearner dyn(d, v, s, {.policy = ref}, 5);
  const auto m = run_updates(dyn, 4);
  CHECK(metric(m[0], "kl_to_anchor") == 0.0);
  CHECK(metric(m[1], "kl_to_anchor") > 1e-6);
  CHECK(metric(m[2], "kl_to_anchor") < 1e-12);
  CHECK(metric(m[3], "kl_to_anchor") > 1e-6);
  s.anchor = Settings::Anchor::ema;
  s.ema_rate = 1.0;  // the anchor follows the policy at once
  agents::PreferenceLearner ema1(d, v, s, {.policy = ref}, 5);
  const auto m1 = run_updates(ema1, 3);
  CHECK(metric(m1[1], "kl_to_anchor") < 1e-12);
  CHECK(metric(m1[2], "kl_to_anchor") < 1e-12);
  s.ema_rate = 0.0;  // never moves: a fixed anchor, recomputed each update
  agents::PreferenceLearner ema0(d, v, s, {.policy = ref}, 5);
  s.anchor = Settings::Anchor::fixed;
  agents::PreferenceLearner fixed2(d, v, s, {.policy = ref}, 5);
  const auto a = run_updates(ema0, 3), b = run_updates(fixed2, 3);
  CHECK(metric(a[2], "loss") == Approx(metric(b[2], "loss")).epsilon(1e-6));
}

namespace {

agents::BehaviourSource source(agents::BehaviourSource::Kind kind, double eps, double weight) {
  agents::BehaviourSource b;
  b.kind = kind;
  b.epsilon = eps;
  b.weight = weight;
  return b;
}

// Mixed-quality groups on LunarLander-v3 (the shipped dataset's recipe, smaller).
data::Dataset mixed(int64_t start_seeds, int64_t group_size, uint64_t seed) {
  using K = agents::BehaviourSource::Kind;
  agents::CollectSettings c;
  c.env_id = "LunarLander-v3";
  c.start_seeds = start_seeds;
  c.group_size = group_size;
  c.sources = {source(K::heuristic, 0.0, 0.25), source(K::heuristic, 0.1, 0.25), source(K::heuristic, 0.3, 0.25),
               source(K::random, 0.0, 0.25)};
  c.n_envs = 8;
  c.seed = seed;
  c.dataset_id = "test-preference-mixed";
  return agents::collect(c, [](const agents::CollectProgress&) { return true; });
}

}  // namespace

TEST_CASE("DPO and ADPO raise held-out preference accuracy on clean labels (CI size)", "[preference][learning]") {
  const data::Dataset d = mixed(100, 4, 21);
  const data::PreferenceView v = data::build_preferences(d, {.holdout_fraction = 0.25, .seed = 1});
  for (auto objective : {Settings::Objective::dpo, Settings::Objective::adpo_listwise}) {
    Settings s;
    s.objective = objective;
    s.holdout_every = 1;
    agents::PreferenceLearner L(d, v, s, {.bc_steps = 100000, .bc_net_arch = {64, 64}}, 0);
    agents::OfflineLoop loop(L, {.total_steps = 600000, .batch_size = 8, .learning_rate = {.initial = 1e-4}}, 0);
    loop.begin(0);
    loop.iterate();
    const double start = metric(loop.metrics(), "heldout_accuracy");
    while (loop.steps() < 600000) loop.iterate();
    loop.iterate();  // held-out metrics refreshed before this update
    const double end = metric(loop.metrics(), "heldout_accuracy");
    INFO((objective == Settings::Objective::dpo ? "DPO" : "ADPO listwise")
         << ": held-out accuracy " << start << " -> " << end);
    // The policy starts as its reference (implicit rewards 0 up to the rounding of two batchings).
    // Measured (seed 0, 25 held-out groups = 150 pairs): DPO 0.483 -> 0.743, ADPO listwise
    // 0.483 -> 0.785; with ~0.04 the s.e. of an accuracy over 150 pairs, both gains (0.26, 0.30)
    // sit 3-4 s.e. above the 0.15 required, which is itself ~4 s.e. above no gain.
    CHECK(std::abs(start - 0.5) < 0.05);
    CHECK(end > start + 0.15);
  }
}

namespace {

// A tiny grouped dataset file and an ADPO config on it.
fs::path write_run_config(const fs::path& dir) {
  data::write_dataset((dir / "tiny.hdf5").string(), mixed(12, 3, 5));
  std::ofstream(dir / "adpo.yaml") << "env: {id: LunarLander-v3}\nalgo: adpo\nseed: 4\ntotal_steps: 40000\n"
                                      "eval: {every: 0, episodes: 2}\ncheckpoint: {every: 0}\nlog: {every: 5000}\n"
                                      "adpo:\n  dataset: "
                                   << (dir / "tiny.hdf5").string()
                                   << "\n"
                                      "  reference: {bc_steps: 2000, net_arch: [32]}\n  batch_groups: 4\n"
                                      "  anchor: ema\n  holdout_every: 3\n"
                                      "  preferences: {holdout_fraction: 0.25, noise: gaussian, noise_scale: 50}\n";
  return dir / "adpo.yaml";
}

std::vector<torch::Tensor> checkpoint_tensors(const fs::path& ckpt) {
  std::vector<torch::Tensor> out;
  for (const auto& t : agents::load_policy(ckpt.string()).policy->parameters()) out.push_back(t.detach().clone());
  for (const auto& t : testing::learner_policy(ckpt, "anchor")) out.push_back(t);
  agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  torch::serialize::InputArchive learner = c.section("learner");
  torch::Tensor h;
  learner.read("holdout_metrics", h);
  out.push_back(h);
  return out;
}

}  // namespace

TEST_CASE("preference run: interrupted and resumed = uninterrupted; metrics logged", "[preference][resume]") {
  const fs::path dir = testing::fresh_dir("softrl_preference_resume");
  const fs::path cfg = write_run_config(dir);
  testing::check_resume_exact(cfg, dir, 15000, checkpoint_tensors);
  const std::string csv = testing::read_text(dir / "full" / "metrics.csv");
  CHECK(csv.substr(0, csv.find('\n')) ==
        "step,wall_time,epoch,loss,heldout_accuracy,heldout_win_mass,logratio_winners,logratio_losers,kl_to_anchor,tau,"
        "steps_per_s,updates_per_s");
  fs::remove_all(dir);
}

TEST_CASE("preference bad configs are refused with the key path (exit 2)", "[preference][config]") {
  const fs::path dir = testing::fresh_dir("softrl_preference_config");
  const fs::path cfg = write_run_config(dir);
  const std::string train = std::string(SOFTRL_BIN) + " train " + cfg.string() + " --run-dir " + (dir / "run").string();
  testing::expect_refused(
      train, dir / "run",
      {{"adpo.tau_anc=0", "adpo.tau_anc: expected"},
       {"adpo.form=triplet", "adpo.form: expected pairwise, listwise or plackett_luce, got 'triplet'"},
       {"adpo.anchor=moving", "adpo.anchor: expected fixed, ema or dynamic, got 'moving'"},
       {"adpo.reference=null", "adpo.reference"},
       {"adpo.preferences.noise=flip", "adpo.preferences.flip_probability: missing"},
       {"adpo.preferences.label=fuzzy", "adpo.preferences.label: expected hard or soft, got 'fuzzy'"},
       {"adpo.preferences.colour=red", "adpo.preferences"},
       {"adpo.beta=0.1", "adpo"},
       {"'adpo.adaptive_tau={min: 2, max: 1}'", "adpo.adaptive_tau: expected min <= max"},
       {"env.id=LunarLanderContinuous-v3 'adpo.adaptive_tau={alpha: 1}'", "adpo.adaptive_tau"},
       {"adpo.ema_rate=0", "adpo.ema_rate: expected"},
       {"adpo.holdout_dataset=" + (dir / "nowhere.hdf5").string(), "nowhere.hdf5"}});
  // DPO's keys, on the same data.
  std::ofstream(dir / "dpo.yaml") << "env: {id: LunarLander-v3}\nalgo: dpo\ntotal_steps: 1000\n"
                                     "dpo: {dataset: "
                                  << (dir / "tiny.hdf5").string() << ", reference: {bc_steps: 10}}\n";
  const std::string dpo =
      std::string(SOFTRL_BIN) + " train " + (dir / "dpo.yaml").string() + " --run-dir " + (dir / "run").string();
  testing::expect_refused(dpo, dir / "run",
                          {{"dpo.label_smoothing=0.5", "dpo.label_smoothing: expected"},
                           {"dpo.loss_type=hinge", "dpo.loss_type: expected sigmoid, robust or ipo, got 'hinge'"},
                           {"dpo.beta=0", "dpo.beta: expected"},
                           {"dpo.form=listwise", "dpo"}});
  fs::remove_all(dir);
}
