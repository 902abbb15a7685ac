// The Box2D tasks against Gymnasium's v3 definitions: constants, reset states,
// heuristic regression (CI-sized: 100 episodes, bands widened by sqrt(10)), determinism,
// the vector env, and bad input.
#include <box2d/box2d.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "apps/commands/validate_envs.h"
#include "envs/bipedal_walker.h"
#include "envs/lunar_lander.h"
#include "envs/registry.h"
#include "envs/vector_env.h"

using namespace softrl::envs;

namespace {
std::vector<float> random_action(const Space& s, std::mt19937& gen) {
  if (s.kind == Space::Kind::discrete) return {static_cast<float>(gen() % s.n)};
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  std::vector<float> a(s.low.size());
  for (float& x : a) x = u(gen);
  return a;
}
}  // namespace

TEST_CASE("LunarLander spec: masses, positions, terrain, reference angles, RNG draws", "[envs][lander]") {
  LunarLander env({.continuous = true});
  const std::vector<float> obs = env.reset(3);
  CHECK(env.lander()->GetMass() == Approx(4.816667).epsilon(1e-5));
  CHECK(env.leg(0)->GetMass() == Approx(0.071111).epsilon(1e-4));
  CHECK(env.leg(1)->GetMass() == Approx(0.071111).epsilon(1e-4));
  // Created at (10, 13.333); the reset step moves it by at most ~4 m/s * 0.02 s.
  CHECK(std::abs(env.lander()->GetPosition().x - 10.0) < 0.1);
  CHECK(std::abs(env.lander()->GetPosition().y - 13.3333) < 0.1);
  for (int i = 4; i <= 6; ++i) CHECK(env.terrain_y()[i] == Approx(3.3).epsilon(1e-12));
  CHECK(env.helipad_y() == Approx(400.0 / 30 / 4));
  // legs[0] is the i = -1 leg: angle -0.05, referenceAngle -0.05 (pybox2d's implicit value).
  CHECK(env.leg_joint(0)->GetReferenceAngle() == Approx(-0.05f));
  CHECK(env.leg_joint(1)->GetReferenceAngle() == Approx(0.05f));
  CHECK(env.leg_joint(0)->GetLowerLimit() == Approx(0.4f));
  CHECK(env.leg_joint(1)->GetUpperLimit() == Approx(-0.4f));
  // Reset draws 12 heights + 2 push + 2 dispersion; every step draws 2.
  CHECK(env.rng().draws() == 16);
  env.step(std::vector<float>{0.0f, 0.0f});
  CHECK(env.rng().draws() == 18);
  LunarLander windy({.enable_wind = true});
  windy.reset(3);
  CHECK(windy.rng().draws() == 18);
  // Observation scales against the body state (lunar_lander.py's step()).
  const b2Vec2 v = env.lander()->GetLinearVelocity();
  const auto o = env.step(std::vector<float>{0.0f, 0.0f}).obs;
  const b2Vec2 p = env.lander()->GetPosition();
  const b2Vec2 v2 = env.lander()->GetLinearVelocity();
  CHECK(o[0] == Approx((p.x - 10.0) / 10.0));
  CHECK(o[1] == Approx((p.y - (400.0 / 120.0 + 18.0 / 30.0)) / (400.0 / 60.0)));
  CHECK(o[2] == Approx(0.2 * v2.x));
  CHECK(o[3] == Approx(v2.y * (400.0 / 60.0) / 50.0));
  CHECK(o[4] == Approx(env.lander()->GetAngle()));
  CHECK(o[5] == Approx(0.4 * env.lander()->GetAngularVelocity()));
  (void)v;
  (void)obs;
}

TEST_CASE("LunarLander reset state: legs snap inside their limits", "[envs][lander]") {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    LunarLander env;
    env.reset(seed);
    const float a0 = env.leg_joint(0)->GetJointAngle(), a1 = env.leg_joint(1)->GetJointAngle();
    CHECK(a0 >= 0.4f - 0.02f);
    CHECK(a0 <= 0.9f + 0.02f);
    CHECK(a1 >= -0.9f - 0.02f);
    CHECK(a1 <= -0.4f + 0.02f);
  }
}

