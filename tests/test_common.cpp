// The common leaf: JSON escaping, return statistics against float64 references, atomic writes.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <limits>

#include <random>

#include <catch2/catch.hpp>

#include "common/atomic_file.h"
#include "common/block_cache.h"
#include "common/error.h"
#include "common/json.h"
#include "common/stats.h"

using namespace softrl;
namespace fs = std::filesystem;

TEST_CASE("JSON strings are escaped and non-finite numbers are null", "[common]") {
  CHECK(json_string("run \"a\"\n\\b\t\x01") == "\"run \\\"a\\\"\\n\\\\b\\t\\u0001\"");
  CHECK(json_number(std::nan("")) == "null");
  CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_number(-1.5) == "-1.5");
  CHECK(JsonObject().add("dir", "a\"b").add("n", int64_t{3}).add("ok", true).str() ==
        "{\"dir\": \"a\\\"b\", \"n\": 3, \"ok\": true}");
  CHECK(json_array({"1", "{}"}) == "[1, {}]");
}

TEST_CASE("return statistics match direct float64 computations", "[common]") {
  const std::vector<double> r = {1, 2, 3, 4, 100, -50, 7, 8};
  const ReturnStats s = return_stats(r, std::vector<int>(8, 10), 5);
  double mean = 0, ss = 0;
  for (double x : r) mean += x / 8;
  for (double x : r) ss += (x - mean) * (x - mean);
  CHECK(s.mean == Approx(mean).epsilon(1e-15));
  CHECK(s.std == Approx(std::sqrt(ss / 8)).epsilon(1e-15));                       // np.std
  CHECK(s.stderr_ == Approx(std::sqrt(ss / 7) / std::sqrt(8.0)).epsilon(1e-15));  // sample sd / sqrt(n)
  CHECK(s.median == 3.5);
  CHECK(s.iqm == Approx((2 + 3 + 4 + 7) / 4.0).epsilon(1e-15));  // sorted: -50 1 2 3 4 7 8 100
  CHECK(s.success_rate == 3.0 / 8);
  CHECK(s.mean_length == 10);
  // 10 returns: scipy's trim_mean(x, 0.25), as rliable, drops floor(2.5) = 2 from each end.
  const ReturnStats t = return_stats({9, 1, 2, 3, 4, 5, 6, 7, 8, 0}, {}, 0);
  CHECK(t.iqm == Approx((2 + 3 + 4 + 5 + 6 + 7) / 6.0).epsilon(1e-15));
  CHECK(return_stats({4}, {1}, 0).stderr_ == 0);
}

TEST_CASE("an atomic write that fails leaves the old file and no temporary", "[common]") {
  const fs::path dir = fs::temp_directory_path() / "softrl_atomic";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file_atomic(dir / "a.txt", "first");
  write_file_atomic(dir / "a.txt", "second");
  std::ifstream in(dir / "a.txt");
  std::string text;
  std::getline(in, text);
  CHECK(text == "second");
  CHECK_THROWS_AS(write_file_atomic(dir / "missing" / "b.txt", "x"), IoError);
  // Renaming onto a directory fails: the directory stays, the temporary goes.
  fs::create_directories(dir / "taken");
  CHECK_THROWS_WITH(write_file_atomic(dir / "taken", "x"), Catch::Contains("taken: cannot move it into place"));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  }
  CHECK(files == 2);
  fs::remove_all(dir);
}

TEST_CASE("a write that must not replace refuses a file that appeared, and stale temporaries go", "[common]") {
  const fs::path dir = fs::temp_directory_path() / "softrl_atomic_noreplace";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file_atomic(dir / "d.hdf5", "first", /*replace=*/false);
  // A second writer to the same new name (two collects to one --out): refused, the first kept.
  CHECK_THROWS_AS(write_file_atomic(dir / "d.hdf5", "second", /*replace=*/false), InputError);
  std::ifstream in(dir / "d.hdf5");
  std::string text;
  std::getline(in, text);
  CHECK(text == "first");
  // What killed writers leave (NAME.tmp.XXXXXX) goes; other files stay.
  for (const char* name : {"latest.pt.tmp.Ab3xYz", "config.yaml.tmp.000000", "notes.tmp.txt", "x.tmp.abc"})
    std::ofstream(dir / name) << "x";
  remove_stale_temporaries(dir);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"d.hdf5", "notes.tmp.txt", "x.tmp.abc"});
  fs::remove_all(dir);
}

TEST_CASE("rliable's metrics against hand-computed values", "[common][rliable]") {
  CHECK(iqm(std::vector<double>{5}) == 5);                         // one run
  CHECK(iqm(std::vector<double>{1, 9, 3}) == Approx(13.0 / 3));    // n < 4: nothing trimmed
  CHECK(iqm(std::vector<double>{4, 1, 100, 2, 3}) == 3);           // n = 5: one from each end
  CHECK(iqm(std::vector<double>{2, 2, 2, 2, 7, 7, 7, 7}) == 4.5);  // ties
  const ScoreMatrix m = {{0.5, 1.2, 0.8}, {0.1, 0.9}};             // two tasks, pooled: 5 runs
  CHECK(mean(m) == Approx(3.5 / 5).epsilon(1e-15));
  CHECK(median(m) == 0.8);
  CHECK(median(ScoreMatrix{{1, 4}}) == 2.5);
  CHECK(iqm(m) == Approx((0.5 + 0.8 + 0.9) / 3).epsilon(1e-15));
  CHECK(optimality_gap(m) == Approx(1 - (0.5 + 1 + 0.8 + 0.1 + 0.9) / 5).epsilon(1e-15));
  CHECK(optimality_gap(m, 0.5) == Approx(0.5 - (0.5 + 0.5 + 0.5 + 0.1 + 0.5) / 5).epsilon(1e-15));
  // Task 1: x {1, 2, 3} vs y {2, 2}: pairs won 0 + 0 + 0.5 + 0.5 + 1 + 1 = 3 of 6; task 2: 1 of 1.
  CHECK(probability_of_improvement(ScoreMatrix{{1, 2, 3}, {5}}, ScoreMatrix{{2, 2}, {4}}) == Approx((0.5 + 1) / 2));
  CHECK(probability_of_improvement(m, m) == 0.5);
  CHECK(performance_profile(m, {0.1, 0.8, 2}) == std::vector<double>{0.8, 0.4, 0.0});  // strictly above
  CHECK_THROWS(iqm(ScoreMatrix{{}}));
}

