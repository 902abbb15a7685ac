// The common leaf: JSON escaping, return statistics against float64 references, atomic writes.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <catch2/catch.hpp>

#include "common/atomic_file.h"
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
  CHECK(s.std == Approx(std::sqrt(ss / 8)).epsilon(1e-15));             // np.std
  CHECK(s.stderr_ == Approx(std::sqrt(ss / 7) / std::sqrt(8.0)).epsilon(1e-15));  // sample sd / sqrt(n)
  CHECK(s.median == 3.5);
  CHECK(s.iqm == Approx((2 + 3 + 4 + 7) / 4.0).epsilon(1e-15));  // sorted: -50 1 2 3 4 7 8 100
  CHECK(s.success_rate == 3.0 / 8);
  CHECK(s.mean_length == 10);
  // 10 returns: the quartiles cut 2.5 returns from each end, so the boundary ones count half.
  const ReturnStats t = return_stats({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {}, 0);
  CHECK(t.iqm == Approx((0.5 * 2 + 3 + 4 + 5 + 6 + 0.5 * 7) / 5.0).epsilon(1e-15));
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
