#include "agents/core/policy.h"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <sstream>

namespace softrl::agents {

PolicySpec PolicySpec::for_env(const envs::EnvSpec& env, std::vector<int64_t> hidden) {
  PolicySpec s;
  const bool discrete = env.action_space.kind == envs::Space::Kind::discrete;
  s.kind = discrete ? Kind::categorical : Kind::tanh_gaussian;
  s.obs_dim = env.observation_space.dim();
  s.act_dim = discrete ? 1 : env.action_space.dim();
  s.num_actions = discrete ? env.action_space.n : 0;
  s.hidden = std::move(hidden);
  return s;
}

std::string PolicySpec::describe() const {
  std::ostringstream o;
  o << (kind == Kind::categorical ? "categorical " : "tanh-Gaussian ") << obs_dim << " -> [";
  for (size_t i = 0; i < hidden.size(); ++i) o << (i ? ", " : "") << hidden[i];
  o << "] -> " << (kind == Kind::categorical ? num_actions : act_dim);
  return o.str();
}

PolicyHead::PolicyHead(const PolicySpec& spec) : spec_(spec) {
  if (discrete()) categorical_ = CategoricalPolicy(spec.obs_dim, spec.num_actions, spec.hidden);
  else gaussian_ = GaussianPolicy(spec.obs_dim, spec.act_dim, spec.hidden);
}

torch::nn::Module& PolicyHead::module() {
  if (discrete()) return *categorical_;
  return *gaussian_;
}

std::vector<torch::Tensor> PolicyHead::parameters() { return module().parameters(); }

torch::Tensor PolicyHead::act(const torch::Tensor& obs, bool deterministic, c10::optional<at::Generator> gen) {
  torch::NoGradGuard ng;
  if (discrete()) return deterministic ? categorical_->deterministic(obs) : categorical_->sample(obs, gen);
  return deterministic ? gaussian_->deterministic(obs) : gaussian_->sample_action(obs, gen);
}

PolicyHead::Distribution PolicyHead::distribution(const torch::Tensor& obs) {
  torch::NoGradGuard ng;
  if (discrete()) return {.logits = categorical_->logits(obs)};
  const auto p = gaussian_->params(obs);
  return {.mean = p.mu, .log_std = p.log_std};
}

torch::Tensor PolicyHead::log_prob(const torch::Tensor& obs, const torch::Tensor& actions) {
  if (discrete()) return categorical_->log_prob(obs, actions);
  return gaussian_->log_prob(obs, actions);
}

torch::Tensor PolicyHead::entropy(const torch::Tensor& obs) {
  if (discrete()) return categorical_->entropy(obs);
  return gaussian_->gaussian_entropy(obs);
}

void PolicyHead::save(torch::serialize::OutputArchive& ar) const {
  write_policy_record(ar, discrete(), spec_.obs_dim, spec_.act_dim, spec_.num_actions, spec_.hidden);
  torch::serialize::OutputArchive net;
  if (discrete()) categorical_->save(net);
  else gaussian_->save(net);
  ar.write("net", net);
}

PolicySpec PolicyHead::read_spec(torch::serialize::InputArchive& ar) {
  const torch::Tensor s = read_tensor(ar, "spec"), h = read_tensor(ar, "hidden");
  PolicySpec spec;
  spec.kind = s[0].item<int64_t>() == 0 ? PolicySpec::Kind::categorical : PolicySpec::Kind::tanh_gaussian;
  spec.obs_dim = s[1].item<int64_t>();
  spec.act_dim = s[2].item<int64_t>();
  spec.num_actions = s[3].item<int64_t>();
  for (int64_t i = 0; i < h.numel(); ++i) spec.hidden.push_back(h[i].item<int64_t>());
  return spec;
}

void PolicyHead::load(torch::serialize::InputArchive& ar, const std::string& source) {
  const PolicySpec saved = read_spec(ar);
  if (!(saved == spec_))
    throw CheckpointError(source + ": the saved policy is " + saved.describe() + ", this run's is " + spec_.describe());
  torch::serialize::InputArchive net;
  ar.read("net", net);
  load_module_checked(module(), net, source);
}

namespace {
template <class F>
auto as_checkpoint_error(const std::string& path, F&& f) {
  try {
    return f();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw CheckpointError(path + ": the policy does not match its header (" + what.substr(0, what.find('\n')) + ")");
  }
}
}  // namespace

void restore_policy(PolicyHead& head, OpenedCheckpoint& c) {
  as_checkpoint_error(c.path, [&] {
    torch::serialize::InputArchive section = c.section("policy");
    head.load(section, c.path);
  });
}

LoadedPolicy load_policy(const std::string& path) {
  OpenedCheckpoint c = open_checkpoint(path);
  LoadedPolicy out;
  out.header = c.header;
  const PolicySpec spec = as_checkpoint_error(path, [&] {
    torch::serialize::InputArchive section = c.section("policy");
    return PolicyHead::read_spec(section);
  });
  out.policy = std::make_shared<PolicyHead>(spec);
  restore_policy(*out.policy, c);
  return out;
}

namespace {
// An IEEE 754 value is infinite or NaN exactly when its exponent bits are all ones. Testing for that
// on the raw bits is one vectorized read of the tensor; torch::isfinite allocates a bool tensor
// and makes two passes (x == x, |x| != inf), which after every SAC update cost ~0.75 ms, 8 % of a
// two-thread training step, all of it serial.
template <class Bits>
bool finite_bits(const void* data, int64_t n, Bits exponent) {
  const auto* p = static_cast<const Bits*>(data);
  Bits bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= static_cast<Bits>((p[i] & exponent) == exponent);
  return bad == 0;
}
}  // namespace

bool all_finite(const std::vector<torch::Tensor>& tensors, int64_t part, int64_t parts) {
  torch::NoGradGuard ng;
  for (const auto& t : tensors) {
    const bool plain = t.is_contiguous() && t.device().is_cpu();
    const bool f32 = plain && t.scalar_type() == torch::kFloat32, f64 = plain && t.scalar_type() == torch::kFloat64;
    const int64_t begin = t.numel() * part / parts, end = t.numel() * (part + 1) / parts;
    bool ok = true;
    if (f32) ok = finite_bits<uint32_t>(static_cast<const uint32_t*>(t.data_ptr()) + begin, end - begin, 0x7f800000u);
    else if (f64)
      ok =
          finite_bits<uint64_t>(static_cast<const uint64_t*>(t.data_ptr()) + begin, end - begin, 0x7ff0000000000000ull);
    else if (part == 0) ok = torch::isfinite(t).all().item<bool>();
    if (!ok) return false;
  }
  return true;
}

PolicyActor::PolicyActor(PolicyHead& policy, bool deterministic, uint64_t seed)
    : policy_(policy),
      deterministic_(deterministic),
      gen_(at::detail::createCPUGenerator(seed)) {}

std::vector<float> PolicyActor::act(std::span<const float> obs) {
  const torch::Tensor x =
      torch::from_blob(const_cast<float*>(obs.data()), {1, static_cast<int64_t>(obs.size())}, torch::kFloat32).clone();
  const torch::Tensor a = policy_.act(x, deterministic_, gen_).to(torch::kFloat32).reshape({-1}).contiguous();
  return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
}

std::shared_ptr<PolicyHead> seeded_policy(const PolicySpec& spec, uint64_t seed) {
  torch::manual_seed(seed);
  return std::make_shared<PolicyHead>(spec);
}

}  // namespace softrl::agents