TEST_CASE("BipedalWalker spec: masses, positions, reference angles, RNG use", "[envs][walker]") {
  BipedalWalker env;
  env.reset(1);
  CHECK(env.hull()->GetMass() == Approx(5.422222).epsilon(1e-5));
  CHECK(env.leg(0)->GetMass() == Approx(0.302222).epsilon(1e-5));
  CHECK(env.leg(1)->GetMass() == Approx(0.241778).epsilon(1e-5));
  CHECK(std::abs(env.hull()->GetPosition().x - 4.6667) < 0.05);
  CHECK(std::abs(env.hull()->GetPosition().y - 5.6) < 0.1);
  CHECK(env.joint(0)->GetReferenceAngle() == Approx(-0.05f));
  CHECK(env.joint(2)->GetReferenceAngle() == Approx(0.05f));
  CHECK(env.joint(1)->GetReferenceAngle() == 0.0f);
  CHECK(env.joint(3)->GetReferenceAngle() == 0.0f);
  CHECK(env.terrain_x().size() == 200);
  CHECK(env.terrain_x()[199] == Approx(199 * 14.0 / 30));
  // Normal terrain: flat start pad (no draws before column 21), no obstacles.
  for (int i = 0; i <= 20; ++i) CHECK(std::abs(env.terrain_y()[i] - 400.0 / 30 / 4) < 0.05);
  CHECK(env.obstacles().empty());
  // Steps draw nothing; a reset draws terrain + 110 cloud uniforms + 1 push.
  const uint64_t after_reset = env.rng().draws();
  CHECK(after_reset > 111);
  for (int k = 0; k < 10; ++k) env.step(std::vector<float>{0.3f, -0.2f, 0.1f, 0.5f});
  CHECK(env.rng().draws() == after_reset);
  BipedalWalker hard(true);
  hard.reset(1);
  CHECK_FALSE(hard.obstacles().empty());
  CHECK(hard.spec().max_episode_steps == 2000);
}

TEST_CASE("BipedalWalker reset state matches the recorded joint angles", "[envs][walker]") {
  // Over 20 terrains, identical on Box2D 2.3 and 2.4.1 to +-1e-3.
  double o0 = 0, o4 = 0, o6 = 0, o9 = 0, o11 = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    BipedalWalker env;
    const auto o = env.reset(seed);
    o0 += o[0] / 20;
    o4 += o[4] / 20;
    o6 += o[6] / 20;
    o9 += o[9] / 20;
    o11 += o[11] / 20;
  }
  CHECK(o4 == Approx(0.092).margin(2e-3));
  CHECK(o6 == Approx(0.860).margin(2e-3));
  CHECK(o9 == Approx(0.033).margin(2e-3));
  CHECK(o11 == Approx(0.854).margin(2e-3));
  CHECK(o0 == Approx(0.0027).margin(1e-3));
}

TEST_CASE("heuristic regression (CI size)", "[envs][heuristic]") {
  const auto results = softrl::apps::validate_heuristics(100, 0, 2);
  for (const auto& r : results) {
    INFO(r.id << ": mean " << r.mean << " +- " << r.stderr_ << ", target " << r.target.mean << " +- " << r.band
              << ", length " << r.mean_length);
    CHECK(r.pass);
  }
}

TEST_CASE("same seed and actions give the same trajectory bit for bit", "[envs]") {
  for (const auto& id : env_ids()) {
    auto run = [&] {
      auto env = make_env(id, id == "LunarLander-v3" ? EnvOptions{{"enable_wind", 1}} : EnvOptions{});
      std::mt19937 gen(42);
      std::vector<float> trace = env->reset(7);
      for (int t = 0; t < 300; ++t) {
        const auto r = env->step(random_action(env->spec().action_space, gen));
        trace.insert(trace.end(), r.obs.begin(), r.obs.end());
        trace.push_back(static_cast<float>(r.reward));
        if (r.terminated || r.truncated) trace.push_back(-1), env->reset();
      }
      return trace;
    };
    INFO(id);
    CHECK(run() == run());
  }
}

