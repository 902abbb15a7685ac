// `softrl compare` and `softrl report` as a user runs them: bad studies refused before anything
// runs, a study interrupted and resumed gives the summary of an uninterrupted one without redoing
// finished cells, and report.html renders in headless Chromium with one curve per arm.
#include <png.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "apps/study/study_report.h"
#include "tests/mixed_dataset.h"
#include "tests/shell.h"

namespace fs = std::filesystem;

namespace {

using Result = softrl::testing::ShellResult;
using softrl::testing::read_text;
Result sh(const std::string& cmd) { return softrl::testing::run_shell(cmd); }

using softrl::testing::run_softrl;

// A study directory with a small mixed LunarLander dataset and a BC config on it (~2 s per cell).
fs::path study_fixture() {
  const fs::path dir = fs::temp_directory_path() / "softrl_compare";
  fs::remove_all(dir);
  fs::create_directories(dir);
  softrl::testing::write_mixed_lunarlander(dir / "mixed.hdf5", 40);
  std::ofstream(dir / "bc.yaml") << "env: {id: LunarLander-v3}\nalgo: bc\ntotal_steps: 30000\n"
                                    "eval: {every: 10000, episodes: 5}\ncheckpoint: {every: 10000}\n"
                                    "bc: {dataset: "
                                 << (dir / "mixed.hdf5").string() << ", net_arch: [32, 32], batch_size: 64}\n";
  std::ofstream(dir / "study.yaml")
      << "name: tiny\nseeds: 2\narms:\n  - {name: bc, config: bc.yaml}\n"
         "  - {name: filtered, config: bc.yaml, overrides: {bc.filter: {top_fraction: 0.25}}}\n";
  return dir;
}

// summary.json without its list of run directories (whose paths differ between two studies).
std::string statistics_of(const fs::path& study_dir) {
  const std::string s = read_text(study_dir / "summary.json");
  return s.substr(0, s.find("\"runs\""));
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("bad studies are refused before anything runs, naming the file and key", "[compare]") {
  const fs::path dir = study_fixture();
  const std::string st = (dir / "study.yaml").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"arms[0].colour=red", st + ": arms[0].colour: unknown key"},
      {"arms[1].name=bc", st + ": arms[1].name: duplicate arm name 'bc'"},
      {"arms[0].overrides={bc.batch_size: 0}", st + ": arm 'bc': " + (dir / "bc.yaml").string() + ": bc.batch_size"},
      {"arms[0].config=nothing.yaml", "nothing.yaml: no such config file"},
      {"seeds=0", st + ": seeds: expected an integer in [1, 1000]"},
      {"seeds=[]", st + ": seeds: expected a seed count or a non-empty list of seeds"},
      {"arms[0].name=''", st + ": arms[0].name: '' cannot name the arm's directory: it is empty"},
      {"arms[0].name=.", st + ": arms[0].name: '.' cannot name the arm's directory"},
      {"arms[0].name=..", st + ": arms[0].name: '..' cannot name the arm's directory"},
      {"name=../../escaped", st + ": name: '../../escaped' cannot name the study's directory: it holds '/'"},
      {"grid={bc.dataset: [a/b.hdf5]}",
       st + ": grid: the arm 'bc@bc.dataset=a/b.hdf5' it makes cannot name a directory"},
      {"grid={bc.batch_size: 64}", st + ": grid.bc.batch_size: expected a non-empty list of values"},
  };
  for (const auto& [override_text, message] : cases) {
    const Result r = run_softrl("compare " + st + " \"" + override_text + "\" --study-dir " + (dir / "out").string());
    INFO(override_text << " -> " << r.output);
    CHECK(r.code == 2);
    CHECK(r.output.find(message) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "out"));
  }
}

