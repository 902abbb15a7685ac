// Checkpoints (agents/core/checkpoint): round trip, corruption and compatibility, format 1 files
// upgraded on opening, crafted files with non-finite weights, the finiteness check itself.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <catch2/catch.hpp>

#include "agents/core/checkpoint.h"
#include "agents/core/policy.h"
#include "apps/algos/run_config_yaml.h"
#include "apps/commands/eval_command.h"
#include "apps/commands/train_command.h"
#include "apps/run/run.h"
#include "apps/run/run_dir.h"
#include "common/runtime.h"
#include "common/stats.h"
#include "envs/registry.h"
#include "tests/run_fixtures.h"

using namespace softrl;
using namespace softrl::test;
namespace fs = std::filesystem;

TEST_CASE("checkpoints: round trip, corruption and compatibility", "[checkpoint]") {
  const fs::path dir = fresh_dir("ckpt");
  const fs::path cfg = write_config(dir, kBaseConfig);
  REQUIRE(train(cfg, dir / "run", {"total_steps=300"}) == 0);
  const fs::path ckpt = dir / "run" / "checkpoints" / "latest.pt";
  const auto p1 = checkpoint_parameters(ckpt);
  const auto p2 = checkpoint_parameters(ckpt);
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(torch::equal(p1[i], p2[i]));

  // Truncated and bit-flipped copies are refused with the file named.
  std::ifstream in(ckpt, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "trunc.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK_THROWS_WITH(agents::open_checkpoint((dir / "trunc.pt").string()),
                    Catch::Contains("trunc.pt: truncated checkpoint"));
  std::string flipped = bytes;
  for (size_t k = flipped.size() / 3; k < flipped.size() / 3 + 64; ++k) flipped[k] = static_cast<char>(~flipped[k]);
  std::ofstream(dir / "flip.pt", std::ios::binary) << flipped;
  bool refused = false;
  try {
    checkpoint_parameters(dir / "flip.pt");
  } catch (const std::exception&) {
    refused = true;
  }
  CHECK(refused);
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "trunc.pt").string(), .episodes = 1}, out, err) == 2);

  // Made for another env or architecture: refused.
  const agents::OpenedCheckpoint c = agents::open_checkpoint(ckpt.string());
  CHECK_THROWS_WITH(agents::check_compatible(c.header, "x.pt", envs::make_env("BipedalWalker-v3")->spec()),
                    Catch::Contains("made for LunarLanderContinuous-v3, not BipedalWalker-v3"));
  {
    agents::OpenedCheckpoint opened = agents::open_checkpoint(ckpt.string());
    agents::PolicyHead wider(agents::PolicySpec::for_env(envs::make_env("LunarLanderContinuous-v3")->spec(), {64, 64}));
    CHECK_THROWS_WITH(agents::restore_policy(wider, opened),
                      Catch::Contains("latest.pt: the saved policy is tanh-Gaussian 8 -> [32, 32] -> 2, this run's is "
                                      "tanh-Gaussian 8 -> [64, 64] -> 2"));
  }
  // A new run into an existing run directory is refused and leaves its checkpoint intact.
  CHECK(train(cfg, dir / "run", {"total_steps=300"}) == 2);
  const auto p3 = checkpoint_parameters(ckpt);
  for (size_t i = 0; i < p1.size(); ++i) CHECK(torch::equal(p1[i], p3[i]));
  fs::remove_all(dir);
}

