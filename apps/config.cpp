#include "apps/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "envs/registry.h"

namespace softrl::apps {
namespace {

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
  if (n.IsSequence()) return "a list";
  return "a mapping";
}

class Reader {
 public:
  Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& expected, const YAML::Node& got) const {
    throw InputError(source_ + ": " + path + ": expected " + expected + ", got " + describe(got));
  }
  [[noreturn]] void fail_msg(const std::string& path, const std::string& msg) const {
    throw InputError(source_ + ": " + path + ": " + msg);
  }

  void check_keys(const YAML::Node& map, const std::string& path, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) fail(path.empty() ? "(top level)" : path, "a mapping", map);
    for (const auto& kv : map) {
      const std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail_msg(path.empty() ? k : path + "." + k, "unknown key; valid keys here: " + list);
      }
    }
  }

  template <class T>
  T scalar(const YAML::Node& n, const std::string& path, const char* expected) const {
    if (!n.IsScalar()) fail(path, expected, n);
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      fail(path, expected, n);
    }
  }

  int64_t integer(const YAML::Node& n, const std::string& path, int64_t lo, int64_t hi = INT64_MAX) const {
    std::ostringstream e;
    e << "an integer in [" << lo << ", " << (hi == INT64_MAX ? std::string("inf") : std::to_string(hi)) << "]";
    // Accept 1e6-style floats only when integral.
    if (!n.IsScalar()) fail(path, e.str(), n);
    double d;
    try {
      d = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(path, e.str(), n);
    }
    if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi))
      fail(path, e.str(), n);
    return static_cast<int64_t>(d);
  }

  double real(const YAML::Node& n, const std::string& path, double lo, double hi, bool lo_open = false) const {
    std::ostringstream e;
    e << "a number in " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    const double d = scalar<double>(n, path, e.str().c_str());
    if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d == lo)) fail(path, e.str(), n);
    return d;
  }

  bool boolean(const YAML::Node& n, const std::string& path) const { return scalar<bool>(n, path, "true or false"); }

 private:
  std::string source_;
};


void apply_override(YAML::Node root, const std::string& source, const std::string& ov) {
  const auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("override '" + ov + "': expected dotted.key=value (e.g. sac.batch_size=64)");
  const std::string key = ov.substr(0, eq), value = ov.substr(eq + 1);
  YAML::Node val;
  try {
    val = YAML::Load(value.empty() ? "\"\"" : value);
  } catch (const YAML::Exception& e) {
    throw InputError("override '" + ov + "': value is not valid YAML: " + e.msg);
  }
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw InputError("override '" + ov + "': empty key segment");
    parts.push_back(p);
  }
  std::vector<YAML::Node> chain = {root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsDefined() || next.IsNull()) chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
    chain.push_back(chain.back()[parts[i]]);
    if (!chain.back().IsMap())
      throw InputError("override '" + ov + "': " + source + " has a value, not a mapping, at " + parts[i]);
  }
  chain.back()[parts.back()] = val;
}