TEST_CASE("a grid multiplies the arms; --dry-run lists the cells and runs nothing", "[compare]") {
  const fs::path dir = study_fixture();
  const Result r =
      run_softrl("compare " + (dir / "study.yaml").string() +
                 " \"grid={bc.batch_size: [32, 64], bc.net_arch: [[16], [32, 32]]}\" seeds=[7] --dry-run --study-dir " +
                 (dir / "g").string());
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(count(r.output, "new     runs/") == 8);  // 2 arms x 2 x 2
  CHECK(r.output.find("runs/filtered@bc.batch_size=64,bc.net_arch=[32, 32]/default-seed7") != std::string::npos);
  CHECK(r.output.find("8 cells; 240000 steps left") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "g"));
}

TEST_CASE("an interrupted study resumes without redoing finished cells and gives the same summary", "[compare]") {
  const fs::path dir = study_fixture();
  const std::string st = (dir / "study.yaml").string();
  Result whole = run_softrl("compare " + st + " --jobs 1 --study-dir " + (dir / "whole").string());
  INFO(whole.output);
  REQUIRE(whole.code == 0);
  CHECK(count(whole.output, "] ") >= 4);  // one line per finished cell

  // The same study, stopped by SIGINT once its first cell has finished.
  const fs::path log = dir / "split.log";
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    freopen(log.c_str(), "w", stdout);
    execl(SOFTRL_BIN, SOFTRL_BIN, "compare", st.c_str(), "--jobs", "1", "--study-dir", (dir / "split").c_str(),
          nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline && read_text(log).find("[1/4]") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // into the second cell
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const fs::path first = dir / "split" / "runs" / "bc" / "default-seed0" / "eval.csv";
  REQUIRE(fs::exists(first));
  const auto stamp = fs::last_write_time(first);
  CHECK_FALSE(fs::exists(dir / "split" / "summary.json"));

  const Result rest = run_softrl("compare --resume " + (dir / "split").string() + " --jobs 1");
  INFO(rest.output);
  REQUIRE(rest.code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(rest.output, m, std::regex("(\\d) already finished")));
  CHECK(std::stoi(m[1]) >= 1);  // at least the first cell, which had finished before the SIGINT
  CHECK(std::stoi(m[1]) < 4);
  CHECK(fs::last_write_time(first) == stamp);  // not redone
  CHECK(statistics_of(dir / "split") == statistics_of(dir / "whole"));

  // `softrl report` over a study's run directories keeps the study's arm names; over loose run
  // directories it names the arms by their differing keys.
  const Result in_study = run_softrl("report " + (dir / "whole" / "runs" / "bc" / "default-seed0").string() + " " +
                                     (dir / "whole" / "runs" / "filtered" / "default-seed0").string());
  CHECK(in_study.code == 0);
  CHECK(in_study.output.find("\n  filtered ") != std::string::npos);
  fs::create_directories(dir / "loose");
  fs::copy(dir / "whole" / "runs" / "bc" / "default-seed0", dir / "loose" / "a", fs::copy_options::recursive);
  fs::copy(dir / "whole" / "runs" / "filtered" / "default-seed0", dir / "loose" / "b", fs::copy_options::recursive);
  const Result rep = run_softrl("report " + (dir / "loose" / "a").string() + " " + (dir / "loose" / "b").string());
  CHECK(rep.code == 0);
  CHECK(rep.output.find("bc bc.filter.top_fraction=0.25") != std::string::npos);
  // --metric: the last logged value of a training metric is the score.
  const std::string metrics = read_text(dir / "loose" / "a" / "metrics.csv");
  const size_t last_row = metrics.rfind('\n', metrics.size() - 2) + 1;
  const std::string header = metrics.substr(0, metrics.find('\n'));
  int column = 0;
  for (size_t at = 0; header.compare(at, 8, "bc_loss,") != 0 && header.compare(at, 7, "bc_loss") != 0;
       at = header.find(',', at) + 1)
    ++column;
  std::string cell = metrics.substr(last_row);
  for (int c = 0; c < column; ++c) cell = cell.substr(cell.find(',') + 1);
  // `report --metric NAME` on the run prints its score with three decimals.
  const auto check_report = [&](const std::string& metric, double value) {
    char want[32];
    std::snprintf(want, sizeof want, "%.3f [", value);
    const Result r = run_softrl("report --metric " + metric + " " + (dir / "loose" / "a").string());
    INFO(r.output);
    CHECK(r.output.find(std::string("1  ") + want) != std::string::npos);
  };
  const double loss = std::stod(cell.substr(0, cell.find_first_of(",\n")));
  REQUIRE(std::abs(loss) < 10);  // a share-sized score: printed with three decimals
  check_report("bc_loss", loss);
  const Result no_metric = run_softrl("report --metric colour " + (dir / "loose" / "a").string());
  CHECK(no_metric.code == 2);
  CHECK(no_metric.output.find("no metric 'colour'; logged: step, wall_time") != std::string::npos);
  // ... or a number of the run's eval_report.json (softrl eval): Pass@k after `eval --group`.
  const Result ev = run_softrl("eval " + (dir / "loose" / "a").string() + " --episodes 2 --group 3 --json");
  REQUIRE(ev.code == 0);
  std::smatch pk;
  REQUIRE(std::regex_search(ev.output, pk, std::regex("\"pass_at_k\": ([0-9.eE+-]+)")));
  check_report("pass_at_k", std::stod(pk[1]));
  const Result neither = run_softrl("report --metric colour " + (dir / "loose" / "a").string());
  CHECK(neither.code == 2);
  CHECK(neither.output.find("nor is it a number of") != std::string::npos);

  // Normalised: (score - random) / (heuristic - random), both measured on 100 evaluation episodes.
  const fs::path one = dir / "whole" / "runs" / "bc" / "default-seed0";
  const Result norm = run_softrl("report --normalize " + one.string());
  INFO(norm.output);
  REQUIRE(norm.code == 0);
  std::smatch n;
  REQUIRE(std::regex_search(norm.output, n, std::regex("\\(return - (-?[0-9.]+)\\) / \\((-?[0-9.]+) - ")));
  const double random = std::stod(n[1]), heuristic = std::stod(n[2]);
  CHECK(random < -100);    // random play on LunarLander-v3 scores about -180
  CHECK(heuristic > 200);  // the heuristic about 235
  const std::string eval = read_text(one / "eval.csv");
  const size_t last = eval.rfind('\n', eval.size() - 2) + 1;
  const double raw = std::stod(eval.substr(eval.find(',', last) + 1));
  char want[32];
  std::snprintf(want, sizeof want, "%.3f [", (raw - random) / (heuristic - random));
  CHECK(norm.output.find(std::string("1  ") + want) != std::string::npos);  // one run, its mean
  // --best scores a run by its best evaluation.
  double best = -1e300;
  for (size_t at = eval.find('\n') + 1; at < eval.size(); at = eval.find('\n', at) + 1)
    best = std::max(best, std::stod(eval.substr(eval.find(',', at) + 1)));
  char want_best[32];
  std::snprintf(want_best, sizeof want_best, "%.1f [", best);
  CHECK(run_softrl("report --best " + one.string()).output.find(std::string("1  ") + want_best) != std::string::npos);
}

namespace {
// The share of pixels of a PNG that are not (near) white.
double ink_share(const fs::path& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, png.c_str()) != 0);
  image.format = PNG_FORMAT_GRAY;
  std::vector<unsigned char> px(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, px.data(), 0, nullptr) != 0);
  size_t ink = 0;
  for (unsigned char v : px) ink += v < 200;
  return static_cast<double>(ink) / static_cast<double>(px.size());
}
}  // namespace

