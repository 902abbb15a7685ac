#include "apps/study_config.h"

#include <filesystem>
#include <set>
#include <string_view>

#include "apps/config_reader.h"
#include "apps/run_config.h"

namespace softrl::apps {
namespace fs = std::filesystem;

std::vector<StudyCell> Study::cells() const {
  std::vector<StudyCell> out;
  const std::vector<std::string> ts = tasks.empty() ? std::vector<std::string>{""} : tasks;
  for (const auto& arm : arms)
    for (const auto& task : ts)
      for (uint64_t seed : seeds) {
        StudyCell c{.arm = arm.name, .task = task, .seed = seed};
        c.overrides = arm.overrides;
        c.overrides.push_back("seed=" + std::to_string(seed));
        if (!task.empty()) c.overrides.push_back("env.id=" + task);
        if (eval_episodes > 0) c.overrides.push_back("eval.episodes=" + std::to_string(eval_episodes));
        c.overrides.push_back("threads=1");
        c.dir = "runs/" + arm.name + "/" + (task.empty() ? "default" : task) + "-seed" + std::to_string(seed);
        out.push_back(std::move(c));
      }
  return out;
}

namespace {

std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

void flatten_overrides(const YAML::Node& n, const std::string& prefix, std::vector<std::string>& out) {
  if (n.IsMap() && !prefix.empty() && n.size() > 0) {
    for (const auto& kv : n) flatten_overrides(kv.second, prefix + "." + kv.first.Scalar(), out);
  } else if (n.IsMap()) {
    for (const auto& kv : n) flatten_overrides(kv.second, kv.first.Scalar(), out);
  } else {
    out.push_back(prefix + "=" + emit(n));
  }
}

StudyArm parse_arm(const ConfigReader& r, const YAML::Node& n, const std::string& path, const fs::path& base) {
  if (!n.IsMap()) r.fail(path, "a mapping {name, config, overrides}", n);
  r.check_keys(n, path, {"name", "config", "overrides"});
  StudyArm a;
  a.name = r.text(n["name"], path + ".name", "a name (letters, digits, - _ .)");
  for (char c : a.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_.@=,").find(c) != std::string_view::npos))
      r.fail(path + ".name", "a name of letters, digits, - _ . @ = , (it names directories)", n["name"]);
  const fs::path cfg = r.text(n["config"], path + ".config", "the path of a run config");
  a.config = fs::absolute(cfg.is_absolute() ? cfg : base / cfg).lexically_normal().string();
  if (const YAML::Node o = n["overrides"]; o.IsDefined() && !o.IsNull()) {
    if (!o.IsMap()) r.fail(path + ".overrides", "a mapping of dotted keys to values", o);
    flatten_overrides(o, "", a.overrides);
  }
  return a;
}

Study from_node(const YAML::Node& root, const ConfigReader& r, const fs::path& base) {
  Study s;
  r.check_keys(root, "", {"name", "arms", "grid", "tasks", "seeds", "evaluation"});
  s.name = root["name"].IsDefined() ? r.text(root["name"], "name", "a name") : "study";
  const YAML::Node arms = root["arms"];
  if (!arms.IsDefined() || !arms.IsSequence() || arms.size() == 0) r.fail("arms", "a non-empty list of arms", arms);
  std::set<std::string> names;
  for (size_t i = 0; i < arms.size(); ++i) {
    StudyArm a = parse_arm(r, arms[i], "arms[" + std::to_string(i) + "]", base);
    if (!names.insert(a.name).second)
      r.fail_msg("arms[" + std::to_string(i) + "].name", "duplicate arm name '" + a.name + "'");
    s.arms.push_back(std::move(a));
  }
  // A grid multiplies every arm by each combination of its values: arm@key=value,key2=value2.
  if (const YAML::Node g = root["grid"]; g.IsDefined() && !g.IsNull()) {
    if (!g.IsMap() || g.size() == 0) r.fail("grid", "a mapping of dotted keys to lists of values", g);
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const auto& kv : g) {
      const std::string key = kv.first.Scalar();
      if (!kv.second.IsSequence() || kv.second.size() == 0) r.fail("grid." + key, "a non-empty list of values", kv.second);
      std::vector<std::string> values;
      for (const auto& v : kv.second) values.push_back(emit(v));
      axes.emplace_back(key, values);
    }
    std::vector<StudyArm> expanded;
    for (const StudyArm& arm : s.arms) {
      std::vector<StudyArm> partial = {arm};
      for (const auto& [key, values] : axes) {
        std::vector<StudyArm> next;
        for (const StudyArm& a : partial)
          for (const auto& v : values) {
            StudyArm b = a;
            b.name += (b.name.find('@') == std::string::npos ? "@" : ",") + key + "=" + v;
            b.overrides.push_back(key + "=" + v);
            next.push_back(std::move(b));
          }
        partial = std::move(next);
      }
      expanded.insert(expanded.end(), partial.begin(), partial.end());
    }
    s.arms = std::move(expanded);
  }
  if (const YAML::Node t = root["tasks"]; t.IsDefined()) {
    if (!t.IsSequence()) r.fail("tasks", "a list of environment ids", t);
    for (size_t i = 0; i < t.size(); ++i) s.tasks.push_back(r.text(t[i], "tasks[" + std::to_string(i) + "]", "an env id"));
  }
  const YAML::Node seeds = root["seeds"];
  if (seeds.IsDefined() && seeds.IsSequence()) {
    for (size_t i = 0; i < seeds.size(); ++i)
      s.seeds.push_back(static_cast<uint64_t>(r.integer(seeds[i], "seeds[" + std::to_string(i) + "]", 0)));
  } else {
    const int64_t n = seeds.IsDefined() ? r.integer(seeds, "seeds", 1, 1000) : 5;
    for (int64_t i = 0; i < n; ++i) s.seeds.push_back(static_cast<uint64_t>(i));
  }
  if (const YAML::Node e = root["evaluation"]; e.IsDefined()) {
    r.check_keys(e, "evaluation", {"episodes", "last", "normalize", "checkpoint"});
    if (e["checkpoint"].IsDefined()) {
      const std::string c = r.text(e["checkpoint"], "evaluation.checkpoint", "final or best");
      if (c != "final" && c != "best") r.fail("evaluation.checkpoint", "final or best", e["checkpoint"]);
      s.best = c == "best";
    }
    if (e["normalize"].IsDefined()) s.normalize = r.boolean(e["normalize"], "evaluation.normalize");
    if (e["episodes"].IsDefined()) s.eval_episodes = r.integer(e["episodes"], "evaluation.episodes", 1, 100000);
    if (e["last"].IsDefined()) s.last_k = static_cast<int>(r.integer(e["last"], "evaluation.last", 1, 1000));
  }
  // Every cell's config must load before anything runs.
  for (const StudyCell& c : s.cells()) {
    const StudyArm& arm = *std::find_if(s.arms.begin(), s.arms.end(), [&](const StudyArm& a) { return a.name == c.arm; });
    try {
      load_config(arm.config, c.overrides);
    } catch (const InputError& e) {
      throw InputError(r.source() + ": arm '" + c.arm + "'" + (c.task.empty() ? "" : " on " + c.task) + ": " + e.what());
    }
  }
  return s;
}

}  // namespace

Study load_study(const std::string& path, const std::vector<std::string>& overrides) {
  const YAML::Node root = parse_config_root(read_config_file(path), path, overrides);
  const ConfigReader r(path);
  try {
    return from_node(root, r, fs::absolute(path).parent_path());
  } catch (const YAML::Exception& e) {
    throw InputError(path + ": " + e.msg);
  }
}

std::string study_yaml(const Study& s) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << s.name;
  e << YAML::Key << "arms" << YAML::Value << YAML::BeginSeq;
  for (const auto& a : s.arms) {
    e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << a.name << YAML::Key << "config" << YAML::Value << a.config;
    if (!a.overrides.empty()) {
      e << YAML::Key << "overrides" << YAML::Value << YAML::BeginMap;
      for (const auto& o : a.overrides) {
        const size_t eq = o.find('=');
        e << YAML::Key << o.substr(0, eq) << YAML::Value << YAML::Load(o.substr(eq + 1));
      }
      e << YAML::EndMap;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  if (!s.tasks.empty()) e << YAML::Key << "tasks" << YAML::Value << YAML::Flow << s.tasks;
  e << YAML::Key << "seeds" << YAML::Value << YAML::Flow << s.seeds;
  e << YAML::Key << "evaluation" << YAML::Value << YAML::BeginMap;
  if (s.eval_episodes > 0) e << YAML::Key << "episodes" << YAML::Value << s.eval_episodes;
  e << YAML::Key << "checkpoint" << YAML::Value << (s.best ? "best" : "final");
  e << YAML::Key << "last" << YAML::Value << s.last_k << YAML::Key << "normalize" << YAML::Value << s.normalize
    << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace softrl::apps
