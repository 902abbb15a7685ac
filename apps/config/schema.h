#pragma once
// One declaration per config key. A section of a config is a Schema<T>: a table of fields, each
// with its name, the member of T it fills, its kind (range or choices), a one-line doc and, where
// it matters, when it applies. Parsing, validation, the "valid keys here" lists, the resolved
// config's writer, `softrl config` and the docs' key tables all come from that table. Defaults
// are T's own member initialisers (the library's structs), read off a default-made T.
// Anchors: TRL's dataclass configs with field help, RL Zoo's per-algorithm sections.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "agents/core/schedule.h"
#include "apps/config/config_reader.h"
#include "objectives/softmax.h"

namespace softrl::apps {

// What decides whether a key applies besides the section's own values: the run's task.
struct SchemaContext {
  std::string env_id;
  bool discrete_actions = true;
};
// The context of a task id (its action space); an unknown id gives a context where every key applies.
SchemaContext context_for_env(const std::string& env_id);

// One row of the key reference: "sac.gamma", "a number in [0, 1]", "0.99", "discount factor".
struct KeyDoc {
  std::string path, kind, default_value, doc;
};

// A double as the shortest text that reads back to the same value ("0.99", not "0.98999999999999999").
std::string format_double(double v);
// A node's one-line YAML ("[64, 64]", "0.99", "~").
std::string one_line(const YAML::Node& n);

template <class T>
class Schema;

template <class T>
struct Field {
  std::string name;
  std::string kind;  // what the value may be, as the docs and error messages say it
  std::string doc;
  std::function<void(const ConfigReader& r, const YAML::Node& n, const std::string& path, T& out)> read;
  std::function<YAML::Node(const T& in)> value;
  std::function<bool(const T& in, const SchemaContext& ctx)> applies;  // empty: always
  std::string missing;  // non-empty: the key is required; the message says why
  // A required key's value in `softrl config`'s printed default (YAML text), for the run's task.
  std::function<std::string(const SchemaContext&)> example;
  std::shared_ptr<const Schema<T>> children;  // a nested mapping of keys on the same T

  Field&& when(std::function<bool(const T&, const SchemaContext&)> p) && {
    applies = std::move(p);
    return std::move(*this);
  }
  Field&& required(std::string why, std::function<std::string(const SchemaContext&)> example_value) && {
    missing = std::move(why);
    example = std::move(example_value);
    return std::move(*this);
  }
  bool applies_to(const T& in, const SchemaContext& ctx) const { return !applies || applies(in, ctx); }
};

template <class T>
class Schema {
 public:
  Schema(std::initializer_list<Field<T>> fields) : fields_(fields) {}
  explicit Schema(std::vector<Field<T>> fields) : fields_(std::move(fields)) {}

  const std::vector<Field<T>>& fields() const { return fields_; }
  std::set<std::string> keys() const {
    std::set<std::string> k;
    for (const auto& f : fields_) k.insert(f.name);
    return k;
  }
  // Fields of `other` after this one's (a section that extends another's keys).
  Schema extended(std::initializer_list<Field<T>> more) const {
    std::vector<Field<T>> all = fields_;
    all.insert(all.end(), more.begin(), more.end());
    return Schema(std::move(all));
  }

  // Reads the keys present in `map` (undefined or null: none) into `out`; unknown and repeated
  // keys, wrong kinds and missing required keys fail naming `path`.
  // `also_allowed`: keys the caller reads itself (the run config's algorithm section).
  void read(const ConfigReader& r, const YAML::Node& map, const std::string& path, T& out,
            const std::set<std::string>& also_allowed = {}) const {
    const bool empty = !map.IsDefined() || map.IsNull();
    if (!empty) {
      std::set<std::string> allowed = keys();
      allowed.insert(also_allowed.begin(), also_allowed.end());
      r.check_keys(map, path, allowed);
    }
    for (const auto& f : fields_) {
      const std::string key_path = path.empty() ? f.name : path + "." + f.name;
      const YAML::Node n = empty ? YAML::Node() : map[f.name];
      if (!n.IsDefined()) {
        if (!f.missing.empty()) r.fail_msg(key_path, "missing; " + f.missing);
        continue;
      }
      if (f.children) {
        f.children->read(r, n, key_path, out);
      } else {
        f.read(r, n, key_path, out);
      }
    }
  }

