#include "agents/core/networks.h"

#include <cmath>

#include "agents/core/fused_updates.h"
#include "agents/core/squashed_gaussian_head.h"
#include "objectives/gumbel.h"
#include "objectives/primitives.h"

namespace softrl::agents {

MlpImpl::MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out) {
  int64_t d = in;
  for (int64_t h : hidden) {
    layers->push_back(torch::nn::Linear(d, h));
    layers->push_back(torch::nn::ReLU());
    d = h;
  }
  layers->push_back(torch::nn::Linear(d, out));
  register_module("layers", layers);
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return layers->forward(x); }

namespace {
// torch::nn::Linear keeps weight [out, in] and bias [out]: their transpose and row as DenseViews,
// of the parameters themselves or of their gradients.
std::vector<DenseView> linear_views(const torch::nn::Sequential& layers, bool gradients) {
  std::vector<DenseView> v;
  for (const auto& m : layers->children())
    if (const auto* lin = m->as<torch::nn::LinearImpl>()) {
      const torch::Tensor& w = gradients ? lin->weight.grad() : lin->weight;
      const torch::Tensor& b = gradients ? lin->bias.grad() : lin->bias;
      v.push_back({w.t(), b.view({1, -1})});
    }
  return v;
}
}  // namespace

std::vector<DenseView> MlpImpl::dense_layers() const { return linear_views(layers, false); }
std::vector<DenseView> MlpImpl::dense_gradients() const { return linear_views(layers, true); }

std::vector<torch::Tensor> dense_forward(const std::vector<DenseView>& layers, const torch::Tensor& x) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> acts = {x};
  for (size_t l = 0; l < layers.size(); ++l) {
    torch::Tensor h = torch::addmm(layers[l].b, acts.back(), layers[l].w);
    if (l + 1 < layers.size()) h.relu_();
    acts.push_back(h);
  }
  return acts;
}

torch::Tensor dense_backward(const std::vector<DenseView>& layers, const std::vector<DenseView>* grads,
                             const std::vector<torch::Tensor>& acts, torch::Tensor grad_out, bool input_grad) {
  torch::NoGradGuard ng;
  torch::Tensor g = std::move(grad_out);
  for (size_t l = layers.size(); l-- > 0;) {
    if (grads) {
      torch::Tensor gw = (*grads)[l].w, gb = (*grads)[l].b;
      torch::mm_out(gw, acts[l].t(), g);
      torch::sum_out(gb, g, {0}, /*keepdim=*/true);
    }
    if (l == 0 && !input_grad) return {};
    torch::Tensor gin = torch::mm(g, layers[l].w.t());
    // acts[l] is the ReLU's output: positive exactly where its input was.
    g = l > 0 ? torch::threshold_backward(gin, acts[l], 0) : gin;
  }
  return g;
}

EnsembleMlpImpl::EnsembleMlpImpl(int64_t e, int64_t in, const std::vector<int64_t>& hidden, int64_t out) : members(e) {
  std::vector<int64_t> dims = {in};
  dims.insert(dims.end(), hidden.begin(), hidden.end());
  dims.push_back(out);
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(dims[l]));
    weights.push_back(
        register_parameter("w" + std::to_string(l), torch::empty({e, dims[l], dims[l + 1]}).uniform_(-bound, bound)));
    biases.push_back(
        register_parameter("b" + std::to_string(l), torch::empty({e, 1, dims[l + 1]}).uniform_(-bound, bound)));
  }
}

torch::Tensor EnsembleMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x.unsqueeze(0).expand({members, x.size(0), x.size(1)});
  for (size_t l = 0; l < weights.size(); ++l) {
    h = torch::baddbmm(biases[l], h, weights[l]);
    if (l + 1 < weights.size()) h = torch::relu(h);
  }
  return h;
}

namespace {
// Member m's slices of per-layer ensemble tensors (weights and biases, or their gradients).
std::vector<DenseView> member_views(const std::vector<torch::Tensor>& w, const std::vector<torch::Tensor>& b, int64_t m,
                                    bool gradients) {
  std::vector<DenseView> v;
  for (size_t l = 0; l < w.size(); ++l)
    v.push_back(gradients ? DenseView{w[l].grad()[m], b[l].grad()[m]} : DenseView{w[l][m], b[l][m]});
  return v;
}
}  // namespace

std::vector<torch::Tensor> EnsembleMlpImpl::member_forward(int64_t m, const torch::Tensor& x) {
  return dense_forward(member_views(weights, biases, m, false), x);
}

torch::Tensor EnsembleMlpImpl::member_backward(int64_t m, const std::vector<torch::Tensor>& acts,
                                               torch::Tensor grad_out, bool weight_grads, bool input_grad) {
  const std::vector<DenseView> grads = weight_grads ? member_views(weights, biases, m, true) : std::vector<DenseView>{};
  return dense_backward(member_views(weights, biases, m, false), weight_grads ? &grads : nullptr, acts,
                        std::move(grad_out), input_grad);
}