// The whole text as a number ("3e-4"), or nothing ("3e-4x", "").
std::optional<double> parse_whole_double(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

agents::Schedule parse_lr(const Reader& r, const YAML::Node& n, const std::string& path, std::string* text) {
  const char* expected = "a positive number or lin_<number> (e.g. 3e-4, lin_7.3e-4)";
  if (!n.IsScalar()) r.fail(path, expected, n);
  std::string s = n.Scalar();
  *text = s;
  agents::Schedule sch;
  if (s.rfind("lin_", 0) == 0) {
    sch.linear = true;
    s = s.substr(4);
  }
  const std::optional<double> v = parse_whole_double(s);
  if (!v) r.fail(path, expected, n);
  sch.initial = *v;
  if (!(sch.initial > 0 && sch.initial < 1)) r.fail(path, "a learning rate in (0, 1)", n);
  return sch;
}

void parse_ent_coef(const Reader& r, const YAML::Node& n, const std::string& path, agents::SacConfig& sac,
                    std::string* text) {
  const char* expected = "auto, auto_<initial value> or a positive number";
  if (!n.IsScalar()) r.fail(path, expected, n);
  const std::string s = n.Scalar();
  *text = s;
  std::string num = s;
  sac.auto_ent_coef = s.rfind("auto", 0) == 0;
  if (s == "auto") {
    sac.ent_coef_init = 1.0;
    return;
  }
  if (sac.auto_ent_coef) {
    if (s.rfind("auto_", 0) != 0) r.fail(path, expected, n);
    num = s.substr(5);
  }
  const std::optional<double> v = parse_whole_double(num);
  if (!v) r.fail(path, expected, n);
  sac.ent_coef_init = *v;
  if (!(sac.ent_coef_init > 0 && std::isfinite(sac.ent_coef_init))) r.fail(path, expected, n);
}

TrainConfig from_node(const YAML::Node& root, const std::string& source) {
  const Reader r(source);
  TrainConfig c;
  r.check_keys(root, "", {"env", "algo", "seed", "total_steps", "n_envs", "threads", "eval", "checkpoint", "log", "sac"});

  const YAML::Node env = root["env"];
  if (!env.IsDefined()) r.fail_msg("env", "missing; expected a mapping with env.id (one of " +
                                              [] {
                                                std::string s;
                                                for (const auto& id : envs::env_ids()) s += (s.empty() ? "" : ", ") + id;
                                                return s;
                                              }() + ")");
  r.check_keys(env, "env", {"id", "options"});
  c.env_id = r.scalar<std::string>(env["id"], "env.id", "an environment id");
  try {
    const auto names = envs::env_option_names(c.env_id);
    const YAML::Node opts = env["options"];
    if (opts.IsDefined() && !opts.IsNull()) {
      r.check_keys(opts, "env.options", std::set<std::string>(names.begin(), names.end()));
      for (const auto& kv : opts) {
        const std::string k = kv.first.as<std::string>();
        const std::string p = "env.options." + k;
        c.env_options[k] = k == "enable_wind" ? (r.boolean(kv.second, p) ? 1.0 : 0.0)
                                              : r.scalar<double>(kv.second, p, "a number");
      }
    }
    envs::make_env(c.env_id, c.env_options);  // validates option values
  } catch (const envs::EnvError& e) {
    r.fail_msg("env", e.what());
  }

  if (root["algo"].IsDefined()) {
    c.algo = r.scalar<std::string>(root["algo"], "algo", "sac");
    if (c.algo != "sac") r.fail(std::string("algo"), "sac (the only learner so far)", root["algo"]);
  }
  if (root["seed"].IsDefined()) c.seed = static_cast<uint64_t>(r.integer(root["seed"], "seed", 0));
  if (root["total_steps"].IsDefined()) c.total_steps = r.integer(root["total_steps"], "total_steps", 1);
  if (root["n_envs"].IsDefined()) c.n_envs = r.integer(root["n_envs"], "n_envs", 1, 256);
  if (root["threads"].IsDefined()) c.threads = static_cast<int>(r.integer(root["threads"], "threads", 1, 256));

  if (const YAML::Node e = root["eval"]; e.IsDefined()) {
    r.check_keys(e, "eval", {"every", "episodes"});
    if (e["every"].IsDefined()) c.eval_every = r.integer(e["every"], "eval.every", 0);
    if (e["episodes"].IsDefined()) c.eval_episodes = r.integer(e["episodes"], "eval.episodes", 1, 100000);
  }
  if (const YAML::Node k = root["checkpoint"]; k.IsDefined()) {
    r.check_keys(k, "checkpoint", {"every", "save_replay_buffer"});
    if (k["every"].IsDefined()) c.checkpoint_every = r.integer(k["every"], "checkpoint.every", 0);
    if (k["save_replay_buffer"].IsDefined())
      c.save_replay_buffer = r.boolean(k["save_replay_buffer"], "checkpoint.save_replay_buffer");
  }
  if (const YAML::Node l = root["log"]; l.IsDefined()) {
    r.check_keys(l, "log", {"every"});
    if (l["every"].IsDefined()) c.log_every = r.integer(l["every"], "log.every", 1);
  }
  if (const YAML::Node s = root["sac"]; s.IsDefined()) {
    r.check_keys(s, "sac", {"net_arch", "batch_size", "buffer_size", "gamma", "tau", "train_freq", "gradient_steps",
                            "learning_starts", "learning_rate", "ent_coef", "target_entropy", "target_entropy_scale"});
    agents::SacConfig& a = c.sac;
    if (const YAML::Node n = s["net_arch"]; n.IsDefined()) {
      if (!n.IsSequence() || n.size() == 0) r.fail("sac.net_arch", "a non-empty list of layer widths", n);
      a.net_arch.clear();
      for (size_t i = 0; i < n.size(); ++i)
        a.net_arch.push_back(r.integer(n[i], "sac.net_arch[" + std::to_string(i) + "]", 1, 65536));
    }
    if (s["batch_size"].IsDefined()) a.batch_size = r.integer(s["batch_size"], "sac.batch_size", 1, 1 << 20);
    if (s["buffer_size"].IsDefined()) a.buffer_size = r.integer(s["buffer_size"], "sac.buffer_size", 1, 100000000);
    if (s["gamma"].IsDefined()) a.gamma = r.real(s["gamma"], "sac.gamma", 0.0, 1.0);
    if (s["tau"].IsDefined()) a.tau = r.real(s["tau"], "sac.tau", 0.0, 1.0, true);
    if (s["train_freq"].IsDefined()) a.train_freq = r.integer(s["train_freq"], "sac.train_freq", 1);
    if (s["gradient_steps"].IsDefined()) a.gradient_steps = r.integer(s["gradient_steps"], "sac.gradient_steps", 0);
    if (s["learning_starts"].IsDefined()) a.learning_starts = r.integer(s["learning_starts"], "sac.learning_starts", 0);
    if (s["learning_rate"].IsDefined())
      a.learning_rate = parse_lr(r, s["learning_rate"], "sac.learning_rate", &c.learning_rate_text);
    if (s["ent_coef"].IsDefined()) parse_ent_coef(r, s["ent_coef"], "sac.ent_coef", a, &c.ent_coef_text);
    if (const YAML::Node t = s["target_entropy"]; t.IsDefined() && !(t.IsScalar() && t.Scalar() == "auto"))
      a.target_entropy = r.scalar<double>(t, "sac.target_entropy", "auto or a number");
    if (s["target_entropy_scale"].IsDefined())
      a.target_entropy_scale = r.real(s["target_entropy_scale"], "sac.target_entropy_scale", 0.0, 1.0, true);
  }
  if (c.sac.batch_size > c.sac.buffer_size)
    r.fail_msg("sac.batch_size", "must not exceed sac.buffer_size (" + std::to_string(c.sac.buffer_size) + ")");
  if (c.n_envs > c.sac.buffer_size) r.fail_msg("n_envs", "must not exceed sac.buffer_size");
  return c;
}

}  // namespace

