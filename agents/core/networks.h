#pragma once
// Networks of the learners: MLPs, a batched critic ensemble (both Qs in one matmul chain) and
// the two policy heads (tanh-squashed Gaussian, categorical).
#include <vector>

#include <torch/torch.h>

namespace softrl::agents {

// One dense layer as the by-hand passes below see it: y = x w + b with w an [in, out] view and b
// a [1, out] view (of an ensemble member's slice, or of a torch::nn::Linear's transposed weight).
struct DenseView {
  torch::Tensor w, b;
};

// Forward of dense layers with ReLU between them (none on the output), without autograd, keeping
// what the backward needs: [x, hidden activations after ReLU..., output].
std::vector<torch::Tensor> dense_forward(const std::vector<DenseView>& layers, const torch::Tensor& x);
// Its backward for the upstream gradient grad_out [B, out]. With grads (views of the layers'
// gradients, shaped like the layers), writes (overwrites) the weight and bias gradients there;
// returns the input gradient [B, in] when input_grad, else an undefined tensor. The same ReLU rule
// as autograd's (zero gradient at 0).
torch::Tensor dense_backward(const std::vector<DenseView>& layers, const std::vector<DenseView>* grads,
                             const std::vector<torch::Tensor>& activations, torch::Tensor grad_out, bool input_grad);

// Linear layers with ReLU between them; no activation on the output.
struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  // The Linear layers as DenseViews of their parameters, or of their gradients (which must exist).
  std::vector<DenseView> dense_layers() const;
  std::vector<DenseView> dense_gradients() const;
  torch::nn::Sequential layers;
};
TORCH_MODULE(Mlp);

// E independent MLPs evaluated together: weights [E, in, out], so each layer is one batched
// matmul (baddbmm) for all members. Input [B, in] (shared) -> output [E, B, out].
// Initialized like torch::nn::Linear (uniform in +-1/sqrt(fan_in)).
struct EnsembleMlpImpl : torch::nn::Module {
  EnsembleMlpImpl(int64_t members, int64_t in, const std::vector<int64_t>& hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);

  // One member's forward pass by hand (dense_forward), so that members can run on separate threads.
  std::vector<torch::Tensor> member_forward(int64_t m, const torch::Tensor& x);
  // Its backward (dense_backward). With weight_grads, writes the member's weight and bias
  // gradients into its slices of the parameters' grad (which must be allocated).
  torch::Tensor member_backward(int64_t m, const std::vector<torch::Tensor>& activations, torch::Tensor grad_out,
                                bool weight_grads, bool input_grad);

  std::vector<torch::Tensor> weights, biases;
  int64_t members;
};
TORCH_MODULE(EnsembleMlp);

struct PolicySample {
  torch::Tensor action;    // continuous: in [-1, 1]; discrete: int64 indices
  torch::Tensor log_prob;  // continuous: [B]; discrete: undefined (the learner uses logits)
  torch::Tensor logits;    // discrete: [B, A]
};

// Tanh-squashed Gaussian over [-1, 1]^A; log-std mapped into [-5, 2] through tanh (CleanRL).
struct GaussianPolicyImpl : torch::nn::Module {
  struct Params {
    torch::Tensor mu, log_std;
    // The reparameterized draw before the squashing: mu + sigma * eps.
    torch::Tensor pre_tanh(const torch::Tensor& eps) const { return mu + log_std.exp() * eps; }
  };
  GaussianPolicyImpl(int64_t obs_dim, int64_t act_dim, const std::vector<int64_t>& hidden);
  // An action drawn as sample_with_noise draws it, with fresh noise and without the
  // log-probability: what acting needs.
  torch::Tensor sample_action(const torch::Tensor& obs, c10::optional<at::Generator> gen);
  // A reparameterized sample with the standard normal noise given ([B, act_dim]):
  // tanh(mu + sigma * eps), and its log-probability.
  PolicySample sample_with_noise(const torch::Tensor& obs, const torch::Tensor& eps);
  torch::Tensor deterministic(const torch::Tensor& obs);
  torch::Tensor log_prob(const torch::Tensor& obs, const torch::Tensor& actions);  // actions in [-1, 1]
  torch::Tensor gaussian_entropy(const torch::Tensor& obs);                        // of the Gaussian before the tanh
  Params params(const torch::Tensor& obs);
  Mlp trunk{nullptr};
  int64_t act_dim;

 private:
  // Without autograd, a batch of observations goes through dense_forward (the module's arithmetic
  // without its per-layer dispatch): acting once per env step is on the training loop's serial path.
  torch::Tensor trunk_out(const torch::Tensor& obs);
  Params params_of(const torch::Tensor& trunk_out) const;
};
TORCH_MODULE(GaussianPolicy);

struct CategoricalPolicyImpl : torch::nn::Module {
  CategoricalPolicyImpl(int64_t obs_dim, int64_t num_actions, const std::vector<int64_t>& hidden);
  torch::Tensor logits(const torch::Tensor& obs);
  torch::Tensor sample(const torch::Tensor& obs, c10::optional<at::Generator> gen);
  torch::Tensor deterministic(const torch::Tensor& obs);
  torch::Tensor log_prob(const torch::Tensor& obs, const torch::Tensor& actions);  // actions: indices
  torch::Tensor entropy(const torch::Tensor& obs);
  Mlp net{nullptr};
};
TORCH_MODULE(CategoricalPolicy);

// target <- tau * source + (1 - tau) * target, parameter by parameter; with slice >= 0 only that
// slice along dim 0 of every parameter (one member of an ensemble).
void polyak_update(torch::nn::Module& target, const torch::nn::Module& source, double tau, int64_t slice = -1);

}  // namespace softrl::agents
