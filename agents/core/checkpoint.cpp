#include "agents/core/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fnv1a.h"

namespace softrl::agents {
namespace {
constexpr char kMagic[8] = {'S', 'O', 'F', 'T', 'R', 'L', 'C', 'K'};

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string read_string(torch::serialize::InputArchive& ar, const std::string& key) {
  c10::IValue v;
  ar.read(key, v);
  return v.toStringRef();
}

// A tensor whose elements all lie inside its storage. The archive reader accepts any storage
// offset, size and stride the file declares, so a crafted file can point a tensor past its storage:
// every later read would leave it.
void check_in_bounds(const torch::Tensor& t, const std::string& path, const std::string& name) {
  if (!t.defined() || t.numel() == 0) return;
  const auto fail = [&](const std::string& why) {
    throw CheckpointError(path + ": tensor " + name + " " + why + " (a crafted or corrupted checkpoint)");
  };
  if (t.storage_offset() < 0) fail("has a negative storage offset");
  int64_t last = t.storage_offset();  // the index of the furthest element
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0) fail("has a negative stride");
    if (t.size(d) > 1 && t.stride(d) > (INT64_MAX - last) / (t.size(d) - 1)) fail("has strides beyond any storage");
    last += (t.size(d) - 1) * t.stride(d);
  }
  const int64_t capacity = static_cast<int64_t>(t.storage().nbytes() / t.element_size());
  if (last >= capacity)
    fail("reaches element " + std::to_string(last) + " of a storage of " + std::to_string(capacity) + " elements");
}

void check_value_in_bounds(const c10::IValue& v, const std::string& path, const std::string& name) {
  if (v.isTensor()) check_in_bounds(v.toTensor(), path, name);
  else if (v.isTensorList())
    for (const torch::Tensor& t : v.toTensorVector()) check_in_bounds(t, path, name);
  else if (v.isList())
    for (const c10::IValue& e : v.toListRef()) check_value_in_bounds(e, path, name);
  else if (v.isTuple())
    for (const c10::IValue& e : v.toTupleRef().elements()) check_value_in_bounds(e, path, name);
  else if (v.isGenericDict())
    for (const auto& kv : v.toGenericDict()) check_value_in_bounds(kv.value(), path, name);
}

// Every tensor of the archive, however deep, in bounds; before anything reads one.
void check_tensors_in_bounds(torch::serialize::InputArchive& ar, const std::string& path, const std::string& prefix) {
  for (const std::string& key : ar.keys()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    torch::serialize::InputArchive sub;
    c10::IValue value;
    if (ar.try_read(key, sub)) check_tensors_in_bounds(sub, path, name);
    else if (ar.try_read(key, value)) check_value_in_bounds(value, path, name);
  }
}

void read_header(OpenedCheckpoint& c) {
  CheckpointHeader& h = c.header;
  h.format = read_tensor(c.archive, "format").item<int64_t>();
  h.env_id = read_string(c.archive, "env_id");
  h.algo = read_string(c.archive, "algo");
  const torch::Tensor dims = read_tensor(c.archive, "dims");
  h.obs_dim = dims[0].item<int64_t>();
  h.act_dim = dims[1].item<int64_t>();
  h.num_actions = dims[2].item<int64_t>();
  h.config_yaml = read_string(c.archive, "config_yaml");
  h.env_steps = read_tensor(c.archive, "env_steps").item<int64_t>();
}

void write_header(torch::serialize::OutputArchive& ar, const CheckpointHeader& h) {
  ar.write("format", torch::tensor(kCheckpointFormat));
  ar.write("env_id", c10::IValue(h.env_id));
  ar.write("algo", c10::IValue(h.algo));
  ar.write("dims", torch::tensor({h.obs_dim, h.act_dim, h.num_actions}));
  ar.write("config_yaml", c10::IValue(h.config_yaml));
  ar.write("env_steps", torch::tensor(h.env_steps));
}

// Everything `from` holds, into `to`: nested archives, tensors and other values.
void copy_archive(torch::serialize::InputArchive& from, torch::serialize::OutputArchive& to) {
  for (const std::string& key : from.keys()) {
    torch::serialize::InputArchive sub;
    c10::IValue value;
    if (from.try_read(key, sub)) {
      torch::serialize::OutputArchive out;
      copy_archive(sub, out);
      to.write(key, out);
    } else if (from.try_read(key, value)) {
      if (value.isTensor()) to.write(key, value.toTensor());
      else to.write(key, value);
    }
  }
}

