#pragma once
// Running commands as a user would, for the tests of the `softrl` binary.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace softrl::testing {

struct ShellResult {
  int code;            // the exit status, or -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

inline ShellResult run_shell(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

#ifdef SOFTRL_BIN
// `softrl ARGS` through the shell (SOFTRL_BIN: the binary the tests were built with).
inline ShellResult run_softrl(const std::string& args) { return run_shell(std::string(SOFTRL_BIN) + " " + args); }
#endif

// A fresh, empty directory under the system's temporary directory.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path p = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// A small, long SAC run on LunarLanderContinuous-v3 ([16, 16], 1M steps, no evaluation or
// checkpoint before the end): for the tests that interrupt, resume or shorten it.
inline const char* kSmallSacConfig = R"(env: {id: LunarLanderContinuous-v3}
total_steps: 1000000
eval: {every: 0, episodes: 1}
checkpoint: {every: 0}
log: {every: 50}
sac: {net_arch: [16, 16], batch_size: 16, buffer_size: 10000, learning_starts: 50}
)";

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Each {overrides, expected} case appended to `command` (a `softrl train CONFIG --run-dir RUN`
// line) is refused with exit 2 and a message containing `expected`, and `run_dir` gets no
// checkpoint.
inline void expect_refused(const std::string& command, const std::filesystem::path& run_dir,
                           const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& [overrides, expected] : cases) {
    const ShellResult r = run_shell(command + " " + overrides);
    INFO(overrides << "\n" << r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find(expected) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(run_dir / "checkpoints"));
  }
}

}  // namespace softrl::testing
