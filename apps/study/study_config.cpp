#include "apps/study/study_config.h"

#include <filesystem>
#include <set>
#include <string_view>

#include "apps/algos/run_config_yaml.h"
#include "apps/config/config_reader.h"
#include "apps/config/schema.h"

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

// Why `name` cannot name one directory of its own ("" when it can): a study's and each arm's name
// is one path component under studies/ and runs/, so that no two names share a directory and none
// escapes its parent. `strict`: the characters a name written in a study file may hold (names a
// grid makes also hold its values: brackets, spaces).
std::string unsafe_component(const std::string& name, bool strict = true) {
  if (name.empty()) return "it is empty";
  if (name == "." || name == "..") return "'" + name + "' is not a directory of its own";
  if (name.size() > 200) return "it is " + std::to_string(name.size()) + " characters long (200 at most)";
  for (char c : name) {
    if (c == '/' || c == '\0') return "it holds '/'";
    if (strict &&
        !(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_.@=,").find(c) != std::string_view::npos))
      return std::string("it holds '") + c + "'; letters, digits and - _ . @ = , only";
  }
  return "";
}

StudyArm parse_arm(const ConfigReader& r, const YAML::Node& n, const std::string& path, const fs::path& base) {
  if (!n.IsMap()) r.fail(path, "a mapping {name, config, overrides}", n);
  r.check_keys(n, path, {"name", "config", "overrides"});
  StudyArm a;
  a.name = r.text(n["name"], path + ".name", "a name (letters, digits, - _ .)");
  if (const std::string why = unsafe_component(a.name); !why.empty())
    r.fail_msg(path + ".name", "'" + a.name + "' cannot name the arm's directory: " + why);
  const fs::path cfg = r.text(n["config"], path + ".config", "the path of a run config");
  a.config = fs::absolute(cfg.is_absolute() ? cfg : base / cfg).lexically_normal().string();
  if (const YAML::Node o = n["overrides"]; o.IsDefined() && !o.IsNull()) {
    if (!o.IsMap()) r.fail(path + ".overrides", "a mapping of dotted keys to values", o);
    flatten_overrides(o, "", a.overrides);
  }
  return a;
}

// A grid multiplies every arm by each combination of its values: arm@key=value,key2=value2.
void expand_grid(const ConfigReader& r, const YAML::Node& g, const std::string& path, Study& s) {
  if (g.IsNull()) return;
  if (!g.IsMap() || g.size() == 0) r.fail(path, "a mapping of dotted keys to lists of values", g);
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;
  for (const auto& kv : g) {
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsSequence() || kv.second.size() == 0)
      r.fail(path + "." + key, "a non-empty list of values", kv.second);
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
  for (const StudyArm& a : expanded)
    if (const std::string why = unsafe_component(a.name, /*strict=*/false); !why.empty())
      r.fail_msg(path, "the arm '" + a.name + "' it makes cannot name a directory: " + why);
  s.arms = std::move(expanded);
}

YAML::Node arms_node(const Study& s) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& a : s.arms) {
    YAML::Node arm;
    arm["name"] = a.name;
    arm["config"] = a.config;
    for (const auto& o : a.overrides) {
      const size_t eq = o.find('=');
      arm["overrides"][o.substr(0, eq)] = YAML::Load(o.substr(eq + 1));
    }
    list.push_back(arm);
  }
  return list;
}

void read_seeds(const ConfigReader& r, const YAML::Node& n, const std::string& path, Study& s) {
  s.seeds.clear();
  if (n.IsSequence() && n.size() == 0) r.fail(path, "a seed count or a non-empty list of seeds", n);
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i)
      s.seeds.push_back(static_cast<uint64_t>(r.integer(n[i], path + "[" + std::to_string(i) + "]", 0)));
    return;
  }
  const int64_t count = r.integer(n, path, 1, 1000);
  for (int64_t i = 0; i < count; ++i) s.seeds.push_back(static_cast<uint64_t>(i));
}