TrainConfig parse_config(const std::string& text, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ")");
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw InputError(source + ": expected a mapping at the top level, got " + describe(root));
  for (const auto& ov : overrides) apply_override(root, source, ov);
  try {
    return from_node(root, source);
  } catch (const YAML::Exception& e) {
    throw InputError(source + ": " + e.msg);
  }
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot read the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides);
}

std::string to_yaml(const TrainConfig& c) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "env" << YAML::Value << YAML::BeginMap << YAML::Key << "id" << YAML::Value << c.env_id;
  if (!c.env_options.empty()) {
    e << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : c.env_options) {
      e << YAML::Key << k << YAML::Value;
      if (k == "enable_wind") e << (v != 0.0);
      else e << v;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  e << YAML::Key << "algo" << YAML::Value << c.algo;
  e << YAML::Key << "seed" << YAML::Value << c.seed;
  e << YAML::Key << "total_steps" << YAML::Value << c.total_steps;
  e << YAML::Key << "n_envs" << YAML::Value << c.n_envs;
  e << YAML::Key << "threads" << YAML::Value << c.threads;
  e << YAML::Key << "eval" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value << c.eval_every
    << YAML::Key << "episodes" << YAML::Value << c.eval_episodes << YAML::EndMap;
  e << YAML::Key << "checkpoint" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value
    << c.checkpoint_every << YAML::Key << "save_replay_buffer" << YAML::Value << c.save_replay_buffer << YAML::EndMap;
  e << YAML::Key << "log" << YAML::Value << YAML::BeginMap << YAML::Key << "every" << YAML::Value << c.log_every
    << YAML::EndMap;
  const agents::SacConfig& a = c.sac;
  e << YAML::Key << "sac" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "net_arch" << YAML::Value << YAML::Flow << a.net_arch;
  e << YAML::Key << "batch_size" << YAML::Value << a.batch_size;
  e << YAML::Key << "buffer_size" << YAML::Value << a.buffer_size;
  e << YAML::Key << "gamma" << YAML::Value << a.gamma;
  e << YAML::Key << "tau" << YAML::Value << a.tau;
  e << YAML::Key << "train_freq" << YAML::Value << a.train_freq;
  e << YAML::Key << "gradient_steps" << YAML::Value << a.gradient_steps;
  e << YAML::Key << "learning_starts" << YAML::Value << a.learning_starts;
  e << YAML::Key << "learning_rate" << YAML::Value << c.learning_rate_text;
  e << YAML::Key << "ent_coef" << YAML::Value << c.ent_coef_text;
  if (a.target_entropy) e << YAML::Key << "target_entropy" << YAML::Value << *a.target_entropy;
  else e << YAML::Key << "target_entropy" << YAML::Value << "auto";
  e << YAML::Key << "target_entropy_scale" << YAML::Value << a.target_entropy_scale;
  e << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace softrl::apps
