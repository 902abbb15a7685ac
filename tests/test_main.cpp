// The test binaries' entry point: Catch2's runner, with LibTorch's intra-op threads set to every core.
#define CATCH_CONFIG_RUNNER
#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>
#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return Catch::Session().run(argc, argv);
}
