#include "data/hdf5_dataset.h"

#include <hdf5.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json.h"

namespace softrl::data {
namespace {

// The kind of a JSON value that may be absent: yaml-cpp throws when asked the kind of a key a
// mapping does not have, so absent keys are checked first.
bool is_scalar(const YAML::Node& n) { return n.IsDefined() && n.IsScalar(); }
bool is_map(const YAML::Node& n) { return n.IsDefined() && n.IsMap(); }
bool is_sequence(const YAML::Node& n) { return n.IsDefined() && n.IsSequence(); }

// Owns an HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  operator hid_t() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack to stderr by default; softrl reports its own messages instead.
void silence_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// numpy's bool as h5py stores it: an enum over int8 {FALSE: 0, TRUE: 1}.
Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  const int8_t f = 0, v = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Writing (into an in-memory file image).

struct Writer {
  std::string path;
  Handle dcpl{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  Handle gcpl{H5Pcreate(H5P_GROUP_CREATE), H5Pclose};
  Writer(std::string p) : path(std::move(p)) {
    H5Pset_obj_track_times(dcpl, 0);
    H5Pset_obj_track_times(gcpl, 0);
  }
  void check(herr_t status, const std::string& what) const {
    if (status < 0) throw IoError(path + ": cannot write " + what + " (HDF5 error)");
  }
  void dataset(hid_t loc, const char* name, hid_t type, std::vector<hsize_t> dims, const void* data) const {
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    Handle set(H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    if (!set.ok()) check(-1, name);
    const bool empty = std::any_of(dims.begin(), dims.end(), [](hsize_t d) { return d == 0; });
    if (!empty) check(H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
  }
  void attr(hid_t obj, const char* name, hid_t type, std::vector<hsize_t> dims, const void* data) const {
    Handle space(
        dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
        H5Sclose);
    Handle a(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.ok()) check(-1, std::string("attribute ") + name);
    check(H5Awrite(a, type, data), std::string("attribute ") + name);
  }
  void attr(hid_t obj, const char* name, int64_t v) const { attr(obj, name, H5T_NATIVE_INT64, {}, &v); }
  void attr(hid_t obj, const char* name, double v) const { attr(obj, name, H5T_NATIVE_DOUBLE, {}, &v); }
  void attr(hid_t obj, const char* name, const std::string& v) const {
    const char* p = v.c_str();
    attr(obj, name, string_type(), {}, &p);
  }
  Handle group(hid_t loc, const std::string& name) const {
    Handle g(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) check(-1, "group " + name);
    return g;
  }
};

std::string space_json(const envs::Space& s) {
  if (s.kind == envs::Space::Kind::discrete)
    return JsonObject().add("type", "Discrete").add("dtype", "int64").add("start", int64_t{0}).add("n", s.n).str();
  std::vector<std::string> lo, hi;
  for (float v : s.low) lo.push_back(json_number(v));
  for (float v : s.high) hi.push_back(json_number(v));
  return JsonObject()
      .add("type", "Box")
      .add("dtype", "float32")
      .raw("shape", json_array({std::to_string(s.low.size())}))
      .raw("low", json_array(lo))
      .raw("high", json_array(hi))
      .str();
}

// Gymnasium's EnvSpec.to_json fields; kwargs are the task's options.
std::string env_spec_json(const Dataset& d) {
  JsonObject kwargs;
  // Typed as Gymnasium's kwargs are: booleans as true / false (enable_wind), numbers as numbers.
  const envs::TaskEntry& task = envs::task(d.env_id);
  for (const auto& [name, value] : d.env_options) {
    const auto o =
        std::find_if(task.options.begin(), task.options.end(), [&](const auto& x) { return x.name == name; });
    if (o != task.options.end() && o->type == envs::OptionSpec::Type::boolean) kwargs.add(name, value != 0.0);
    else kwargs.add(name, value);
  }
  const bool lander = d.env_id.rfind("LunarLander", 0) == 0;
  if (lander) kwargs.add("continuous", !d.discrete());
  else kwargs.add("hardcore", d.env_id.find("Hardcore") != std::string::npos);
  return JsonObject()
      .add("id", d.env_id)
      .add("entry_point", lander ? "gymnasium.envs.box2d.lunar_lander:LunarLander"
                                 : "gymnasium.envs.box2d.bipedal_walker:BipedalWalker")
      .add("reward_threshold", d.env_spec.reward_threshold)
      .add("max_episode_steps", static_cast<int64_t>(d.env_spec.max_episode_steps))
      .raw("kwargs", kwargs.str())
      .str();
}

std::string sources_json(const std::vector<SourceInfo>& sources) {
  std::vector<std::string> items;
  for (const auto& s : sources)
    items.push_back(JsonObject().add("kind", s.kind).add("description", s.description).add("weight", s.weight).str());
  return json_array(items);
}

void write_episode(const Writer& w, hid_t file, const Dataset& d, int64_t e, const Handle& bools) {
  const int64_t* st = d.episode_start.data_ptr<int64_t>();
  const int64_t b = st[e], t = st[e + 1] - st[e], od = d.obs_dim(), ad = d.act_dim();
  const hsize_t ht = static_cast<hsize_t>(t);
  Handle g = w.group(file, "episode_" + std::to_string(e));
  w.attr(g, "id", e);
  w.attr(g, "total_steps", t);
  w.attr(g, "seed", d.episode_seed[e].item<int64_t>());
  w.attr(g, "group", d.episode_group[e].item<int64_t>());
  w.attr(g, "source", d.episode_source[e].item<int64_t>());
  w.attr(g, "return", d.episode_return[e].item<double>());
  std::vector<float> obs(static_cast<size_t>((t + 1) * od));
  std::memcpy(obs.data(), d.observations.data_ptr<float>() + b * od, sizeof(float) * t * od);
  std::memcpy(obs.data() + t * od, d.final_observations.data_ptr<float>() + e * od, sizeof(float) * od);
  w.dataset(g, "observations", H5T_NATIVE_FLOAT, {ht + 1, static_cast<hsize_t>(od)}, obs.data());
  if (d.discrete()) w.dataset(g, "actions", H5T_NATIVE_INT64, {ht}, d.actions.data_ptr<int64_t>() + b);
  else w.dataset(g, "actions", H5T_NATIVE_FLOAT, {ht, static_cast<hsize_t>(ad)}, d.actions.data_ptr<float>() + b * ad);
  w.dataset(g, "rewards", H5T_NATIVE_DOUBLE, {ht}, d.rewards.data_ptr<double>() + b);
  w.dataset(g, "terminations", bools, {ht}, d.terminations.data_ptr<bool>() + b);
  w.dataset(g, "truncations", bools, {ht}, d.truncations.data_ptr<bool>() + b);
  Handle infos = w.group(g, "infos");
  w.dataset(infos, "behaviour_log_prob", H5T_NATIVE_DOUBLE, {ht}, d.behaviour_log_prob.data_ptr<double>() + b);
  w.dataset(infos, "source", H5T_NATIVE_INT64, {ht}, d.step_source.data_ptr<int64_t>() + b);
  if (!d.discrete())
    w.dataset(infos, "pre_tanh_action", H5T_NATIVE_FLOAT, {ht, static_cast<hsize_t>(ad)},
              d.pre_tanh_actions.data_ptr<float>() + b * ad);
}

}  // namespace

void write_dataset(const std::string& path, const Dataset& d, bool replace) {
  silence_hdf5();
  const Writer w(path);
  std::string image;
  {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl, 1 << 22, 0);  // in memory only; the image is written atomically below
    Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl, 0);
    Handle file(H5Fcreate(("softrl-memory-" + std::to_string(reinterpret_cast<uintptr_t>(&d))).c_str(), H5F_ACC_TRUNC,
                          fcpl, fapl),
                H5Fclose);
    if (!file.ok()) throw IoError(path + ": cannot create an HDF5 file in memory");
    w.attr(file, "dataset_id", d.id);
    w.attr(file, "total_episodes", d.num_episodes());
    w.attr(file, "total_steps", d.num_steps());
    w.attr(file, "env_spec", env_spec_json(d));
    w.attr(file, "observation_space", space_json(d.env_spec.observation_space));
    w.attr(file, "action_space", space_json(d.env_spec.action_space));
    w.attr(file, "softrl_format_version", kDatasetFormatVersion);
    w.attr(file, "softrl_sources", sources_json(d.sources));
    w.attr(file, "softrl_group_size", d.group_size);
    w.attr(file, "softrl_group_seeds", H5T_NATIVE_INT64, {static_cast<hsize_t>(d.group_seeds.size())},
           d.group_seeds.data());
    w.attr(file, "softrl_collection_config", d.collection_config);
    const Handle bools = bool_type();
    for (int64_t e = 0; e < d.num_episodes(); ++e) write_episode(w, file, d, e, bools);
    w.check(H5Fflush(file, H5F_SCOPE_GLOBAL), "the file");
    const ssize_t size = H5Fget_file_image(file, nullptr, 0);
    if (size < 0) w.check(-1, "the file image");
    image.resize(static_cast<size_t>(size));
    if (H5Fget_file_image(file, image.data(), image.size()) != size) w.check(-1, "the file image");
  }
  write_file_atomic(path, image, replace);
}

// ---------------------------------------------------------------------------------------------
// Reading.

namespace {

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const { throw InputError(path + ": " + what); }