TEST_CASE("learning curves pair each run's k-th evaluation, at steps that differ between runs", "[compare]") {
  // Group learners evaluate after the iteration that crosses each multiple of eval.every: every run
  // at its own steps. An unfinished run is left out of the curve as out of the statistics.
  std::vector<softrl::apps::RunRecord> runs(3);
  for (size_t i = 0; i < runs.size(); ++i) {
    runs[i].arm = "grpo", runs[i].task = "LunarLander-v3", runs[i].seed = i, runs[i].threshold = 200;
    runs[i].total_steps = 2000;
    runs[i].evals = {{1000 + static_cast<int64_t>(i) * 7, 10.0 * (i + 1)}, {2000 + static_cast<int64_t>(i) * 11, 50.0}};
    runs[i].complete = true, runs[i].score = 50;
  }
  // Training metrics pair the k-th logged rows the same way; a row where no run has a value yet
  // (before the first update) draws nothing.
  const double nan = std::nan("");
  for (size_t i = 0; i < runs.size(); ++i)
    runs[i].metrics = {{"step", "wall_time", "loss", "steps_per_s"},
                       {{1000.0 + 7.0 * i, 1, 2.0 * (i + 1), 5}, {2000.0 + 11.0 * i, 2, nan, 5}}};
  runs[2].evals.pop_back(), runs[2].complete = false;
  const softrl::apps::Report r = softrl::apps::build_report(runs, {});
  REQUIRE(r.metric_curves.size() == 1);  // loss; the step, wall time and rates are not curves
  CHECK(r.metric_curves[0].metric == "loss");
  REQUIRE(r.metric_curves[0].steps.size() == 1);
  CHECK(r.metric_curves[0].steps[0] == 1004);
  CHECK(r.metric_curves[0].mean[0] == Approx(3.0));  // runs 0 and 1: 2 and 4
  REQUIRE(r.curves.size() == 1);
  REQUIRE(r.curves[0].steps.size() == 2);
  CHECK(r.curves[0].steps[0] == 1004);  // the mean of 1000 and 1007, rounded
  CHECK(r.curves[0].steps[1] == 2006);  // of 2000 and 2011
  CHECK(r.curves[0].iqm[0].point == Approx(15.0));  // runs 0 and 1 only
}