TEST_CASE("format 1 checkpoints (before the run-loop split) evaluate and resume", "[checkpoint]") {
  // Written by softrl at commit be076b4 (checkpoint format 1): sac_llc_300 stopped at 300 of 600
  // steps with its replay buffer (config.yaml edited to total_steps: 600); sac_llc_600.pt is the
  // uninterrupted 600-step run of the same config; *_eval.json are that version's `softrl eval
  // --episodes 3 --seed 1000000 --json` of each file (6 significant digits).
  const fs::path fixtures = fs::path(SOFTRL_FIXTURES) / "format1";
  // Evaluated from a copy: eval writes eval_report.json beside the checkpoint, never into the sources.
  const fs::path copies = fresh_dir("format1_eval");
  fs::create_directories(copies);
  for (const char* name : {"sac_llc_600", "sac_ll_300"}) {
    std::ifstream in(fixtures / (std::string(name) + "_eval.json"));
    const std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fs::copy_file(fixtures / (std::string(name) + ".pt"), copies / (std::string(name) + ".pt"));
    std::ostringstream out, err;
    REQUIRE(apps::run_eval({.target = (copies / (std::string(name) + ".pt")).string(), .episodes = 3, .json = true},
                           out, err) == 0);
    for (const char* key : {"\"mean\": ", "\"min\": ", "\"max\": ", "\"mean_length\": "}) {
      auto value = [&](const std::string& json) {
        return std::stod(json.substr(json.find(key) + std::string(key).size()));
      };
      INFO(name << " " << key << " now " << out.str() << " was " << expected);
      CHECK(std::abs(value(out.str()) - value(expected)) <= 5e-6 * std::abs(value(expected)));
    }
  }
  const fs::path dir = fresh_dir("format1");
  fs::copy(fixtures / "sac_llc_300", dir, fs::copy_options::recursive);
  std::ostringstream out, err;
  REQUIRE(apps::run_train({.resume_dir = dir.string(), .progress = false}, out, err) == 0);
  const fs::path resumed = dir / "checkpoints" / "latest.pt";
  CHECK(agents::open_checkpoint(resumed.string()).header.format == 2);
  const auto a = checkpoint_parameters(fixtures / "sac_llc_600.pt");
  const auto b = checkpoint_parameters(resumed);
  REQUIRE(a.size() == b.size());
  // The fixture's second half ran the update of its day; today's continuous update sums in
  // another order (critic members by hand, actor halves), so 300 updates later the parameters
  // (|p| < 1) differ by a few float32 rounding steps (measured <= 3.7e-7); a checkpoint section
  // read wrong (optimizer moments, replay buffer, generator) moves them by ~lr = 1e-3.
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].abs().max().item<double>() < 1.0);
    CHECK((a[i] - b[i]).abs().max().item<double>() < 1e-6);
  }
  fs::remove_all(dir);
  fs::remove_all(copies);
}

TEST_CASE("all_finite finds a single infinite or NaN element anywhere, in float32 and float64",
          "[checkpoint][faults]") {
  // The divergence guard reads the raw bits; a length that is not a multiple of any vector width
  // puts some positions in the loop's remainder. The largest finite values, subnormals and -0 are
  // finite.
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const double big =
        dtype == torch::kFloat32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
    const double tiny =
        dtype == torch::kFloat32 ? std::numeric_limits<float>::denorm_min() : std::numeric_limits<double>::denorm_min();
    const torch::Tensor ok = torch::tensor({big, -big, tiny, -0.0}, dtype).repeat({251}).narrow(0, 0, 1003);
    CHECK(agents::all_finite({ok, ok.view({17, 59}).t()}));
    for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()})
      for (const int64_t at : {int64_t{0}, int64_t{1}, int64_t{500}, int64_t{1001}, int64_t{1002}}) {
        torch::Tensor t = ok.clone();
        t[at] = bad;
        INFO("dtype " << dtype << ", value " << bad << " at " << at);
        CHECK_FALSE(agents::all_finite({ok, t}));
        CHECK_FALSE(agents::all_finite({t.view({17, 59}).t()}));  // non-contiguous
        // Shared between threads (SAC checks half of every tensor on each): exactly one part sees it.
        for (const int64_t parts : {int64_t{2}, int64_t{3}}) {
          int found = 0;
          for (int64_t k = 0; k < parts; ++k) {
            CHECK(agents::all_finite({ok}, k, parts));
            found += agents::all_finite({ok, t}, k, parts) ? 0 : 1;
          }
          CHECK(found == 1);
        }
      }
  }
}

