#include "agents/checkpoint.h"

#include <filesystem>
#include <sstream>

namespace softrl::agents {
namespace {
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
  const std::string tmp = path + ".tmp";
  try {
    ar.save_to(tmp);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": cannot write checkpoint: " + e.what_without_backtrace());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, final_path, ec);
  if (ec) throw CheckpointError(path + ": cannot move the checkpoint into place: " + ec.message());
}

OpenedCheckpoint open_checkpoint(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such checkpoint file");
  OpenedCheckpoint c;
  try {
    c.archive.load_from(path);
    torch::Tensor t;
    c10::IValue v;
    c.archive.read("format", t);
    c.header.format = t.item<int64_t>();
    if (c.header.format != kCheckpointFormat)
      throw CheckpointError(path + ": checkpoint format " + std::to_string(c.header.format) + ", this softrl reads format " +
                            std::to_string(kCheckpointFormat));
    c.archive.read("env_id", v);
    c.header.env_id = v.toStringRef();
    c.archive.read("algo", v);
    c.header.algo = v.toStringRef();
    c.archive.read("dims", t);
    c.header.obs_dim = t[0].item<int64_t>();
    c.header.act_dim = t[1].item<int64_t>();
    c.header.num_actions = t[2].item<int64_t>();
    c.archive.read("net_arch", t);
    for (int64_t i = 0; i < t.numel(); ++i) c.header.net_arch.push_back(t[i].item<int64_t>());
    c.archive.read("config_yaml", v);
    c.header.config_yaml = v.toStringRef();
    c.archive.read("env_steps", t);
    c.header.env_steps = t.item<int64_t>();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": not a readable softrl checkpoint (truncated or corrupted?): " +
                          std::string(e.what()).substr(0, 200));
  }
  return c;
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
