#define CATCH_CONFIG_RUNNER
#include <thread>

#include <torch/torch.h>
#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return Catch::Session().run(argc, argv);
}
