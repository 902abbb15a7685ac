#include "agents/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

std::string shape(const std::vector<int64_t>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << "]";
  return o.str();
}
}  // namespace

void write_checkpoint(const std::string& path, const CheckpointHeader& h,
                      const std::function<void(torch::serialize::OutputArchive&)>& body) {
  torch::serialize::OutputArchive ar;
  ar.write("format", torch::tensor(h.format));
  ar.write("env_id", c10::IValue(h.env_id));
  ar.write("algo", c10::IValue(h.algo));
  ar.write("dims", torch::tensor({h.obs_dim, h.act_dim, h.num_actions}));
  ar.write("net_arch", torch::tensor(h.net_arch));
  ar.write("config_yaml", c10::IValue(h.config_yaml));
  ar.write("env_steps", torch::tensor(h.env_steps));
  body(ar);
  const std::filesystem::path final_path(path);
  if (final_path.has_parent_path()) std::filesystem::create_directories(final_path.parent_path());
  std::string payload;
  ar.save_to([&](const void* data, size_t n) {
    payload.append(static_cast<const char*>(data), n);
    return n;
  });
  std::string frame(kMagic, sizeof kMagic);
  put<int64_t>(frame, kCheckpointFormat);
  put<uint64_t>(frame, payload.size());
  put<uint64_t>(frame, fnv1a(payload.data(), payload.size()));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary);
    o.write(frame.data(), static_cast<std::streamsize>(frame.size()));
    o.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    o.flush();
    if (!o) throw CheckpointError(path + ": cannot write checkpoint (" + tmp + ")");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, final_path, ec);
  if (ec) throw CheckpointError(path + ": cannot move the checkpoint into place: " + ec.message());
}

OpenedCheckpoint open_checkpoint(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such checkpoint file");
  OpenedCheckpoint c;
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kFrame = sizeof kMagic + 3 * 8;
  if (bytes.size() < kFrame || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    throw CheckpointError(path + ": not a softrl checkpoint (no SOFTRLCK header)");
  int64_t format = 0;
  uint64_t length = 0, checksum = 0;
  std::memcpy(&format, bytes.data() + 8, 8);
  std::memcpy(&length, bytes.data() + 16, 8);
  std::memcpy(&checksum, bytes.data() + 24, 8);
  if (format != kCheckpointFormat)
    throw CheckpointError(path + ": checkpoint format " + std::to_string(format) + ", this softrl reads format " +
                          std::to_string(kCheckpointFormat));
  if (bytes.size() - kFrame != length)
    throw CheckpointError(path + ": truncated checkpoint (" + std::to_string(bytes.size() - kFrame) + " of " +
                          std::to_string(length) + " payload bytes)");
  if (fnv1a(bytes.data() + kFrame, length) != checksum)
    throw CheckpointError(path + ": corrupted checkpoint (checksum mismatch)");
  try {
    c.archive.load_from(bytes.data() + kFrame, length);
    torch::Tensor t;
    c10::IValue v;
    t = read_tensor(c.archive, "format");
    c.header.format = t.item<int64_t>();
    c.archive.read("env_id", v);
    c.header.env_id = v.toStringRef();
    c.archive.read("algo", v);
    c.header.algo = v.toStringRef();
    t = read_tensor(c.archive, "dims");
    c.header.obs_dim = t[0].item<int64_t>();
    c.header.act_dim = t[1].item<int64_t>();
    c.header.num_actions = t[2].item<int64_t>();
    t = read_tensor(c.archive, "net_arch");
    for (int64_t i = 0; i < t.numel(); ++i) c.header.net_arch.push_back(t[i].item<int64_t>());
    c.archive.read("config_yaml", v);
    c.header.config_yaml = v.toStringRef();
    t = read_tensor(c.archive, "env_steps");
    c.header.env_steps = t.item<int64_t>();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw CheckpointError(path + ": not a readable softrl checkpoint (truncated or corrupted?): " +
                          what.substr(0, what.find('\n')));
  }
  return c;
}

torch::Tensor read_tensor(torch::serialize::InputArchive& ar, const std::string& key) {
  torch::Tensor t;
  ar.read(key, t);
  return t;
}

void check_compatible(const CheckpointHeader& h, const std::string& path, const std::string& env_id, int64_t obs_dim,
                      int64_t act_dim, int64_t num_actions, const std::vector<int64_t>& net_arch) {
  if (h.env_id != env_id)
    throw CheckpointError(path + ": checkpoint was made for " + h.env_id + ", not " + env_id);
  if (h.obs_dim != obs_dim || h.act_dim != act_dim || h.num_actions != num_actions)
    throw CheckpointError(path + ": checkpoint observation/action sizes (" + std::to_string(h.obs_dim) + ", " +
                          std::to_string(h.act_dim) + ") do not match the environment's (" + std::to_string(obs_dim) +
                          ", " + std::to_string(act_dim) + ")");
  if (h.net_arch != net_arch)
    throw CheckpointError(path + ": checkpoint network architecture " + shape(h.net_arch) + " differs from " +
                          shape(net_arch));
}

}  // namespace softrl::agents
