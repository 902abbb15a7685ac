#include "bench/bench_sac.h"

#include "common/json.h"

#include <algorithm>
#include <ostream>
#include <vector>

#include "agents/sac/sac.h"
#include "bench/timing.h"
#include "common/runtime.h"

namespace softrl::bench {
namespace {
// Multiply-add FLOPs of one forward pass of an MLP at batch b.
double mlp_flops(double b, const std::vector<int64_t>& dims) {
  double f = 0;
  for (size_t i = 0; i + 1 < dims.size(); ++i) f += 2.0 * b * static_cast<double>(dims[i] * dims[i + 1]);
  return f;
}
}  // namespace

int run_sac_bench(const SacBenchOptions& opt, std::ostream& out) {
  const int64_t obs = 8, act = 2, batch = 256;
  agents::SacConfig cfg;
  cfg.net_arch = {400, 300};
  cfg.batch_size = batch;
  agents::PolicySpec spec{.kind = agents::PolicySpec::Kind::tanh_gaussian, .obs_dim = obs, .act_dim = act};
  agents::give_threads(cfg, spec, opt.threads);  // as `softrl train` does
  agents::Sac agent(cfg, spec, 0);
  at::Generator gen = at::detail::createCPUGenerator(0);
  torch::manual_seed(0);
  const agents::Batch b{torch::randn({batch, obs}), torch::rand({batch, act}) * 2 - 1, torch::randn({batch}),
                        torch::randn({batch, obs}), torch::zeros({batch})};
  // Forward passes: actor at s and s', critic ensemble at (s, a), (s, a~) and target at (s', a').
  // Backward (about twice a forward): critic loss through the critics; actor loss through the
  // frozen critics (input gradients only, about one forward) and the actor.
  const double fa = mlp_flops(batch, {obs, 400, 300, 2 * act});
  const double fc = 2 * mlp_flops(batch, {obs + act, 400, 300, 1});
  const double flops = 2 * fa + 3 * fc + 2 * fc + fc + 2 * fa;
  const torch::Tensor x = torch::randn({batch, 400}), w = torch::randn({400, 300});
  torch::Tensor y = torch::empty({batch, 300});
  // The shared host's speed (clock, memory bandwidth) drifts by 10-20 % within minutes, enough to
  // move a ratio of two measurements taken a few seconds apart by as much. So the update and the
  // sgemm reference alternate in short rounds, each ratio is taken within its round, and the
  // medians over the rounds are reported.
  const int rounds = 5;
  const TimingOptions per_round{opt.seconds / rounds / 3, 3};
  std::vector<double> update_s, sgemm_rates, fractions;
  for (int r = 0; r < rounds; ++r) {
    agents::give_threads(cfg, spec, opt.threads);  // as `softrl train` does
    update_s.push_back(median_seconds_per_call([&] { agent.update(b, gen); }, per_round));
    set_compute_threads(opt.threads);  // the sgemm reference: OpenBLAS on as many threads
    const double sg = median_seconds_per_call([&] { torch::mm_out(y, x, w); }, per_round);
    sgemm_rates.push_back(2.0 * batch * 400 * 300 / sg);
    fractions.push_back(flops / update_s.back() / sgemm_rates.back());
  }
  const double s = median_of_rounds(update_s), sgemm_rate = median_of_rounds(sgemm_rates);
  const double fraction = median_of_rounds(fractions);
  const auto [lo, hi] = std::minmax_element(fractions.begin(), fractions.end());
  const double rate = flops / s;
  if (opt.json) {
    out << JsonObject()
               .add("threads", opt.threads)
               .add("updates_per_s", 1.0 / s)
               .add("update_gflops", rate / 1e9)
               .add("sgemm_gflops", sgemm_rate / 1e9)
               .add("fraction_of_sgemm", fraction)
               .add("fraction_of_sgemm_min", *lo)
               .add("fraction_of_sgemm_max", *hi)
               .add("rounds", rounds)
               .str()
        << "\n";
    return 0;
  }
  out << "softrl bench sac: net [400, 300], batch 256, " << opt.threads << " thread(s) (LunarLanderContinuous shapes)\n"
      << "  " << 1.0 / s << " updates/s; " << rate / 1e9 << " GFLOP/s of matmul work per update = " << 100 * fraction
      << " % of a plain sgemm [256x400]x[400x300] at " << sgemm_rate / 1e9 << " GFLOP/s\n"
      << "  (medians of " << rounds << " rounds alternating the update and the sgemm, each % within its round; range "
      << 100 * *lo << "-" << 100 * *hi << " %)\n";
  return 0;
}

}  // namespace softrl::bench
