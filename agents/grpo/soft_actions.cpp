#include "agents/grpo/soft_actions.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "objectives/softmax.h"

namespace softrl::agents {
namespace {
// SofT-GRPO's sampler and actor: the noise clamp and log(p + 1e-6).
constexpr double kRefNoiseMin = -1.5, kRefNoiseMax = 3.0, kRefProbEps = 1e-6, kRefMinLogProb = -3.0;
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

int64_t SoftActionSettings::num_actions() const {
  return execution == Execution::prototype_mixture ? static_cast<int64_t>(prototypes.size()) : 4;
}

double SoftActionSettings::noise_min() const { return score == Score::gumbel_reference ? kRefNoiseMin : -kInf; }
double SoftActionSettings::noise_max() const { return score == Score::gumbel_reference ? kRefNoiseMax : kInf; }

grpo::SoftDensityOptions SoftActionSettings::density_options() const {
  grpo::SoftDensityOptions o;
  o.temperature = temperature;
  o.categorical = score == Score::categorical;
  if (score == Score::gumbel_reference) {
    o.noise_min = kRefNoiseMin, o.noise_max = kRefNoiseMax, o.prob_eps = kRefProbEps, o.min_log_prob = kRefMinLogProb;
    o.mean_over_entries = true;
  } else {
    o.noise_min = -kInf, o.noise_max = kInf, o.prob_eps = 0, o.min_log_prob = std::nullopt;
    o.mean_over_entries = false;
  }
  return o;
}

std::string SoftActionSettings::describe() const {
  std::ostringstream o;
  o << "soft actions (" << (execution == Execution::argmax_feedback ? "argmax + feedback" : "prototype mixture")
    << (feedback ? "" : " held at zero") << ", T " << temperature << ", tau_g " << gumbel_temperature << ", "
    << (score == Score::categorical      ? "categorical"
        : score == Score::gumbel_exact ? "exact Gumbel"
                                       : "reference Gumbel")
    << " score)";
  return o.str();
}

std::vector<std::vector<float>> lunar_lander_prototypes() { return {{-1, 0}, {-1, -1}, {1, 0}, {-1, 1}}; }

PolicySpec soft_policy_spec(const SoftActionSettings& s, const envs::EnvSpec& env, std::vector<int64_t> hidden) {
  PolicySpec p;
  p.kind = PolicySpec::Kind::categorical;
  p.obs_dim = env.observation_space.dim() + s.extra_inputs();
  p.act_dim = 1;
  p.num_actions = s.num_actions();
  p.hidden = std::move(hidden);
  return p;
}

double gumbel_draw(envs::Rng& rng) {
  const double u = rng.random() + 0x1.0p-54;  // in (0, 1): both logs finite
  return -std::log(-std::log(u));
}

torch::Tensor soft_log_probs(const SoftActionSettings& s, const torch::Tensor& logits) {
  torch::NoGradGuard no_grad;
  const torch::Tensor log_p = log_softmax(logits.to(torch::kFloat32).contiguous(), {.temperature = s.temperature});
  return s.score == SoftActionSettings::Score::gumbel_reference ? torch::log(log_p.exp() + kRefProbEps) : log_p;
}

namespace {
// The executed actions of soft weights y: the argmax entry, or the mixture of the prototypes.
torch::Tensor executed_actions(const SoftActionSettings& s, const SoftStep& st) {
  if (s.execution == SoftActionSettings::Execution::argmax_feedback) return st.perturbed.argmax(-1);
  std::vector<float> flat;
  for (const auto& c : s.prototypes) flat.insert(flat.end(), c.begin(), c.end());
  const int64_t k = static_cast<int64_t>(s.prototypes.size());
  const torch::Tensor protos = torch::tensor(flat).reshape({k, -1});
  return st.weights.matmul(protos).contiguous();
}
}  // namespace

SoftStep soft_step(const SoftActionSettings& s, const torch::Tensor& logits, const torch::Tensor& noise) {
  torch::NoGradGuard no_grad;
  const torch::Tensor log_p = soft_log_probs(s, logits);
  const torch::Tensor eps = noise.to(torch::kFloat32).clamp(s.noise_min(), s.noise_max());
  SoftStep out;
  out.perturbed = (log_p + eps).contiguous();
  out.weights = softmax(out.perturbed, {.temperature = s.gumbel_temperature});
  out.actions = executed_actions(s, out);
  return out;
}

SoftStep greedy_soft_step(const SoftActionSettings& s, const torch::Tensor& logits) {
  torch::NoGradGuard no_grad;
  SoftStep out;
  out.perturbed = soft_log_probs(s, logits).contiguous();
  out.weights = torch::one_hot(out.perturbed.argmax(-1), s.num_actions()).to(torch::kFloat32).contiguous();
  out.actions = executed_actions(s, out);
  return out;
}

torch::Tensor soft_score(const SoftActionSettings& s, const torch::Tensor& logits, const torch::Tensor& perturbed) {
  const torch::Tensor ids = torch::arange(perturbed.size(-1), torch::kLong).expand(perturbed.sizes());
  return grpo::soft_action_log_density(logits, ids, perturbed, s.density_options());
}

torch::Tensor soft_policy_inputs(const SoftActionSettings& s, const torch::Tensor& obs, const torch::Tensor& perturbed,
                                 const torch::Tensor& episode_start) {
  if (s.extra_inputs() == 0) return obs;
  torch::NoGradGuard no_grad;
  const int64_t n = obs.size(0), k = s.num_actions();
  torch::Tensor previous = torch::zeros({n, k}, torch::kFloat32);
  if (!s.feedback) return torch::cat({obs.to(torch::kFloat32), previous}, 1);
  const torch::Tensor y = softmax(perturbed.to(torch::kFloat32).contiguous(), {.temperature = s.gumbel_temperature});
  if (n > 1) previous.narrow(0, 1, n - 1).copy_(y.narrow(0, 0, n - 1));
  // An episode's first step has no previous soft action.
  const torch::Tensor first = episode_start.to(torch::kLong).narrow(0, 0, episode_start.size(0) - 1);
  previous.index_fill_(0, first, 0.0f);
  return torch::cat({obs.to(torch::kFloat32), previous}, 1);
}

PolicySteps soft_policy_steps(const SoftActionSettings& s, const data::Dataset& d) {
  if (!d.perturbed_logits.defined())
    throw InputError(d.id + ": no perturbed logits (the episodes were not played with soft actions)");
  PolicySteps steps;
  steps.obs = soft_policy_inputs(s, d.observations, d.perturbed_logits, d.episode_start);
  steps.actions = d.actions;
  steps.perturbed = d.perturbed_logits;
  steps.soft = s.density_options();
  return steps;
}

SoftPolicyActor::SoftPolicyActor(PolicyHead& policy, SoftActionSettings settings, bool deterministic, uint64_t seed)
    : policy_(policy),
      s_(std::move(settings)),
      deterministic_(deterministic),
      rng_(seed) {
  begin_episode();
}

void SoftPolicyActor::begin_episode() { previous_.assign(static_cast<size_t>(s_.extra_inputs()), 0.0f); }

std::vector<float> SoftPolicyActor::act(std::span<const float> obs) {
  std::vector<float> x(obs.begin(), obs.end());
  x.insert(x.end(), previous_.begin(), previous_.end());
  const torch::Tensor input = torch::from_blob(x.data(), {1, static_cast<int64_t>(x.size())}, torch::kFloat32).clone();
  const int64_t k = s_.num_actions();
  const torch::Tensor logits = policy_.distribution(input).logits;
  SoftStep st;
  if (deterministic_) {
    st = greedy_soft_step(s_, logits);
  } else {
    torch::Tensor noise = torch::zeros({1, k}, torch::kFloat64);
    for (int64_t j = 0; j < k; ++j) noise[0][j] = gumbel_draw(rng_);
    st = soft_step(s_, logits, noise);
  }
  if (s_.extra_inputs() > 0 && s_.feedback) previous_.assign(st.weights.data_ptr<float>(), st.weights.data_ptr<float>() + k);
  const torch::Tensor a = st.actions.to(torch::kFloat32).reshape({-1}).contiguous();
  return std::vector<float>(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
}

}  // namespace softrl::agents