TEST_CASE("a multi-task study on one scale aggregates over its tasks as one runs x tasks matrix", "[compare]") {
  // Two tasks, scores already in [0, 1] (normalised): the "all tasks" row pools both tasks' runs;
  // its mean is the mean over all runs, its IQM rliable's IQM of the pooled scores.
  std::vector<softrl::apps::RunRecord> runs;
  const std::vector<double> a = {0.2, 0.4, 0.6, 0.8}, b = {0.5, 0.7, 0.9, 1.1};
  for (size_t i = 0; i < a.size(); ++i)
    for (const auto& [task, score] : {std::pair{"LunarLander-v3", a[i]}, std::pair{"BipedalWalker-v3", b[i]}}) {
      softrl::apps::RunRecord r;
      r.arm = "bc", r.task = task, r.seed = i, r.total_steps = 100, r.threshold = 1.0;
      r.evals = {{100, score}}, r.complete = true, r.score = score, r.share = true;
      runs.push_back(r);
    }
  softrl::apps::Report r = softrl::apps::build_report(runs, {});
  const auto all = std::find_if(r.rows.begin(), r.rows.end(), [](const auto& row) { return row.task == "all tasks"; });
  REQUIRE(all != r.rows.end());
  CHECK(all->runs == 8);
  CHECK(all->mean.point == Approx((0.2 + 0.4 + 0.6 + 0.8 + 0.5 + 0.7 + 0.9 + 1.1) / 8));
  CHECK(all->iqm.point == Approx((0.5 + 0.6 + 0.7 + 0.8) / 4));  // the middle half of the 8 pooled scores
  CHECK(softrl::apps::report_table(r).find("all tasks (score:") != std::string::npos);
  // Raw returns of different tasks share no scale: no aggregate.
  for (auto& run : runs) run.share = false;
  r = softrl::apps::build_report(runs, {});
  CHECK(std::none_of(r.rows.begin(), r.rows.end(), [](const auto& row) { return row.task == "all tasks"; }));
}