torch::serialize::InputArchive reloaded(torch::serialize::OutputArchive& ar) {
  std::string bytes;
  ar.save_to([&](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  torch::serialize::InputArchive in;
  in.load_from(bytes.data(), bytes.size());
  return in;
}

// Format 1 (SAC runs before the learner / loop split) rewritten as format 2 when it is opened, so
// that nothing else reads the old layout. Format 1 kept "learner" (SAC's state, with the actor's
// weights under "actor" and the run's generator) and "trainer" (the loop's state and the run's
// progress); the policy's shape was in the header ("net_arch"), and the vector env's first seeds
// were base + i ("venv_base_seed").
void upgrade_format1(OpenedCheckpoint& c) {
  torch::serialize::InputArchive learner, trainer, actor;
  c.archive.read("learner", learner);
  c.archive.read("trainer", trainer);
  learner.read("actor", actor);
  const torch::Tensor net_arch = read_tensor(c.archive, "net_arch").to(torch::kInt64).contiguous();

  torch::serialize::OutputArchive up, policy, net, learner_out, loop, run;
  write_header(up, c.header);
  const bool discrete = c.header.num_actions > 0;
  write_policy_record(
      policy, discrete, c.header.obs_dim, c.header.act_dim, c.header.num_actions,
      std::vector<int64_t>(net_arch.data_ptr<int64_t>(), net_arch.data_ptr<int64_t>() + net_arch.numel()));
  copy_archive(actor, net);
  policy.write("net", net);
  copy_archive(learner, learner_out);
  copy_archive(trainer, loop);
  loop.write("generator_state", read_tensor(learner, "generator_state"));
  const int64_t base = read_tensor(trainer, "venv_base_seed").item<int64_t>();
  std::vector<int64_t> first_seeds;
  for (torch::Tensor t; trainer.try_read("venv_actions_" + std::to_string(first_seeds.size()), t);)
    first_seeds.push_back(base + static_cast<int64_t>(first_seeds.size()));
  loop.write("venv_first_seeds", torch::tensor(first_seeds));
  copy_archive(trainer, run);
  up.write("policy", policy);
  up.write("learner", learner_out);
  up.write("loop", loop);
  up.write("run", run);
  c.archive = reloaded(up);
  c.header.format = kCheckpointFormat;
  c.header.upgraded_from = 1;
}
}  // namespace

CheckpointHeader CheckpointHeader::for_env(const envs::EnvSpec& spec) {
  CheckpointHeader h;
  h.env_id = spec.id;
  const bool discrete = spec.action_space.kind == envs::Space::Kind::discrete;
  h.obs_dim = spec.observation_space.dim();
  h.act_dim = discrete ? 1 : spec.action_space.dim();
  h.num_actions = discrete ? spec.action_space.n : 0;
  return h;
}

void write_checkpoint(const std::string& path, const CheckpointHeader& h,
                      const std::vector<CheckpointSection>& sections) {
  torch::serialize::OutputArchive ar;
  write_header(ar, h);
  for (const auto& s : sections) {
    torch::serialize::OutputArchive sub;
    s.write(sub);
    ar.write(s.name, sub);
  }
  std::string payload;
  ar.save_to([&](const void* data, size_t n) {
    payload.append(static_cast<const char*>(data), n);
    return n;
  });
  std::string frame(kMagic, sizeof kMagic);
  put<int64_t>(frame, kCheckpointFormat);
  put<uint64_t>(frame, payload.size());
  put<uint64_t>(frame, fnv1a(payload.data(), payload.size()));
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  write_file_atomic(target, frame + payload);
}

torch::serialize::InputArchive OpenedCheckpoint::section(const std::string& name) {
  torch::serialize::InputArchive sub;
  if (!archive.try_read(name, sub)) throw CheckpointError(path + ": no \"" + name + "\" section in this checkpoint");
  return sub;
}

void write_policy_record(torch::serialize::OutputArchive& ar, bool categorical, int64_t obs_dim, int64_t act_dim,
                         int64_t num_actions, const std::vector<int64_t>& hidden) {
  ar.write("spec", torch::tensor({int64_t{categorical ? 0 : 1}, obs_dim, act_dim, num_actions}));
  ar.write("hidden", torch::tensor(hidden));
}

OpenedCheckpoint open_checkpoint(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such checkpoint file");
  OpenedCheckpoint c;
  c.path = path;
  // The frame first: a large file that is not a checkpoint is refused before it is read.
  constexpr size_t kFrame = sizeof kMagic + 3 * 8;
  const uintmax_t file_size = std::filesystem::file_size(path);
  std::ifstream in(path, std::ios::binary);
  std::string bytes(kFrame, '\0');
  if (!in.read(bytes.data(), kFrame) || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    throw CheckpointError(path + ": not a softrl checkpoint (no SOFTRLCK header)");
  int64_t format = 0;
  uint64_t length = 0, checksum = 0;
  std::memcpy(&format, bytes.data() + 8, 8);
  std::memcpy(&length, bytes.data() + 16, 8);
  std::memcpy(&checksum, bytes.data() + 24, 8);
  if (format < 1 || format > kCheckpointFormat)
    throw CheckpointError(path + ": checkpoint format " + std::to_string(format) + ", this softrl reads formats 1 to " +
                          std::to_string(kCheckpointFormat));
  if (file_size - kFrame != length)
    throw CheckpointError(path + ": truncated checkpoint (" + std::to_string(file_size - kFrame) + " of " +
                          std::to_string(length) + " payload bytes)");
  bytes.resize(kFrame + length);
  if (!in.read(bytes.data() + kFrame, static_cast<std::streamsize>(length)))
    throw IoError(path + ": cannot read the checkpoint");
  if (fnv1a(bytes.data() + kFrame, length) != checksum)
    throw CheckpointError(path + ": corrupted checkpoint (checksum mismatch)");
  try {
    c.archive.load_from(bytes.data() + kFrame, length);
    check_tensors_in_bounds(c.archive, path, "");
    read_header(c);
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw CheckpointError(
        path + ": not a readable softrl checkpoint (truncated or corrupted?): " + what.substr(0, what.find('\n')));
  }
  if (c.header.format != format)
    throw CheckpointError(path + ": corrupted checkpoint (frame says format " + std::to_string(format) +
                          ", header says " + std::to_string(c.header.format) + ")");
  if (format == 1) {
    try {
      upgrade_format1(c);
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      throw CheckpointError(path + ": not a readable format 1 checkpoint: " + what.substr(0, what.find('\n')));
    }
  }
  return c;
}

torch::Tensor read_tensor(torch::serialize::InputArchive& ar, const std::string& key) {
  torch::Tensor t;
  ar.read(key, t);
  return t;
}

void load_module_checked(torch::nn::Module& module, torch::serialize::InputArchive& ar, const std::string& source) {
  const auto params = module.named_parameters();
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& p : params) shapes.push_back(p.value().sizes().vec());
  module.load(ar);
  size_t i = 0;
  torch::NoGradGuard ng;
  for (const auto& p : module.named_parameters()) {
    const torch::Tensor& t = p.value();
    if (t.sizes().vec() != shapes[i++] || t.scalar_type() != torch::kFloat32)
      throw CheckpointError(source + ": tensor " + p.key() + " has shape " + c10::str(t.sizes()) + " (" +
                            std::string(c10::toString(t.scalar_type())) + "), expected " + c10::str(shapes[i - 1]));
    if (!torch::isfinite(t).all().item<bool>())
      throw CheckpointError(source + ": tensor " + p.key() + " is not finite");
  }
}

std::filesystem::path checkpoint_of(const std::string& target) {
  const std::filesystem::path p = target;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p / "checkpoints" / "latest.pt" : p;
}

void check_compatible(const CheckpointHeader& h, const std::string& path, const envs::EnvSpec& env) {
  if (h.env_id != env.id) throw CheckpointError(path + ": checkpoint was made for " + h.env_id + ", not " + env.id);
  const CheckpointHeader e = CheckpointHeader::for_env(env);
  if (h.obs_dim != e.obs_dim || h.act_dim != e.act_dim || h.num_actions != e.num_actions)
    throw CheckpointError(path + ": checkpoint spaces (observation " + std::to_string(h.obs_dim) + ", action " +
                          std::to_string(h.act_dim) + "/" + std::to_string(h.num_actions) +
                          ") do not match the environment's (" + std::to_string(e.obs_dim) + ", " +
                          std::to_string(e.act_dim) + "/" + std::to_string(e.num_actions) + ")");
}

}  // namespace softrl::agents