TEST_CASE("stratified bootstrap intervals cover the mean at about the nominal rate", "[common][rliable]") {
  // 300 experiments of 12 runs from N(3, 1): the percentile interval of the mean covers 3 in about
  // 92 % of them (the percentile bootstrap undercovers at n = 12; 95 % nominal); the binomial
  // spread over 300 experiments is 1.6 points, so [0.86, 0.98] is 4 spreads wide each way.
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal(3.0, 1.0);
  int covered = 0;
  for (int e = 0; e < 300; ++e) {
    ScoreMatrix runs(1);
    for (int k = 0; k < 12; ++k) runs[0].push_back(normal(gen));
    const Interval ci = stratified_bootstrap(
        runs, [](const ScoreMatrix& s) { return mean(s); }, 500, e);
    CHECK(ci.lo <= ci.point);
    CHECK(ci.point <= ci.hi);
    covered += ci.lo <= 3.0 && 3.0 <= ci.hi;
  }
  CHECK(covered / 300.0 > 0.86);
  CHECK(covered / 300.0 < 0.98);
  // One run: every resample is that run.
  const Interval one = stratified_bootstrap({{4.0}}, [](const ScoreMatrix& s) { return iqm(s); });
  CHECK((one.lo == 4.0 && one.hi == 4.0 && one.point == 4.0));
  // Strata: resampling stays within each task, so a statistic of task 0 alone never sees task 1.
  const Interval t0 =
      stratified_bootstrap({{1, 2}, {100, 200}}, [](const ScoreMatrix& s) { return s[0][0] + s[0][1]; });
  CHECK(t0.lo >= 2);
  CHECK(t0.hi <= 4);
  // Deterministic given the seed; two algorithms resampled independently.
  const auto poi = [](const ScoreMatrix& a, const ScoreMatrix& b) { return probability_of_improvement(a, b); };
  const Interval p1 = stratified_bootstrap({{1, 2, 3, 4}}, {{2, 3, 4, 5}}, poi, 1000, 7);
  const Interval p2 = stratified_bootstrap({{1, 2, 3, 4}}, {{2, 3, 4, 5}}, poi, 1000, 7);
  CHECK((p1.lo == p2.lo && p1.hi == p2.hi));
  CHECK(p1.point == Approx((3 + 0.5 * 3) / 16));  // wins 3>2, 4>2, 4>3; ties at 2, 3, 4
  CHECK(p1.lo < p1.point);
  CHECK(p1.hi > p1.point);
}

TEST_CASE("block cache: a freed large block is handed to the next request of its size", "[runtime]") {
  softrl::install_block_cache();
  softrl::install_block_cache();  // idempotent
  const void* first = nullptr;
  {
    const torch::Tensor a = torch::empty({1 << 20});  // 4 MiB: cached when freed
    first = a.data_ptr();
  }
  const torch::Tensor b = torch::empty({1 << 20});
  CHECK(b.data_ptr() == first);  // reused, no fresh pages
  const torch::Tensor c = torch::empty({1 << 20});
  CHECK(c.data_ptr() != b.data_ptr());  // a live block is never handed out twice
  const torch::Tensor d = torch::ones({(1 << 20) + 16});
  CHECK(d.sum().item<double>() == (1 << 20) + 16);  // other sizes: fresh, usable memory
  const torch::Tensor small = torch::arange(10);    // small blocks: LibTorch's own path
  CHECK(small.sum().item<int64_t>() == 45);
}

TEST_CASE("block cache: when full, it makes room for the size freed last", "[runtime]") {
  softrl::install_block_cache();
  {  // fill the cache (1 GiB) with blocks of one size; empty() touches no pages
    std::vector<torch::Tensor> big;
    for (int i = 0; i < 5; ++i) big.push_back(torch::empty({int64_t{1} << 26}));  // 256 MiB each
  }
  CHECK(softrl::block_cache_stats().cached_bytes == size_t{1} << 30);
  { const torch::Tensor a = torch::empty({int64_t{1} << 21}); }  // 8 MiB, freed into the full cache
  CHECK(softrl::block_cache_stats().cached_bytes <= size_t{1} << 30);
  const size_t hits = softrl::block_cache_stats().hits;
  const torch::Tensor b = torch::empty({int64_t{1} << 21});
  CHECK(softrl::block_cache_stats().hits == hits + 1);  // the new size was kept, not dropped
  const torch::Tensor c = torch::empty({int64_t{1} << 26});
  CHECK(softrl::block_cache_stats().hits == hits + 2);  // three 256 MiB blocks are still held
}