TEST_CASE("report.html renders in headless Chromium with the study's curves and intervals", "[compare][browser]") {
  const fs::path dir = study_fixture();
  // A long arm name, as grids make them: shown whole.
  const std::string long_arm = "filtered_top_quarter_lr3e-3";
  REQUIRE(run_softrl("compare " + (dir / "study.yaml").string() + " seeds=[3] arms[1].name=" + long_arm +
                     " --study-dir " + (dir / "s").string())
              .code == 0);
  const std::string html = read_text(dir / "s" / "report.html");
  CHECK(html.find("<script") == std::string::npos);
  // The score rule and the bootstrap's settings are stated on the page and in summary.json.
  CHECK(html.find("Score of a run: the mean return of the final evaluation. Intervals: 95 % stratified bootstrap "
                  "over runs (2000 resamples, seed 0") != std::string::npos);
  const std::string summary = read_text(dir / "s" / "summary.json");
  CHECK(summary.find("\"score\": \"the mean return of the final evaluation\"") != std::string::npos);
  CHECK(summary.find("\"bootstrap_reps\": 2000") != std::string::npos);
  CHECK(html.find("http") == std::string::npos);  // nothing fetched from the network
  CHECK(count(html, "<img alt=") == 2);           // each arm's best run, embedded
  CHECK(fs::file_size(dir / "s" / "gifs" / "bc.gif") > 1000);
  // Containers (CI) run as root with a small /dev/shm: no sandbox, no shared-memory files, and a
  // profile of its own.
  const std::string chromium =
      "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir=" +
      (dir / "profile").string() + " --window-size=1280,800 ";
  const std::string url = "file://" + (dir / "s" / "report.html").string();
  const Result dom = sh(chromium + "--enable-logging=stderr --v=0 --dump-dom " + url);
  REQUIRE(dom.code == 0);
  // 2 arms x 1 task: 2 curves with 2 bands, 2 profiles, 2 rows x 4 metrics of intervals.
  CHECK(count(dom.output, "class=\"curve\"") == 2);
  CHECK(count(dom.output, "class=\"band\"") == 2);
  CHECK(count(dom.output, "class=\"profile\"") == 2);
  CHECK(count(dom.output, "class=\"interval\"") == 8);
  CHECK(count(dom.output, ">" + long_arm + "</text>") == 4);  // one label per aggregate metric, whole
  // A chart per training metric BC logs, a line per arm in each.
  const size_t metric_charts = count(dom.output, "training metric ");
  CHECK(metric_charts >= 1);
  CHECK(count(dom.output, "class=\"metric-curve\"") == 2 * metric_charts);
  // Axis ticks step by 1, 2 or 5 times a power of ten.
  for (const std::string cls : {"ytick", "xtick"}) {
    std::vector<double> ticks;
    for (size_t at = dom.output.find("class=\"" + cls + "\""); at != std::string::npos;
         at = dom.output.find("class=\"" + cls + "\"", at + 1)) {
      const size_t open = dom.output.find('>', at) + 1;
      std::string t = dom.output.substr(open, dom.output.find('<', open) - open);
      const double scale = t.back() == 'k' ? 1e3 : t.back() == 'M' ? 1e6 : 1.0;
      if (scale != 1.0) t.pop_back();
      ticks.push_back(std::stod(t) * scale);
    }
    INFO(cls);
    REQUIRE(ticks.size() >= 6);  // two charts' worth at least
    const double step = ticks[1] - ticks[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    CHECK((std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9));
    CHECK(std::abs(ticks[0] / step - std::round(ticks[0] / step)) < 1e-9);  // on a multiple of the step
  }
  CHECK(dom.output.find("CONSOLE") == std::string::npos);  // no console messages
  const Result shot = sh(chromium + "--screenshot=" + (dir / "shot.png").string() + " " + url);
  REQUIRE(shot.code == 0);
  // Text, tables and two charts fill several percent of a 1280x800 view; a blank page has none.
  CHECK(ink_share(dir / "shot.png") > 0.02);
}

// The Slurm executor against a real Slurm: a one-node cluster on localhost (tests/slurm_cluster.sh).
TEST_CASE("a study through a one-node Slurm: a job array, a report job, the same report as locally",
          "[compare][slurm]") {
  const fs::path dir = study_fixture();
  const fs::path work = fs::temp_directory_path() / "softrl_slurm_cluster";
  const std::string cluster = std::string("bash ") + SOFTRL_TESTS + "/slurm_cluster.sh ";
  const Result up = sh(cluster + "start " + work.string());
  if (up.code == 4) {
    WARN("skipped: " << up.output);
    return;
  }
  REQUIRE(up.code == 0);
  const std::string conf = "SLURM_CONF=" + work.string() + "/slurm.conf ";
  struct Stop {
    std::string cmd;
    ~Stop() { sh(cmd); }
  } stop{cluster + "stop " + work.string()};

  const fs::path local = dir / "local", slurm = dir / "slurm";
  REQUIRE(run_softrl("compare " + (dir / "study.yaml").string() + " --study-dir " + local.string()).code == 0);
  // Slurm options need the Slurm executor; a cell index must exist.
  Result r =
      run_softrl("compare " + (dir / "study.yaml").string() + " --slurm.time 00:10:00 --study-dir " + slurm.string());
  CHECK(r.code == 2);
  CHECK(r.output.find("--slurm.* options need --executor slurm") != std::string::npos);

  r = sh(conf + SOFTRL_BIN + " compare " + (dir / "study.yaml").string() +
         " --executor slurm --slurm.time 00:10:00 --study-dir " + slurm.string());
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("submitted 4 cell(s) as job array") != std::string::npos);
  CHECK(r.output.find("--array=0-3") != std::string::npos);
  CHECK(read_text(slurm / "slurm" / "cells.sbatch").find("#SBATCH --time=00:10:00") != std::string::npos);
  r = run_softrl("compare " + slurm.string() + " --cell 4");
  CHECK(r.code == 2);
  CHECK(r.output.find("--cell 4: the study in " + slurm.string() + " has cells 0-3") != std::string::npos);

  // The report job runs after the array; Slurm's scheduler looks at dependencies every few seconds.
  auto wait_for = [&](const fs::path& file) {
    for (int i = 0; i < 600 && !fs::exists(file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return fs::exists(file);
  };
  REQUIRE(wait_for(slurm / "summary.json"));
  CHECK(statistics_of(slurm) == statistics_of(local));
  CHECK(read_text(slurm / "summary.csv") == read_text(local / "summary.csv"));
  CHECK(count(sh("ls " + (slurm / "logs").string()).output, "slurm-cell-") == 4);

  // Re-submission sends only what is unfinished: a cell whose run directory is gone.
  fs::path gone;
  for (const auto& e : fs::directory_iterator(slurm / "runs" / "filtered"))
    if (e.path().filename().string().ends_with("seed1")) gone = e.path();
  REQUIRE(!gone.empty());
  fs::remove_all(gone);
  fs::remove(slurm / "summary.json");
  r = run_softrl("compare " + slurm.string() + " --report");
  CHECK(r.code == 1);
  CHECK(r.output.find("1 of 4 cells unfinished") != std::string::npos);
  r = sh(conf + SOFTRL_BIN + " compare --resume " + slurm.string() + " --executor slurm");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(r.output.find("submitted 1 cell(s) as job array") != std::string::npos);
  CHECK(r.output.find("--array=3") != std::string::npos);
  REQUIRE(wait_for(slurm / "summary.json"));
  CHECK(statistics_of(slurm) == statistics_of(local));
}