// `base`: the study file's folder, against which arm configs resolve.
Schema<Study> schema(const fs::path& base) {
  using S = Study;
  return {
      custom<S>(
          "name", "a name (letters, digits, - _ . @ = ,)", "the study's name (its directory under studies/)",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& s) {
            s.name = r.text(n, p, "a name");
            if (const std::string why = unsafe_component(s.name); !why.empty())
              r.fail_msg(p, "'" + s.name + "' cannot name the study's directory: " + why);
          },
          [](const S& s) { return YAML::Node(s.name); }),
      custom<S>(
          "arms", "list of {name, config, overrides}", "what is compared: a run config each, with overrides",
          [base](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& s) {
            if (!n.IsSequence() || n.size() == 0) r.fail(p, "a non-empty list of arms", n);
            std::set<std::string> names;
            for (size_t i = 0; i < n.size(); ++i) {
              StudyArm a = parse_arm(r, n[i], p + "[" + std::to_string(i) + "]", base);
              if (!names.insert(a.name).second)
                r.fail_msg(p + "[" + std::to_string(i) + "].name", "duplicate arm name '" + a.name + "'");
              s.arms.push_back(std::move(a));
            }
          },
          arms_node)
          .required("expected a non-empty list of arms",
                    [](const SchemaContext&) {
                      return std::string("[{name: sac, config: ../sac_lunarlander_continuous.yaml}]");
                    }),
      custom<S>("grid", "mapping of dotted keys to lists of values",
                "every arm times each combination (arm@key=value,...); written expanded", expand_grid,
                [](const S&) { return YAML::Node(YAML::NodeType::Null); })
          .when([](const S&, const SchemaContext&) { return false; }),
      custom<S>(
          "tasks", "list of env ids", "run every arm on each (default: each arm's own env)",
          [](const ConfigReader& r, const YAML::Node& n, const std::string& p, S& s) {
            if (!n.IsSequence()) r.fail(p, "a list of environment ids", n);
            for (size_t i = 0; i < n.size(); ++i)
              s.tasks.push_back(r.text(n[i], p + "[" + std::to_string(i) + "]", "an env id"));
          },
          [](const S& s) { return YAML::Node(s.tasks); })
          .when([](const S& s, const SchemaContext&) { return !s.tasks.empty(); }),
      custom<S>("seeds", "integer N in [1, 1000] (seeds 0..N-1) or a list of seeds", "seeds of every cell", read_seeds,
                [](const S& s) { return YAML::Node(s.seeds); }),
      section<S>(
          "evaluation",
          {integer<S>(
               "episodes", [](auto& s) -> auto& { return s.eval_episodes; }, 1, 100000,
               "evaluation episodes per run (default: the arm configs' own)")
               .when([](const S& s, const SchemaContext&) { return s.eval_episodes > 0; }),
           choice<S, bool>(
               "checkpoint", [](auto& s) -> auto& { return s.best; }, {{"final", false}, {"best", true}},
               "score the final policy, or checkpoints/best.pt"),
           integer<S>(
               "last", [](auto& s) -> auto& { return s.last_k; }, 1, 1000, "score = mean of the last k evaluations"),
           boolean<S>(
               "normalize", [](auto& s) -> auto& { return s.normalize; },
               "scores between random play (0) and the heuristic (1)")},
          "how each run is scored"),
  };
}

Study from_node(const YAML::Node& root, const ConfigReader& r, const fs::path& base) {
  Study s;
  s.name = "study";
  for (uint64_t i = 0; i < 5; ++i) s.seeds.push_back(i);
  schema(base).read(r, root, "", s);
  // Every cell's config must load before anything runs.
  for (const StudyCell& c : s.cells()) {
    const StudyArm& arm =
        *std::find_if(s.arms.begin(), s.arms.end(), [&](const StudyArm& a) { return a.name == c.arm; });
    try {
      load_config(arm.config, c.overrides);
    } catch (const InputError& e) {
      throw InputError(r.source() + ": arm '" + c.arm + "'" + (c.task.empty() ? "" : " on " + c.task) + ": " +
                       e.what());
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
  e << YAML::BeginMap;
  schema({}).write(e, s, {});
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

void document_study_keys(std::vector<KeyDoc>& out) {
  Study defaults;
  defaults.name = "study";
  for (uint64_t i = 0; i < 5; ++i) defaults.seeds.push_back(i);
  schema({}).document(defaults, "", out);
}

}  // namespace softrl::apps