  // Writes the keys that apply (inside a mapping the caller opened); `comments` adds each doc.
  void write(YAML::Emitter& e, const T& in, const SchemaContext& ctx, bool comments = false) const {
    for (const auto& f : fields_) {
      if (!f.applies_to(in, ctx)) continue;
      e << YAML::Key << f.name << YAML::Value;
      if (f.children) {
        e << YAML::BeginMap;
        f.children->write(e, in, ctx, comments);
        e << YAML::EndMap;
        continue;
      }
      const YAML::Node v = f.value(in);
      if (v.IsSequence() && v.size() > 0 && v[0].IsMap()) {  // a list of mappings: one per line
        e << YAML::BeginSeq;
        for (const auto& item : v) e << YAML::Flow << item;
        e << YAML::EndSeq;
      } else {
        if (v.IsSequence() || v.IsMap()) e << YAML::Flow;
        e << v;
      }
      if (comments && !f.doc.empty()) e << YAML::Comment(f.doc);
    }
  }

  // The keys that apply as a mapping (a section inside a list, or a key of several shapes).
  YAML::Node to_node(const T& in, const SchemaContext& ctx = {}) const {
    YAML::Node n(YAML::NodeType::Map);
    for (const auto& f : fields_)
      if (f.applies_to(in, ctx)) n[f.name] = f.children ? f.children->to_node(in, ctx) : f.value(in);
    return n;
  }

  // Fills the required keys with their examples (a default made printable: `softrl config`).
  void fill_examples(const ConfigReader& r, T& out, const SchemaContext& ctx, const std::string& path) const {
    for (const auto& f : fields_) {
      const std::string key_path = path.empty() ? f.name : path + "." + f.name;
      if (f.children) f.children->fill_examples(r, out, ctx, key_path);
      else if (f.example) f.read(r, YAML::Load(f.example(ctx)), key_path, out);
    }
  }

  // The key reference of this section with `defaults`' values, paths under `prefix`.
  void document(const T& defaults, const std::string& prefix, std::vector<KeyDoc>& out) const {
    for (const auto& f : fields_) {
      const std::string path = prefix.empty() ? f.name : prefix + "." + f.name;
      if (f.children) {
        out.push_back({path, "mapping", "", f.doc});
        f.children->document(defaults, path, out);
        continue;
      }
      out.push_back({path, f.kind, f.missing.empty() ? one_line(f.value(defaults)) : "(required)", f.doc});
    }
  }