TEST_CASE("a crafted checkpoint with a valid frame but NaN weights is refused", "[checkpoint][faults]") {
  const fs::path dir = fresh_dir("crafted");
  fs::create_directories(dir);
  const auto env = envs::make_env("LunarLanderContinuous-v3");
  agents::PolicyHead head(agents::PolicySpec::for_env(env->spec(), {32, 32}));
  {
    torch::NoGradGuard ng;
    head.parameters()[0].fill_(std::nan(""));
  }
  agents::CheckpointHeader h = agents::CheckpointHeader::for_env(env->spec());
  h.algo = "sac";
  h.config_yaml = apps::to_yaml(apps::parse_config(kBaseConfig, "c.yaml"));
  agents::write_checkpoint((dir / "nan.pt").string(), h, {{"policy", [&](auto& ar) { head.save(ar); }}});
  CHECK_THROWS_WITH(agents::load_policy((dir / "nan.pt").string()),
                    Catch::Contains("nan.pt: tensor trunk.layers.0.weight is not finite"));
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = (dir / "nan.pt").string(), .episodes = 1}, out, err) == 2);
  CHECK(err.str().find("is not finite") != std::string::npos);
  // A valid frame around a policy whose weights have another shape than its spec says.
  agents::PolicyHead wide(agents::PolicySpec::for_env(env->spec(), {64, 32}));
  agents::write_checkpoint((dir / "shape.pt").string(), h,
                           {{"policy", [&](auto& ar) {
                               torch::serialize::OutputArchive net;
                               wide.gaussian()->save(net);
                               ar.write("spec", torch::tensor({int64_t{1}, int64_t{8}, int64_t{2}, int64_t{0}}));
                               ar.write("hidden", torch::tensor(std::vector<int64_t>{32, 32}));
                               ar.write("net", net);
                             }}});
  CHECK_THROWS_WITH(agents::load_policy((dir / "shape.pt").string()),
                    Catch::Contains("shape.pt: tensor trunk.layers.0.weight has shape [64, 8]"));
  fs::remove_all(dir);
}

namespace {
// Replaces `from` by `to` in a checkpoint's payload (each once) and rewrites the frame's checksum
// (FNV-1a 64 of the payload), as a hostile writer who knows the format would.
void patch_payload(const fs::path& file, const std::string& from, const std::string& to) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find(from, 32);
  REQUIRE(at != std::string::npos);
  REQUIRE(bytes.find(from, at + 1) == std::string::npos);
  bytes.replace(at, from.size(), to);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 32; i < bytes.size(); ++i) h = (h ^ static_cast<unsigned char>(bytes[i])) * 1099511628211ull;
  std::memcpy(bytes.data() + 24, &h, 8);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

// The bytes of a pickled 32-bit integer (BININT), as the archive records a storage offset.
std::string pickled_int(int32_t v) {
  std::string s = "J";
  s.append(reinterpret_cast<const char*>(&v), 4);
  return s;
}
}  // namespace

TEST_CASE("a tensor pointing past its storage is refused before anything reads it", "[checkpoint][faults]") {
  const fs::path dir = fresh_dir("out_of_bounds");
  fs::create_directories(dir);
  const auto env = envs::make_env("LunarLanderContinuous-v3");
  agents::PolicyHead head(agents::PolicySpec::for_env(env->spec(), {32, 32}));
  // The first bias stored as the last 32 of 70032 floats: storage offset 70000, in bounds.
  for (torch::Tensor p : head.parameters())
    if (p.dim() == 1) {
      p.set_data(torch::zeros({70032}).narrow(0, 70000, p.size(0)));
      break;
    }
  agents::CheckpointHeader h = agents::CheckpointHeader::for_env(env->spec());
  h.algo = "sac";
  h.config_yaml = apps::to_yaml(apps::parse_config(kBaseConfig, "c.yaml"));
  const fs::path ckpt = dir / "offset.pt";
  agents::write_checkpoint(ckpt.string(), h, {{"policy", [&](auto& ar) { head.save(ar); }}});
  CHECK_NOTHROW(agents::load_policy(ckpt.string()));
  // The same file claiming offset 170000 (and a matching checksum): 100000 floats past the end.
  patch_payload(ckpt, pickled_int(70000), pickled_int(170000));
  CHECK_THROWS_WITH(agents::open_checkpoint(ckpt.string()),
                    Catch::Contains("offset.pt: tensor policy.net.") &&
                        Catch::Contains("reaches element 170031 of a storage of 70032 elements"));
  std::ostringstream out, err;
  CHECK(apps::run_eval({.target = ckpt.string(), .episodes = 1}, out, err) == 2);
  CHECK(err.str().find("a crafted or corrupted checkpoint") != std::string::npos);
  // A negative offset is refused the same way.
  patch_payload(ckpt, pickled_int(170000), pickled_int(-64));
  CHECK_THROWS_AS(agents::open_checkpoint(ckpt.string()), agents::CheckpointError);
  fs::remove_all(dir);
}
