// softrl: the command-line entry point. Subcommands are added here as they land.
#include <malloc.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "apps/bench_softmax.h"

int main(int argc, char** argv) {
  // Keep freed tensor memory in the heap instead of returning it to the OS: without this every
  // large tensor is a fresh mmap and its first touch costs a page fault per 4 KiB, which
  // dominates training loops and benchmarks that allocate same-sized tensors each step.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"softrl: reinforcement learning and preference optimization on a shared softmax core"};
  app.require_subcommand(1);

  CLI::App* bench = app.add_subcommand("bench", "Speed benchmarks (not tests)");
  bench->require_subcommand(1);
  softrl::apps::SoftmaxBenchOptions sm;
  CLI::App* bench_sm = bench->add_subcommand("softmax", "GB/s of the softmax core vs LibTorch and a plain copy");
  bench_sm->add_flag("--json", sm.json, "Print one JSON object instead of tables");
  bench_sm->add_flag("--quick", sm.quick, "Smaller long-row shape and shorter trials");
  bench_sm->add_option("--threads", sm.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (bench_sm->parsed()) return softrl::apps::run_softmax_bench(sm, std::cout);
  return 0;
}