TEST_CASE("fork-join pool: every index exactly once per call, calls back to back and after idle sleeps",
          "[envs][vector]") {
  for (int threads : {1, 2, 3}) {
    softrl::ForkJoinPool pool(threads);
    std::mt19937 gen(threads);
    for (int call = 0; call < 2000; ++call) {
      const int64_t n = static_cast<int64_t>(gen() % 40);
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.run(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      bool once = true;
      for (const auto& h : hits) once = once && h.load() == 1;
      REQUIRE(once);
      // Now and then let the workers' spin run out, so they go through sleeping and waking.
      if (call % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

TEST_CASE("fork-join pool: join stats count the time a thread waits for the other's last index", "[envs][vector]") {
  softrl::ForkJoinPool pool(2);
  pool.run(1, [](int64_t) {});  // one index runs on the caller alone: not a call of the pool's
  CHECK(pool.join_stats().calls == 0);
  // Index 1 sleeps 60 ms, index 0 returns at once: whichever thread takes index 0 (or finds no
  // index left) waits for the sleeper, about 60 ms less the time the two started apart. A
  // scheduling delay of up to 30 ms on a busy machine still leaves at least 30 ms.
  for (int call = 0; call < 3; ++call)
    pool.run(2, [](int64_t i) {
      if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(60));
    });
  const auto stats = pool.join_stats();
  CHECK(stats.calls == 3);
  CHECK(stats.seconds >= 3 * 0.060);
  CHECK(stats.idle_thread_seconds >= 3 * 0.030);
  CHECK(stats.idle_thread_seconds <= 2 * stats.seconds);  // two participants, each idle at most the call
}

TEST_CASE("vector env: auto-reset keeps the final observation; thread count does not matter", "[envs][vector]") {
  auto run = [](int threads) {
    VectorEnv venv("LunarLander-v3", 6, {}, threads);
    std::vector<torch::Tensor> out{venv.reset(100)};
    torch::manual_seed(0);
    int finished = 0;
    for (int t = 0; t < 400; ++t) {
      const VectorStep s = venv.step(torch::randint(0, 4, {6}));
      out.push_back(s.obs);
      out.push_back(s.reward);
      out.push_back(s.final_obs);
      finished += static_cast<int>(s.finished_returns.size());
      const torch::Tensor done = s.terminated | s.truncated;
      // Finished envs report a final observation; the returned one is the new episode's.
      for (int i = 0; i < 6; ++i)
        if (done[i].item<bool>()) CHECK_FALSE(torch::equal(s.final_obs[i], s.obs[i]));
    }
    CHECK(finished > 0);
    return out;
  };
  const auto a = run(1), b = run(2);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

namespace {
// A task that terminates at step `end`, under a time limit of 5 steps.
class CountingTask final : public Env {
 public:
  explicit CountingTask(int end) : Env(make_spec()), end_(end) {}

 protected:
  std::vector<float> reset_task(std::optional<uint64_t>) override {
    t_ = 0;
    return {0.0f};
  }
  StepResult step_task(std::span<const float>) override {
    ++t_;
    return {write_obs(std::array<double, 1>{static_cast<double>(t_)}), 1.0, t_ == end_, false};
  }

 private:
  static EnvSpec make_spec() {
    EnvSpec s;
    s.id = "Counting";
    s.max_episode_steps = 5;
    s.observation_space = Space::box({0}, {10});
    s.action_space = Space::box({-1}, {1});
    return s;
  }
  int end_, t_ = 0;
};
}  // namespace

TEST_CASE("time limit truncation never hides a termination", "[envs]") {
  for (int end : {3, 5, 9}) {
    CountingTask env(end);
    env.reset(0);
    StepResult r;
    int steps = 0;
    do {
      r = env.step(std::vector<float>{0});
      ++steps;
    } while (!r.terminated && !r.truncated);
    INFO("terminates at " << end);
    CHECK(steps == std::min(end, 5));
    CHECK(r.terminated == (end <= 5));
    CHECK(r.truncated == (end >= 5));  // at step 5 both are true
    CHECK(env.needs_reset());
  }
}

TEST_CASE("bad input is rejected with clear messages; continuous actions are clipped", "[envs]") {
  auto env = make_env("LunarLander-v3");
  CHECK_THROWS_WITH(env->step(std::vector<float>{0}), Catch::Contains("before reset()"));
  env->reset(0);
  CHECK_THROWS_WITH(env->step(std::vector<float>{4}), Catch::Contains("not one of 0..3"));
  CHECK_THROWS_WITH(env->step(std::vector<float>{1.5f}), Catch::Contains("not one of 0..3"));
  CHECK_THROWS_WITH(env->step(std::vector<float>{0, 1}), Catch::Contains("expected 1"));
  CHECK_THROWS_WITH(make_env("LunarLander-v2"), Catch::Contains("valid ids: LunarLander-v3"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"wind", 1}}), Catch::Contains("valid options: enable_wind"));
  CHECK_THROWS_WITH(make_env("BipedalWalker-v3", {{"wind", 1}}), Catch::Contains("valid options: none"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"gravity", -20}}),
                    Catch::Contains("option gravity: expected a number in (-12, 0), got -20"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"gravity", 0}}), Catch::Contains("in (-12, 0)"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"wind_power", 20.5}}),
                    Catch::Contains("expected a number in [0, 20]"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"turbulence_power", std::nan("")}}), Catch::Contains("in [0, 2]"));
  CHECK_THROWS_WITH(make_env("LunarLander-v3", {{"enable_wind", 0.5}}), Catch::Contains("expected true or false"));
  CHECK_NOTHROW(make_env("LunarLander-v3", {{"wind_power", 20}, {"turbulence_power", 0}, {"enable_wind", 1}}));
  // Step after the episode ended.
  StepResult r;
  do r = env->step(std::vector<float>{0});
  while (!r.terminated && !r.truncated);
  CHECK_THROWS_WITH(env->step(std::vector<float>{0}), Catch::Contains("after the episode ended"));
  // Out-of-box continuous actions behave like the clipped ones.
  auto a = make_env("LunarLanderContinuous-v3"), b = make_env("LunarLanderContinuous-v3");
  a->reset(5);
  b->reset(5);
  for (int t = 0; t < 50; ++t) {
    const auto oa = a->step(std::vector<float>{5.0f, -3.0f}).obs, ob = b->step(std::vector<float>{1.0f, -1.0f}).obs;
    CHECK(std::vector<float>(oa.begin(), oa.end()) == std::vector<float>(ob.begin(), ob.end()));
  }
}