GaussianPolicyImpl::GaussianPolicyImpl(int64_t obs_dim, int64_t a, const std::vector<int64_t>& hidden)
    : trunk(obs_dim, hidden, 2 * a),
      act_dim(a) {
  register_module("trunk", trunk);
}

torch::Tensor GaussianPolicyImpl::trunk_out(const torch::Tensor& obs) {
  const bool by_hand = obs.dim() == 2 && !torch::GradMode::is_enabled();
  return by_hand ? dense_forward(trunk->dense_layers(), obs).back() : trunk->forward(obs);
}

GaussianPolicyImpl::Params GaussianPolicyImpl::params_of(const torch::Tensor& out) const {
  return {out.narrow(-1, 0, act_dim),
          kLogStdMin + 0.5 * (kLogStdMax - kLogStdMin) * (torch::tanh(out.narrow(-1, act_dim, act_dim)) + 1)};
}

GaussianPolicyImpl::Params GaussianPolicyImpl::params(const torch::Tensor& obs) {
  return params_of(trunk->forward(obs));
}

torch::Tensor GaussianPolicyImpl::sample_action(const torch::Tensor& obs, c10::optional<at::Generator> gen) {
  torch::NoGradGuard ng;
  std::vector<int64_t> shape = obs.sizes().vec();
  shape.back() = act_dim;
  const torch::Tensor eps = at::normal(0.0, 1.0, shape, gen, obs.options());
  return torch::tanh(params_of(trunk_out(obs)).pre_tanh(eps));
}

PolicySample GaussianPolicyImpl::sample_with_noise(const torch::Tensor& obs, const torch::Tensor& eps) {
  const Params p = params(obs);
  const auto& [mu, log_std] = p;
  const torch::Tensor u = p.pre_tanh(eps);
  PolicySample s;
  s.action = torch::tanh(u);
  s.log_prob = squashed_gaussian_log_prob(u, mu, log_std, torch::ones({1}, mu.options()));
  return s;
}

torch::Tensor GaussianPolicyImpl::deterministic(const torch::Tensor& obs) {
  return torch::tanh(trunk_out(obs).narrow(-1, 0, act_dim));
}

torch::Tensor GaussianPolicyImpl::log_prob(const torch::Tensor& obs, const torch::Tensor& actions) {
  const auto [mu, log_std] = params(obs);
  // float32 tanh reaches +-1 for |u| > 9; clamping keeps atanh finite.
  const double edge = 1.0 - 1e-6;
  const torch::Tensor u = torch::atanh(actions.to(mu.scalar_type()).clamp(-edge, edge));
  return squashed_gaussian_log_prob(u, mu, log_std, torch::ones({1}, mu.options()));
}

torch::Tensor GaussianPolicyImpl::gaussian_entropy(const torch::Tensor& obs) {
  const torch::Tensor log_std = params(obs).log_std;
  return (log_std + 0.5 * (1.0 + std::log(2.0 * M_PI))).sum(-1);
}

CategoricalPolicyImpl::CategoricalPolicyImpl(int64_t obs_dim, int64_t n, const std::vector<int64_t>& hidden)
    : net(obs_dim, hidden, n) {
  register_module("net", net);
}

torch::Tensor CategoricalPolicyImpl::logits(const torch::Tensor& obs) { return net->forward(obs); }

torch::Tensor CategoricalPolicyImpl::sample(const torch::Tensor& obs, c10::optional<at::Generator> gen) {
  torch::NoGradGuard ng;
  const torch::Tensor l = logits(obs);
  // Gumbel-max: an exact sample of softmax(l).
  return (l + gumbel_noise(l.sizes(), l.options(), gen)).argmax(-1);
}

torch::Tensor CategoricalPolicyImpl::deterministic(const torch::Tensor& obs) { return logits(obs).argmax(-1); }

torch::Tensor CategoricalPolicyImpl::log_prob(const torch::Tensor& obs, const torch::Tensor& actions) {
  const torch::Tensor l = logits(obs);
  return selective_log_softmax(l, actions.to(torch::kLong).reshape(l.sizes().slice(0, l.dim() - 1)));
}

torch::Tensor CategoricalPolicyImpl::entropy(const torch::Tensor& obs) { return softrl::entropy(logits(obs)); }

void polyak_update(torch::nn::Module& target, const torch::nn::Module& source, double tau, int64_t slice) {
  torch::NoGradGuard ng;
  const auto tp = target.parameters();
  const auto sp = source.parameters();
  for (size_t i = 0; i < tp.size(); ++i) {
    polyak_blend(slice < 0 ? tp[i] : tp[i][slice], slice < 0 ? sp[i] : sp[i][slice], tau);
  }
}

}  // namespace softrl::agents
