#include "apps/commands/dataset_command.h"

#include <filesystem>
#include <ostream>

#include "apps/commands/command_boundary.h"
#include "common/json.h"
#include "common/stats.h"
#include "data/hdf5_dataset.h"

namespace softrl::apps {
namespace {

struct SourceSummary {
  ReturnStats stats;
  int64_t steps = 0;
};

// Returns and lengths of the episodes of one source (-1: all).
SourceSummary summarize(const data::Dataset& d, int64_t source) {
  std::vector<double> returns;
  std::vector<int> lengths;
  SourceSummary s;
  const int64_t* st = d.episode_start.data_ptr<int64_t>();
  for (int64_t e = 0; e < d.num_episodes(); ++e) {
    if (source >= 0 && d.episode_source[e].item<int64_t>() != source) continue;
    returns.push_back(d.episode_return[e].item<double>());
    lengths.push_back(static_cast<int>(st[e + 1] - st[e]));
    s.steps += st[e + 1] - st[e];
  }
  if (!returns.empty()) s.stats = return_stats(returns, lengths, d.env_spec.reward_threshold);
  return s;
}

// The mean over groups of (best - worst return): how much the members of one start state differ.
double mean_group_spread(const data::Dataset& d) {
  std::vector<double> lo(d.num_groups(), 1e300), hi(d.num_groups(), -1e300);
  for (int64_t e = 0; e < d.num_episodes(); ++e) {
    const int64_t g = d.episode_group[e].item<int64_t>();
    const double r = d.episode_return[e].item<double>();
    lo[g] = std::min(lo[g], r), hi[g] = std::max(hi[g], r);
  }
  double sum = 0;
  for (int64_t g = 0; g < d.num_groups(); ++g) sum += hi[g] - lo[g];
  return d.num_groups() ? sum / static_cast<double>(d.num_groups()) : 0.0;
}

std::string summary_json(const SourceSummary& s) {
  return JsonObject()
      .add("episodes", s.stats.episodes)
      .add("steps", s.steps)
      .add("mean", s.stats.mean)
      .add("std", s.stats.std)
      .add("min", s.stats.min)
      .add("max", s.stats.max)
      .add("success_share", s.stats.success_rate)
      .str();
}

int info(const DatasetInfoOptions& opt, std::ostream& out) {
  const data::Dataset d = data::read_dataset(opt.path);
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(opt.path));
  const SourceSummary all = summarize(d, -1);
  if (opt.json) {
    std::vector<std::string> sources;
    for (size_t i = 0; i < d.sources.size(); ++i)
      sources.push_back(JsonObject()
                            .add("index", static_cast<int64_t>(i))
                            .add("kind", d.sources[i].kind)
                            .add("description", d.sources[i].description)
                            .add("weight", d.sources[i].weight)
                            .raw("returns", summary_json(summarize(d, static_cast<int64_t>(i))))
                            .str());
    out << JsonObject()
               .add("dataset", opt.path)
               .add("dataset_id", d.id)
               .add("env", d.env_id)
               .add("episodes", d.num_episodes())
               .add("steps", d.num_steps())
               .add("groups", d.num_groups())
               .add("group_size", d.group_size)
               .add("mean_group_spread", mean_group_spread(d))
               .add("success_threshold", d.env_spec.reward_threshold)
               .add("bytes_on_disk", bytes)
               .add("bytes_in_memory", d.tensor_bytes())
               .raw("returns", summary_json(all))
               .raw("sources", json_array(sources))
               .str()
        << "\n";
    return 0;
  }
  char buf[256];
  out << opt.path << ": " << d.id << " on " << d.env_id << "\n";
  std::snprintf(buf, sizeof buf,
                "%lld episodes, %lld steps, %lld groups of %lld (mean best-worst spread %.1f), %.1f MiB on disk\n",
                static_cast<long long>(d.num_episodes()), static_cast<long long>(d.num_steps()),
                static_cast<long long>(d.num_groups()), static_cast<long long>(d.group_size), mean_group_spread(d),
                static_cast<double>(bytes) / (1 << 20));
  out << buf;
  std::snprintf(buf, sizeof buf, "%-4s %-44s %8s %8s %8s %8s %8s %8s\n", "src", "behaviour", "episodes", "mean", "std",
                "min", "max", "success");
  out << buf;
  const auto row = [&](const std::string& idx, const std::string& what, const SourceSummary& s) {
    std::snprintf(buf, sizeof buf, "%-4s %-44s %8d %8.1f %8.1f %8.1f %8.1f %7.0f%%\n", idx.c_str(),
                  what.substr(0, 44).c_str(), s.stats.episodes, s.stats.mean, s.stats.std, s.stats.min, s.stats.max,
                  100.0 * s.stats.success_rate);
    out << buf;
  };
  for (size_t i = 0; i < d.sources.size(); ++i)
    row(std::to_string(i), d.sources[i].description, summarize(d, static_cast<int64_t>(i)));
  row("all", "(success: return >= " + std::to_string(static_cast<int>(d.env_spec.reward_threshold)) + ")", all);
  return 0;
}

}  // namespace

int run_dataset_info(const DatasetInfoOptions& opt, std::ostream& out, std::ostream& err) {
  return guarded(
      "dataset info", [&] { return info(opt, out); }, err);
}

}  // namespace softrl::apps
