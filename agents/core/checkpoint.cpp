#include "agents/core/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace softrl::agents {
namespace {
constexpr char kMagic[8] = {'S', 'O', 'F', 'T', 'R', 'L', 'C', 'K'};

uint64_t fnv1a(const char* data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return h;
}

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string read_string(torch::serialize::InputArchive& ar, const std::string& key) {
  c10::IValue v;
  ar.read(key, v);
  return v.toStringRef();
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
  if (h.format == 1) {
    const torch::Tensor t = read_tensor(c.archive, "net_arch");
    for (int64_t i = 0; i < t.numel(); ++i) h.net_arch.push_back(t[i].item<int64_t>());
  }
  h.config_yaml = read_string(c.archive, "config_yaml");
  h.env_steps = read_tensor(c.archive, "env_steps").item<int64_t>();
}

// Format 1's layout: "learner" (SAC's state, the actor under "actor") and "trainer" (the loop's
// state and the run's progress).
std::string format1_location(const std::string& section) {
  if (section == "learner") return "learner";
  if (section == "loop" || section == "run") return "trainer";
  return "";
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
  ar.write("format", torch::tensor(kCheckpointFormat));
  ar.write("env_id", c10::IValue(h.env_id));
  ar.write("algo", c10::IValue(h.algo));
  ar.write("dims", torch::tensor({h.obs_dim, h.act_dim, h.num_actions}));
  ar.write("config_yaml", c10::IValue(h.config_yaml));
  ar.write("env_steps", torch::tensor(h.env_steps));
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
  bool found = false;
  if (header.format == 1) {
    const std::string where = format1_location(name);
    if (name == "policy") {
      torch::serialize::InputArchive learner;
      found = archive.try_read("learner", learner) && learner.try_read("actor", sub);
    } else if (!where.empty()) {
      found = archive.try_read(where, sub);
    }
  } else {
    found = archive.try_read(name, sub);
  }
  if (!found) throw CheckpointError(path + ": no \"" + name + "\" section in this checkpoint");
  return sub;
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
    read_header(c);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw CheckpointError(
        path + ": not a readable softrl checkpoint (truncated or corrupted?): " + what.substr(0, what.find('\n')));
  }
  if (c.header.format != format)
    throw CheckpointError(path + ": corrupted checkpoint (frame says format " + std::to_string(format) +
                          ", header says " + std::to_string(c.header.format) + ")");
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