  Handle attr_handle(hid_t obj, const std::string& where, const char* name) const {
    if (H5Aexists(obj, name) <= 0) fail(where + "missing attribute '" + name + "' (not a softrl / Minari dataset?)");
    Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
    if (!a.ok()) fail(where + "cannot read attribute '" + name + "'");
    return a;
  }
  // One number: an integer attribute (int64_t) or an integer / float one (double).
  template <class T>
  T attr_number(hid_t obj, const std::string& where, const char* name) const {
    constexpr bool integer = std::is_same_v<T, int64_t>;
    Handle a = attr_handle(obj, where, name);
    Handle type(H5Aget_type(a), H5Tclose);
    Handle space(H5Aget_space(a), H5Sclose);
    const H5T_class_t c = H5Tget_class(type);
    T v{};
    if ((c != H5T_INTEGER && (integer || c != H5T_FLOAT)) || H5Sget_simple_extent_npoints(space) != 1 ||
        H5Aread(a, integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, &v) < 0)
      fail(where + "attribute '" + name + "': expected one " + (integer ? "integer" : "number"));
    return v;
  }
  int64_t attr_int(hid_t obj, const std::string& where, const char* name) const {
    return attr_number<int64_t>(obj, where, name);
  }
  double attr_double(hid_t obj, const std::string& where, const char* name) const {
    return attr_number<double>(obj, where, name);
  }
  std::string attr_string(hid_t obj, const std::string& where, const char* name) const {
    Handle a = attr_handle(obj, where, name);
    Handle type(H5Aget_type(a), H5Tclose);
    Handle space(H5Aget_space(a), H5Sclose);
    if (H5Tget_class(type) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1)
      fail(where + "attribute '" + name + "': expected a string");
    if (H5Tis_variable_str(type) > 0) {
      char* p = nullptr;
      const Handle mem = string_type();
      if (H5Aread(a, mem, &p) < 0 || !p) fail(where + "attribute '" + name + "': unreadable string");
      std::string s(p);
      H5free_memory(p);
      return s;
    }
    std::string s(H5Tget_size(type), '\0');
    if (H5Aread(a, type, s.data()) < 0) fail(where + "attribute '" + name + "': unreadable string");
    return s.substr(0, s.find('\0'));
  }
  std::vector<int64_t> attr_ints(hid_t obj, const char* name) const {
    Handle a = attr_handle(obj, "", name);
    Handle type(H5Aget_type(a), H5Tclose);
    Handle space(H5Aget_space(a), H5Sclose);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    std::vector<int64_t> v(static_cast<size_t>(std::max<hssize_t>(n, 0)));
    if (H5Tget_class(type) != H5T_INTEGER || n < 0 || (n > 0 && H5Aread(a, H5T_NATIVE_INT64, v.data()) < 0))
      fail(std::string("attribute '") + name + "': expected integers");
    return v;
  }
  // A JSON value that must be a number: the attribute and the key named when it is not.
  double json_number_at(const YAML::Node& n, const std::string& what) const {
    double v = 0;
    if (!is_scalar(n) || !YAML::convert<double>::decode(n, v) || !std::isfinite(v))
      fail("attribute " + what + ": expected a number, got " + (is_scalar(n) ? "'" + n.Scalar() + "'" : "no number"));
    return v;
  }
  int64_t json_int_at(const YAML::Node& n, const std::string& what) const {
    const double v = json_number_at(n, what);
    if (v != std::floor(v) || std::abs(v) > 9007199254740992.0)
      fail("attribute " + what + ": expected an integer, got '" + n.Scalar() + "'");
    return static_cast<int64_t>(v);
  }
  YAML::Node json(const std::string& text, const char* name) const {
    try {
      return YAML::Load(text);
    } catch (const YAML::Exception&) {
      fail(std::string("attribute '") + name + "' is not valid JSON");
    }
  }