TEST_CASE("walker terrain state machine on hand-built draw sequences", "[envs][walker]") {
  const double ts = 14.0 / 30, h0 = 400.0 / 30 / 4;
  SECTION("hardcore: the start pad ends, a stump of size 2 follows") {
    BipedalWalker env(true);
    env.reset(0);
    // After column 19 the pad counter runs out: counter = integers(5, 10) -> 5 (r = 0),
    // state = integers(1, 4) -> STUMP (r = 0.1); column 20: size = integers(1, 3) -> 2 (r = 0.7).
    env.rng().script({0.0, 0.1, 0.7});
    env.reset();
    REQUIRE_FALSE(env.obstacles().empty());
    const auto& p = env.obstacles()[0].v;
    CHECK(p[0][0] == Approx(20 * ts));
    CHECK(p[0][1] == Approx(h0));
    CHECK(p[1][0] == Approx(22 * ts));
    CHECK(p[2][1] == Approx(h0 + 2 * ts));
    for (int i = 0; i <= 20; ++i) CHECK(env.terrain_y()[i] == Approx(h0));
  }
  SECTION("hardcore: a pit is two walls 4 steps deep, counter + 1 apart; the ground drops inside") {
    BipedalWalker env(true);
    env.reset(0);
    // counter -> 5, state -> PIT (r = 0.9 -> 1 + floor(2.7) = 3), pit counter -> 3 (r = 0.2).
    env.rng().script({0.0, 0.9, 0.2});
    env.reset();
    REQUIRE(env.obstacles().size() >= 2);
    CHECK(env.obstacles()[0].v[0][0] == Approx(20 * ts));
    CHECK(env.obstacles()[1].v[0][0] == Approx(23 * ts));
    CHECK(env.obstacles()[0].v[2][1] == Approx(h0 - 4 * ts));
    CHECK(env.terrain_y()[20] == Approx(h0));
    CHECK(env.terrain_y()[21] == Approx(h0 - 4 * ts));  // inside the pit
    CHECK(env.terrain_y()[24] == Approx(h0));           // counter <= 1: back at the rim height
  }
  SECTION("stairs draw random(), nothing for the width, and integers(3, 5) for the steps") {
    BipedalWalker env(true);
    env.reset(0);
    // counter -> 5, state -> STAIRS (r = 0.5 -> 2), up (r = 0.6 > 0.5), steps -> 4 (r = 0.5).
    env.rng().script({0.0, 0.5, 0.6, 0.5});
    env.reset();
    REQUIRE(env.obstacles().size() >= 4);
    for (int s = 0; s < 4; ++s) {
      CHECK(env.obstacles()[s].v[0][0] == Approx(20 * ts + s * 4 * ts));
      CHECK(env.obstacles()[s].v[0][1] == Approx(h0 + s * ts));
    }
  }
}

