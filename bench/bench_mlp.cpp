#include "bench/bench_mlp.h"

#include "common/json.h"

#include <ostream>
#include <thread>

#include <torch/torch.h>

#include "common/runtime.h"

#include "bench/timing.h"

namespace softrl::bench {

int run_mlp_bench(const MlpBenchOptions& opt, std::ostream& out) {
  set_compute_threads(resolve_threads(opt.threads));
  torch::manual_seed(0);
  torch::nn::Sequential net;
  int64_t in = 32;
  for (int l = 0; l < opt.layers; ++l) {
    net->push_back(torch::nn::Linear(in, opt.hidden));
    net->push_back(torch::nn::ReLU());
    in = opt.hidden;
  }
  net->push_back(torch::nn::Linear(in, 1));
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(3e-4));
  const torch::Tensor x = torch::randn({opt.batch, 32});
  const torch::Tensor y = torch::randn({opt.batch, 1});
  const double s = median_seconds_per_call(
      [&] {
        adam.zero_grad();
        torch::mse_loss(net->forward(x), y).backward();
        adam.step();
      },
      {0.3, 5});
  if (opt.json)
    out << JsonObject().add("threads", static_cast<int>(torch::get_num_threads())).add("updates_per_s", 1.0 / s).str()
        << "\n";
  else
    out << "softrl bench mlp: " << opt.layers << "x" << opt.hidden << " MLP, batch " << opt.batch << ", "
        << torch::get_num_threads() << " threads: " << 1.0 / s << " Adam updates/s\n";
  return 0;
}

}  // namespace softrl::bench