  // Before anything is allocated for it: dataset `name` of `loc` declares `dims`, and an
  // unfiltered one stores all of its bytes in the file (a crafted size is refused here, not met
  // as an out-of-memory error or a read past the end).
  void check_declared_size(hid_t loc, const std::string& where, const char* name,
                           const std::vector<hsize_t>& dims) const {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) fail(where + "missing dataset '" + name + "'");
    Handle set(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose);
    if (!set.ok()) fail(where + "'" + name + "' is not a dataset");
    Handle space(H5Dget_space(set), H5Sclose);
    std::vector<hsize_t> got(static_cast<size_t>(std::max(0, H5Sget_simple_extent_ndims(space))));
    H5Sget_simple_extent_dims(space, got.data(), nullptr);
    if (got != dims) fail(where + "'" + name + "' does not have the shape its episode's total_steps declares");
    Handle type(H5Dget_type(set), H5Tclose);
    Handle dcpl(H5Dget_create_plist(set), H5Pclose);
    const uint64_t bytes = static_cast<uint64_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type);
    if (H5Pget_nfilters(dcpl) == 0 && H5Dget_storage_size(set) < bytes)
      fail(where + "'" + name + "' declares " + std::to_string(bytes) + " bytes but the file stores " +
           std::to_string(H5Dget_storage_size(set)) + " (inconsistent: truncated or crafted)");
  }