 private:
  std::vector<Field<T>> fields_;
};

// ---- Field kinds. `get` gives the member of a T or a const T: [](auto& s) -> auto& { return s.x; }

template <class T, class Get>
Field<T> integer(std::string name, Get get, int64_t lo, int64_t hi, std::string doc) {
  using V = std::remove_cvref_t<decltype(get(std::declval<T&>()))>;
  return {.name = std::move(name),
          .kind = "integer in [" + std::to_string(lo) + ", " +
                  (hi == INT64_MAX ? std::string("inf") : std::to_string(hi)) + "]",
          .doc = std::move(doc),
          .read = [=](const ConfigReader& r, const YAML::Node& n, const std::string& p,
                      T& o) { get(o) = static_cast<V>(r.integer(n, p, lo, hi)); },
          .value = [=](const T& o) { return YAML::Node(get(o)); }};
}

// A finite number in [lo, hi], or (lo, hi] when lo_open.
template <class T, class Get>
Field<T> real(std::string name, Get get, double lo, double hi, std::string doc, bool lo_open = false) {
  return {
      .name = std::move(name),
      .kind = std::string("number in ") + (lo_open ? "(" : "[") + format_double(lo) + ", " + format_double(hi) + "]",
      .doc = std::move(doc),
      .read = [=](const ConfigReader& r, const YAML::Node& n, const std::string& p,
                  T& o) { get(o) = r.real(n, p, lo, hi, lo_open); },
      .value = [=](const T& o) { return YAML::Node(format_double(get(o))); }};
}

// A number or null (off): a std::optional<double> member.
template <class T, class Get>
Field<T> optional_real(std::string name, Get get, double lo, double hi, std::string doc, bool lo_open = false) {
  return {.name = std::move(name),
          .kind = std::string("number in ") + (lo_open ? "(" : "[") + format_double(lo) + ", " + format_double(hi) +
                  "] or null (off)",
          .doc = std::move(doc),
          .read =
              [=](const ConfigReader& r, const YAML::Node& n, const std::string& p, T& o) {
                if (n.IsNull()) get(o).reset();
                else get(o) = r.real(n, p, lo, hi, lo_open);
              },
          .value =
              [=](const T& o) {
                const std::optional<double>& v = get(o);
                return v ? YAML::Node(format_double(*v)) : YAML::Node(YAML::NodeType::Null);
              }};
}

// A temperature (or an inverse temperature) the softmax core takes: [1e-30, hi], hi <= 1e30.
template <class T, class Get>
Field<T> temperature(std::string name, Get get, double hi, std::string doc) {
  return real<T>(std::move(name), get, kMinTemperature, std::min(hi, kMaxTemperature), std::move(doc));
}

template <class T, class Get>
Field<T> boolean(std::string name, Get get, std::string doc) {
  return {
      .name = std::move(name),
      .kind = "true or false",
      .doc = std::move(doc),
      .read = [=](const ConfigReader& r, const YAML::Node& n, const std::string& p, T& o) { get(o) = r.boolean(n, p); },
      .value = [=](const T& o) { return YAML::Node(static_cast<bool>(get(o))); }};
}

// A string; with `nullable`, null (and the empty string) mean "none".
template <class T, class Get>
Field<T> text(std::string name, Get get, std::string expected, std::string doc, bool nullable = false) {
  return {.name = std::move(name),
          .kind = nullable ? expected + " or null" : expected,
          .doc = std::move(doc),
          .read =
              [=](const ConfigReader& r, const YAML::Node& n, const std::string& p, T& o) {
                if (nullable && n.IsNull()) get(o).clear();
                else get(o) = r.text(n, p, expected.c_str());
              },
          .value =
              [=](const T& o) {
                const std::string& v = get(o);
                return nullable && v.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Node(v);
              }};
}

// One of named values of an enum: {{"min", Reduce::min}, {"mean", Reduce::mean}}.
template <class E>
using Choices = std::vector<std::pair<std::string, E>>;
// "a, b or c"; a name listed twice (two values written the same way) counts once.
template <class E>
std::string choice_list(const Choices<E>& choices) {
  std::vector<std::string> names;
  for (const auto& c : choices)
    if (std::find(names.begin(), names.end(), c.first) == names.end()) names.push_back(c.first);
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

template <class T, class E, class Get>
Field<T> choice(std::string name, Get get, Choices<E> choices, std::string doc) {
  const std::string expected = choice_list(choices);
  return {.name = std::move(name),
          .kind = "one of " + expected,
          .doc = std::move(doc),
          .read =
              [=](const ConfigReader& r, const YAML::Node& n, const std::string& p, T& o) {
                const std::string v = r.text(n, p, expected.c_str());
                for (const auto& [label, value] : choices)
                  if (v == label) {
                    get(o) = value;
                    return;
                  }
                r.fail_msg(p, "expected " + expected + ", got '" + v + "'");
              },
          .value =
              [=](const T& o) {
                for (const auto& [label, value] : choices)
                  if (get(o) == value) return YAML::Node(label);
                return YAML::Node(YAML::NodeType::Null);
              }};
}

// A non-empty list of hidden-layer widths.
std::vector<int64_t> read_widths(const ConfigReader& r, const YAML::Node& n, const std::string& path);
template <class T, class Get>
Field<T> widths(std::string name, Get get, std::string doc) {
  return {.name = std::move(name),
          .kind = "list of layer widths in [1, 65536]",
          .doc = std::move(doc),
          .read = [=](const ConfigReader& r, const YAML::Node& n, const std::string& p,
                      T& o) { get(o) = read_widths(r, n, p); },
          .value = [=](const T& o) { return YAML::Node(get(o)); }};
}

// A learning rate "3e-4", or a linear decay to 0 over the run "lin_7.3e-4" (RL Zoo).
agents::Schedule read_schedule(const ConfigReader& r, const YAML::Node& n, const std::string& path);
std::string schedule_text(const agents::Schedule& s);
template <class T, class Get>
Field<T> schedule(std::string name, Get get, std::string doc) {
  return {.name = std::move(name),
          .kind = "number in (0, 1), or lin_<number> (linear decay to 0)",
          .doc = std::move(doc),
          .read = [=](const ConfigReader& r, const YAML::Node& n, const std::string& p,
                      T& o) { get(o) = read_schedule(r, n, p); },
          .value = [=](const T& o) { return YAML::Node(schedule_text(get(o))); }};
}

// A nested mapping of keys that fill the same T (`eval: {every, episodes}`).
template <class T>
Field<T> section(std::string name, Schema<T> children, std::string doc) {
  return {.name = std::move(name),
          .kind = "mapping",
          .doc = std::move(doc),
          .children = std::make_shared<const Schema<T>>(std::move(children))};
}

// A key whose reading and writing are the section's own (values of several shapes).
template <class T>
Field<T> custom(std::string name, std::string kind, std::string doc,
                std::function<void(const ConfigReader&, const YAML::Node&, const std::string&, T&)> read,
                std::function<YAML::Node(const T&)> value) {
  return {.name = std::move(name),
          .kind = std::move(kind),
          .doc = std::move(doc),
          .read = std::move(read),
          .value = std::move(value)};
}

}  // namespace softrl::apps