TEST_CASE("vector env: explicit seeds per env start groups from one state", "[envs][vector]") {
  VectorEnv venv("LunarLanderContinuous-v3", 4, {}, 2);
  const torch::Tensor obs = venv.reset(std::vector<uint64_t>{5, 5, 5, 9});
  auto single = make_env("LunarLanderContinuous-v3");
  const std::vector<float> o9 = single->reset(9), o5 = single->reset(5);
  CHECK(torch::equal(obs[0], obs[1]));
  CHECK(torch::equal(obs[0], obs[2]));
  CHECK(torch::equal(obs[0], torch::tensor(o5)));
  CHECK(torch::equal(obs[3], torch::tensor(o9)));
  // The same actions in envs 0 and 1 keep them identical; a different one in env 2 parts it.
  torch::Tensor a = torch::zeros({4, 2});
  a[2][0] = 1.0;
  torch::Tensor last;
  for (int t = 0; t < 20; ++t) last = venv.step(a).obs;
  CHECK(torch::equal(last[0], last[1]));
  CHECK(!torch::equal(last[0], last[2]));
  CHECK_THROWS_WITH(venv.reset(std::vector<uint64_t>{1, 2}), Catch::Contains("2 seeds for 4 envs"));
  // A snapshot keeps the per-env seeds.
  VectorEnv copy("LunarLanderContinuous-v3", 4, {}, 1);
  CHECK(torch::equal(copy.restore(venv.snapshot()), last));
}

TEST_CASE("snapshot/restore reproduces the future exactly, for every task over whole episodes", "[envs][snapshot]") {
  // Episode A runs uninterrupted. Episode B (same seed, same actions) takes a snapshot before every
  // step, wanders off for 1-4 random steps (possibly to the episode's end), restores, and then takes
  // A's action: its observation and reward must equal A's bit for bit at every step, through wind,
  // leg contacts, sleeping bodies and the walker's obstacles.
  for (const auto& id : env_ids()) {
    const EnvOptions options = id.starts_with("LunarLander") ? EnvOptions{{"enable_wind", 1}} : EnvOptions{};
    auto reference = make_env(id, options);
    auto heuristic = make_heuristic(id);
    std::mt19937 gen(3);
    std::vector<std::vector<float>> actions;
    std::vector<std::vector<float>> observations;
    std::vector<double> rewards;
    heuristic->begin_episode();
    std::vector<float> obs = reference->reset(11);
    for (bool done = false; !done;) {
      std::vector<float> a = heuristic->act(obs);
      if (gen() % 10 == 0) a = random_action(reference->spec().action_space, gen);  // visit more states
      const StepResult r = reference->step(a);
      obs.assign(r.obs.begin(), r.obs.end());
      actions.push_back(a), observations.push_back(obs), rewards.push_back(r.reward);
      done = r.terminated || r.truncated;
    }
    INFO(id << ", " << actions.size() << " steps");
    REQUIRE(actions.size() > 50);

    auto env = make_env(id, options);
    env->reset(11);
    size_t mismatches = 0;
    for (size_t t = 0; t < actions.size(); ++t) {
      const EnvSnapshot s = env->snapshot();
      for (int k = 0; k < 1 + static_cast<int>(gen() % 4); ++k) {
        const StepResult r = env->step(random_action(env->spec().action_space, gen));
        if (r.terminated || r.truncated) break;
      }
      env->restore(s);
      const StepResult r = env->step(actions[t]);
      if (std::vector<float>(r.obs.begin(), r.obs.end()) != observations[t] || r.reward != rewards[t]) ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(env->needs_reset());

    // A snapshot outlives the episode: restored after a reset into another start state, the env
    // continues the first episode; and it belongs to one env object.
    auto again = make_env(id, options);
    again->reset(11);
    for (size_t t = 0; t < 20; ++t) again->step(actions[t]);
    const EnvSnapshot mid = again->snapshot();
    again->reset(12);
    again->step(actions[0]);
    again->restore(mid);
    const StepResult r = again->step(actions[20]);
    CHECK(std::vector<float>(r.obs.begin(), r.obs.end()) == observations[20]);
    CHECK(r.reward == rewards[20]);
    CHECK_THROWS_WITH(reference->restore(mid), Catch::Contains("same environment object"));
  }
}