  // Reads dataset `name` of `loc` whose shape must be `dims` and whose type class `cls` into `out`.
  void read(hid_t loc, const std::string& where, const char* name, H5T_class_t cls, hid_t mem_type,
            const std::vector<hsize_t>& dims, void* out) const {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) fail(where + "missing dataset '" + name + "'");
    Handle set(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose);
    if (!set.ok()) fail(where + "'" + name + "' is not a dataset");
    Handle space(H5Dget_space(set), H5Sclose);
    Handle type(H5Dget_type(set), H5Tclose);
    std::vector<hsize_t> got(static_cast<size_t>(std::max(0, H5Sget_simple_extent_ndims(space))));
    H5Sget_simple_extent_dims(space, got.data(), nullptr);
    if (got != dims) {
      auto shape = [](const std::vector<hsize_t>& v) {
        std::string s = "(";
        for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + (v.size() == 1 ? ",)" : ")");
      };
      fail(where + "'" + name + "' has shape " + shape(got) + ", expected " + shape(dims));
    }
    if (H5Tget_class(type) != cls) fail(where + "'" + name + "' has another element type than expected");
    if (H5Sget_simple_extent_npoints(space) == 0) return;
    if (H5Dread(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
      fail(where + "cannot read '" + name + "' (truncated or corrupt file)");
  }
  void read_bools(hid_t loc, const std::string& where, const char* name, hsize_t t, bool* out) const {
    // h5py's numpy bools are an int8 enum; plain integer 0/1 columns are accepted too.
    Handle set(H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1, H5Dclose);
    if (!set.ok()) fail(where + "missing dataset '" + name + "'");
    Handle type(H5Dget_type(set), H5Tclose);
    std::vector<int8_t> v(t);
    if (H5Tget_class(type) == H5T_ENUM) read(loc, where, name, H5T_ENUM, bool_type(), {t}, v.data());
    else read(loc, where, name, H5T_INTEGER, H5T_NATIVE_INT8, {t}, v.data());
    for (hsize_t i = 0; i < t; ++i) out[i] = v[i] != 0;
  }
};

// A boolean kwarg: JSON true / false, or 0 / 1 (what datasets of softrl 0.x wrote).
bool boolean_kwarg(const YAML::Node& n) {
  if (is_scalar(n) && (n.Scalar() == "0" || n.Scalar() == "1")) return n.Scalar() == "1";
  return n.as<bool>();
}

void read_header(const Reader& r, hid_t file, Dataset& d, const std::optional<envs::EnvSpec>& expected) {
  const int64_t version = r.attr_int(file, "", "softrl_format_version");
  if (version != kDatasetFormatVersion)
    r.fail("dataset format version " + std::to_string(version) + "; this softrl reads version " +
           std::to_string(kDatasetFormatVersion));
  d.id = r.attr_string(file, "", "dataset_id");
  const YAML::Node spec = r.json(r.attr_string(file, "", "env_spec"), "env_spec");
  if (!spec.IsMap() || !is_scalar(spec["id"])) r.fail("attribute 'env_spec' has no id");
  d.env_id = spec["id"].Scalar();
  try {
    const envs::TaskEntry& task = envs::task(d.env_id);
    d.env_spec = envs::make_env(d.env_id)->spec();
    if (const YAML::Node kw = spec["kwargs"]; is_map(kw))
      for (const auto& o : task.options)
        if (kw[o.name].IsDefined())
          d.env_options[o.name] = o.type == envs::OptionSpec::Type::boolean ? (boolean_kwarg(kw[o.name]) ? 1.0 : 0.0)
                                                                            : kw[o.name].as<double>();
  } catch (const envs::EnvError& e) {
    r.fail(std::string("env_spec: ") + e.what());
  } catch (const YAML::Exception& e) {
    r.fail("env_spec.kwargs: " + e.msg);
  }
  // The stored spaces must be the task's.
  const auto check_space = [&](const char* name, const envs::Space& s) {
    const YAML::Node j = r.json(r.attr_string(file, "", name), name);
    const bool discrete = s.kind == envs::Space::Kind::discrete;
    const std::string at = std::string("'") + name + "'";
    const bool ok = j.IsMap() && is_scalar(j["type"]) && j["type"].Scalar() == (discrete ? "Discrete" : "Box") &&
                    (discrete ? r.json_int_at(j["n"], at + " n") == s.n
                              : (is_sequence(j["shape"]) && j["shape"].size() == 1 &&
                                 r.json_int_at(j["shape"][0], at + " shape") == s.dim()));
    if (!ok)
      r.fail(std::string(name) + " does not match " + d.env_id + "'s " +
             (discrete ? "Discrete(" + std::to_string(s.n) + ")" : "Box(" + std::to_string(s.dim()) + ",)"));
  };
  check_space("observation_space", d.env_spec.observation_space);
  check_space("action_space", d.env_spec.action_space);
  if (expected) {
    const envs::EnvSpec& x = *expected;
    if (x.id != d.env_id) r.fail("the dataset was collected on " + d.env_id + ", the run is on " + x.id);
    if (x.observation_space.dim() != d.obs_dim() || x.action_space.kind != d.env_spec.action_space.kind ||
        x.action_space.dim() != d.act_dim() || x.action_space.n != d.env_spec.action_space.n)
      r.fail("the dataset's observation / action shapes differ from the run's");
  }
  const YAML::Node sources = r.json(r.attr_string(file, "", "softrl_sources"), "softrl_sources");
  if (!sources.IsSequence()) r.fail("attribute 'softrl_sources': expected a JSON list");
  for (const auto& s : sources) {
    if (!s.IsMap() || !is_scalar(s["kind"])) r.fail("attribute 'softrl_sources': expected objects with a kind");
    d.sources.push_back({s["kind"].Scalar(), is_scalar(s["description"]) ? s["description"].Scalar() : "",
                         s["weight"].IsDefined() ? r.json_number_at(s["weight"], "'softrl_sources' weight") : 1.0});
  }
  d.group_size = r.attr_int(file, "", "softrl_group_size");
  d.group_seeds = r.attr_ints(file, "softrl_group_seeds");
  d.collection_config = r.attr_string(file, "", "softrl_collection_config");
}

void read_episode(const Reader& r, hid_t file, Dataset& d, int64_t e, std::vector<float>& obs) {
  const std::string name = "episode_" + std::to_string(e);
  const std::string where = name + ": ";
  Handle g(H5Gopen2(file, name.c_str(), H5P_DEFAULT), H5Gclose);
  const int64_t b = d.episode_start[e].item<int64_t>(), t = d.episode_start[e + 1].item<int64_t>() - b;
  const int64_t od = d.obs_dim(), ad = d.act_dim();
  const hsize_t ht = static_cast<hsize_t>(t);
  d.episode_seed[e] = r.attr_int(g, where, "seed");
  d.episode_group[e] = r.attr_int(g, where, "group");
  d.episode_source[e] = r.attr_int(g, where, "source");
  d.episode_return[e] = r.attr_double(g, where, "return");
  obs.resize(static_cast<size_t>((t + 1) * od));
  r.read(g, where, "observations", H5T_FLOAT, H5T_NATIVE_FLOAT, {ht + 1, static_cast<hsize_t>(od)}, obs.data());
  std::memcpy(d.observations.data_ptr<float>() + b * od, obs.data(), sizeof(float) * t * od);
  std::memcpy(d.final_observations.data_ptr<float>() + e * od, obs.data() + t * od, sizeof(float) * od);
  if (d.discrete()) r.read(g, where, "actions", H5T_INTEGER, H5T_NATIVE_INT64, {ht}, d.actions.data_ptr<int64_t>() + b);
  else
    r.read(g, where, "actions", H5T_FLOAT, H5T_NATIVE_FLOAT, {ht, static_cast<hsize_t>(ad)},
           d.actions.data_ptr<float>() + b * ad);
  r.read(g, where, "rewards", H5T_FLOAT, H5T_NATIVE_DOUBLE, {ht}, d.rewards.data_ptr<double>() + b);
  r.read_bools(g, where, "terminations", ht, d.terminations.data_ptr<bool>() + b);
  r.read_bools(g, where, "truncations", ht, d.truncations.data_ptr<bool>() + b);
  if (H5Lexists(g, "infos", H5P_DEFAULT) <= 0) r.fail(where + "missing group 'infos'");
  Handle infos(H5Gopen2(g, "infos", H5P_DEFAULT), H5Gclose);
  const std::string iw = where + "infos/";
  r.read(infos, iw, "behaviour_log_prob", H5T_FLOAT, H5T_NATIVE_DOUBLE, {ht},
         d.behaviour_log_prob.data_ptr<double>() + b);
  r.read(infos, iw, "source", H5T_INTEGER, H5T_NATIVE_INT64, {ht}, d.step_source.data_ptr<int64_t>() + b);
  if (!d.discrete())
    r.read(infos, iw, "pre_tanh_action", H5T_FLOAT, H5T_NATIVE_FLOAT, {ht, static_cast<hsize_t>(ad)},
           d.pre_tanh_actions.data_ptr<float>() + b * ad);
}

}  // namespace

Dataset read_dataset(const std::string& path, const std::optional<envs::EnvSpec>& expected_env) {
  silence_hdf5();
  const Reader r{path};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    r.fail("no such dataset file (resolved to " + std::filesystem::absolute(path, ec).string() +
           "; softrl collect CONFIG.yaml --out " + path + " makes one)");
  if (!std::filesystem::is_regular_file(path, ec)) r.fail("not a regular file");
  if (H5Fis_hdf5(path.c_str()) <= 0) r.fail("not an HDF5 file (a softrl dataset is HDF5, written by softrl collect)");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) {
    // Opened without HDF5's file lock it reads: then another process holds that lock (a writer).
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_file_locking(fapl, false, true);
    Handle unlocked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose);
    if (unlocked.ok()) r.fail("in use by another process that has it open for writing; close it there and retry");
    r.fail("cannot open the HDF5 file (truncated or corrupt)");
  }
  Dataset d;
  read_header(r, file, d, expected_env);
  const int64_t episodes = r.attr_int(file, "", "total_episodes"), steps = r.attr_int(file, "", "total_steps");
  if (episodes <= 0) r.fail("the dataset is empty (total_episodes = " + std::to_string(episodes) + ")");
  std::vector<int64_t> lengths(static_cast<size_t>(episodes));
  int64_t sum = 0;
  for (int64_t e = 0; e < episodes; ++e) {
    const std::string name = "episode_" + std::to_string(e);
    if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0)
      r.fail("missing group '" + name + "' (total_episodes says " + std::to_string(episodes) + ")");
    Handle g(H5Gopen2(file, name.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) r.fail("'" + name + "' is not a group");
    lengths[e] = r.attr_int(g, name + ": ", "total_steps");
    if (lengths[e] < 1 || lengths[e] > (int64_t{1} << 40))
      r.fail(name + ": total_steps must be in [1, 2^40], got " + std::to_string(lengths[e]));
    r.check_declared_size(g, name + ": ", "observations",
                          {static_cast<hsize_t>(lengths[e]) + 1, static_cast<hsize_t>(d.obs_dim())});
    sum += lengths[e];
  }
  if (sum != steps)
    r.fail("the episodes hold " + std::to_string(sum) + " steps, total_steps says " + std::to_string(steps));
  allocate(d, lengths);
  std::vector<float> obs;
  for (int64_t e = 0; e < episodes; ++e) read_episode(r, file, d, e, obs);
  check_consistent(d, path);
  return d;
}

}  // namespace softrl::data
