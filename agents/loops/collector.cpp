#include "agents/loops/collector.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "envs/rng.h"
#include "envs/vector_env.h"
#include "objectives/softmax.h"

namespace softrl::agents {

std::string BehaviourSource::kind_name() const {
  switch (kind) {
    case Kind::heuristic: return "heuristic";
    case Kind::policy: return "policy";
    case Kind::random: return "random";
  }
  return "?";
}

std::string BehaviourSource::describe() const {
  std::ostringstream o;
  o << kind_name();
  if (kind == Kind::heuristic) o << " (epsilon " << epsilon << ", noise " << noise_std << ")";
  if (kind == Kind::policy && soft) o << " " << policy_path << " (" << soft->describe() << ")";
  else if (kind == Kind::policy)
    o << " " << policy_path << " (" << (deterministic ? "deterministic" : "sampled, temperature ")
      << (deterministic ? "" : std::to_string(temperature).substr(0, 6)) << ")";
  return o.str();
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// SplitMix64 (Steele et al. 2014): decorrelates the per-episode seeds (seed, j).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct EpisodeRecord {
  std::vector<float> obs, actions, pre_tanh, final_obs, perturbed;
  std::vector<double> rewards, log_prob;
  std::vector<uint8_t> terminated, truncated;
  int source = 0;
  uint64_t seed = 0;
  double ret = 0;
  bool complete = false;
};

struct Slot {
  int64_t episode = 0;  // the global episode index; >= total: filler the dataset does not keep
  envs::Rng rng;
  int source = 0;
  std::unique_ptr<envs::Policy> heuristic;
  std::vector<float> previous_soft;  // y of the last step (soft actions fed back)
  EpisodeRecord rec;
};

// log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
double log1m_tanh2(double u) {
  const double x = -2.0 * u;
  const double softplus = x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  return 2.0 * (std::log(2.0) - u - softplus);
}

class Collector {
 public:
  explicit Collector(const CollectSettings& s)
      : s_(s),
        total_(s.start_seeds * s.group_size),
        venv_(s.env_id, static_cast<int>(std::min<int64_t>(s.n_envs, total_)), s.env_options, s.threads),
        spec_(venv_.spec()),
        n_(venv_.num_envs()),
        od_(spec_.observation_space.dim()),
        ad_(spec_.action_space.dim()),
        discrete_(spec_.action_space.kind == envs::Space::Kind::discrete),
        records_(total_),
        slots_(n_) {
    for (const auto& src : s_.sources) weight_sum_ += src.weight;
  }

  data::Dataset run(const std::function<bool(const CollectProgress&)>& keep_going) {
    const int64_t n = n_, total = total_, k = s_.group_size;
    const uint64_t first = s_.first_start_seed;
    torch::Tensor obs = venv_.reset([n, total, k, first](int64_t i, int64_t e) {
      const int64_t j = i + n * e;
      return j < total ? first + static_cast<uint64_t>(j / k) : first;
    });
    for (int64_t i = 0; i < n; ++i) start_episode(i, i);
    CollectProgress progress{0, total, 0};
    std::vector<char> active(static_cast<size_t>(n), 1);
    while (progress.episodes_done < total) {
      const torch::Tensor actions = choose(obs);
      // Envs whose slot has no episode left to play are not stepped.
      for (int64_t i = 0; i < n; ++i) active[i] = slots_[i].episode < total;
      const envs::VectorStep st = venv_.step(actions, active);
      const double* r = st.reward.data_ptr<double>();
      const bool* te = st.terminated.data_ptr<bool>();
      const bool* tr = st.truncated.data_ptr<bool>();
      for (int64_t i = 0; i < n; ++i) {
        Slot& slot = slots_[i];
        if (slot.episode >= total) {
          if (te[i] || tr[i]) start_episode(i, slot.episode + n);
          continue;
        }
        ++progress.steps;
        EpisodeRecord& rec = slot.rec;
        rec.rewards.push_back(r[i]);
        rec.ret += r[i];
        rec.terminated.push_back(te[i]);
        rec.truncated.push_back(tr[i]);
        if (te[i] || tr[i]) {
          const float* f = st.final_obs.data_ptr<float>() + i * od_;
          rec.final_obs.assign(f, f + od_);
          rec.complete = true;
          records_[slot.episode] = std::move(rec);
          ++progress.episodes_done;
          start_episode(i, slot.episode + n);
        }
      }
      obs = st.obs;
      if (!keep_going(progress)) break;
    }
    return assemble();
  }

 private:
  void start_episode(int64_t i, int64_t j) {
    Slot& slot = slots_[i];
    slot.episode = j;
    slot.rec = EpisodeRecord{};
    if (j >= total_) return;
    slot.rng.seed(mix(s_.seed ^ mix(s_.first_episode + static_cast<uint64_t>(j))));
    double u = slot.rng.random() * weight_sum_;
    slot.source = 0;
    while (slot.source + 1 < static_cast<int>(s_.sources.size()) && u >= s_.sources[slot.source].weight)
      u -= s_.sources[slot.source++].weight;
    slot.rec.source = slot.source;
    slot.rec.seed = s_.first_start_seed + static_cast<uint64_t>(j / s_.group_size);
    const auto& soft = s_.sources[slot.source].soft;
    slot.previous_soft.assign(soft ? static_cast<size_t>(soft->extra_inputs()) : 0, 0.0f);
    if (s_.sources[slot.source].kind == BehaviourSource::Kind::heuristic) {
      if (!slot.heuristic) slot.heuristic = envs::make_heuristic(s_.env_id);
      slot.heuristic->begin_episode();
    }
  }

  // One action per slot, recorded with the observation it answers.
  torch::Tensor choose(const torch::Tensor& obs) {
    torch::Tensor actions = torch::zeros({n_, ad_}, torch::kFloat32);
    float* pa = actions.data_ptr<float>();
    const float* po = obs.data_ptr<float>();
    act_with_policies(obs, pa);
    for (int64_t i = 0; i < n_; ++i) {
      Slot& slot = slots_[i];
      if (slot.episode >= total_) continue;
      const BehaviourSource& src = s_.sources[slot.source];
      const std::span<const float> o(po + i * od_, od_);
      if (src.kind == BehaviourSource::Kind::heuristic) heuristic_action(slot, src, o, pa + i * ad_);
      else if (src.kind == BehaviourSource::Kind::random) random_action(slot, pa + i * ad_);
      EpisodeRecord& rec = slot.rec;
      rec.obs.insert(rec.obs.end(), o.begin(), o.end());
      rec.actions.insert(rec.actions.end(), pa + i * ad_, pa + (i + 1) * ad_);
      if ((src.kind != BehaviourSource::Kind::policy || src.soft) && !discrete_)
        rec.pre_tanh.insert(rec.pre_tanh.end(), ad_, NAN);
    }
    return actions;
  }

  void random_action(Slot& slot, float* a) {
    const envs::Space& sp = spec_.action_space;
    if (discrete_) {
      a[0] = static_cast<float>(slot.rng.integers(0, sp.n));
      slot.rec.log_prob.push_back(-std::log(static_cast<double>(sp.n)));
      return;
    }
    double lp = 0;
    for (int64_t d = 0; d < ad_; ++d) {
      a[d] = static_cast<float>(slot.rng.uniform(sp.low[d], sp.high[d]));
      lp -= std::log(static_cast<double>(sp.high[d]) - sp.low[d]);
    }
    slot.rec.log_prob.push_back(lp);
  }

  void heuristic_action(Slot& slot, const BehaviourSource& src, std::span<const float> o, float* a) {
    const std::vector<float> h = slot.heuristic->act(o);
    const envs::Space& sp = spec_.action_space;
    const bool explore = src.epsilon > 0 && slot.rng.random() < src.epsilon;
    if (discrete_) {
      a[0] = explore ? static_cast<float>(slot.rng.integers(0, sp.n)) : h[0];
      // The mixture's probability of the action taken: (1 - eps) [a = h(s)] + eps / n.
      const double p = (1 - src.epsilon) * (a[0] == h[0] ? 1.0 : 0.0) + src.epsilon / static_cast<double>(sp.n);
      slot.rec.log_prob.push_back(std::log(p));
      return;
    }
    for (int64_t d = 0; d < ad_; ++d) {
      const double v = explore ? slot.rng.uniform(sp.low[d], sp.high[d])
                               : h[d] + (src.noise_std > 0 ? src.noise_std * slot.rng.normal() : 0.0);
      a[d] = static_cast<float>(std::clamp(v, static_cast<double>(sp.low[d]), static_cast<double>(sp.high[d])));
    }
    // Clipping puts mass on the bounds: no density to record.
    slot.rec.log_prob.push_back(kNaN);
  }

  // Every policy source acts for all its slots with one forward pass.
  void act_with_policies(const torch::Tensor& obs, float* pa) {
    for (size_t s = 0; s < s_.sources.size(); ++s) {
      const BehaviourSource& src = s_.sources[s];
      if (src.kind != BehaviourSource::Kind::policy) continue;
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < n_; ++i)
        if (slots_[i].episode < total_ && slots_[i].source == static_cast<int>(s)) rows.push_back(i);
      if (rows.empty()) continue;
      if (src.soft) {
        soft_actions(src, obs, rows, pa);
        continue;
      }
      const PolicyHead::Distribution dist = src.policy->distribution(obs.index_select(0, torch::tensor(rows)));
      if (discrete_) categorical_actions(src, dist, rows, pa);
      else gaussian_actions(src, dist, rows, pa);
    }
  }

  void categorical_actions(const BehaviourSource& src, const PolicyHead::Distribution& dist,
                           const std::vector<int64_t>& rows, float* pa) {
    const torch::Tensor logp =
        log_softmax(dist.logits.contiguous(), {.temperature = src.temperature}).to(torch::kFloat64).contiguous();
    const int64_t a_n = logp.size(1);
    const double* lp = logp.data_ptr<double>();
    for (size_t r = 0; r < rows.size(); ++r) {
      Slot& slot = slots_[rows[r]];
      const double* row = lp + r * a_n;
      int64_t a = 0;
      if (src.deterministic) {
        for (int64_t c = 1; c < a_n; ++c)
          if (row[c] > row[a]) a = c;
      } else {  // inverse CDF of the tempered softmax
        double u = slot.rng.random();
        for (a = 0; a + 1 < a_n; ++a) {
          u -= std::exp(row[a]);
          if (u < 0) break;
        }
      }
      pa[rows[r] * ad_] = static_cast<float>(a);
      // A deterministic policy gives its action probability 1.
      slot.rec.log_prob.push_back(src.deterministic ? 0.0 : row[a]);
    }
  }

  // SofT-GRPO: one batched forward on [observation, fed-back y], Gumbel noise from each episode's
  // stream, the executed action and g' recorded.
  void soft_actions(const BehaviourSource& src, const torch::Tensor& obs, const std::vector<int64_t>& rows, float* pa) {
    const SoftActionSettings& s = *src.soft;
    const int64_t r_n = static_cast<int64_t>(rows.size()), k = s.num_actions(), extra = s.extra_inputs();
    torch::Tensor input = obs.index_select(0, torch::tensor(rows));
    torch::Tensor noise = torch::zeros({r_n, k}, torch::kFloat64);
    torch::Tensor previous = torch::zeros({r_n, extra}, torch::kFloat32);
    for (int64_t r = 0; r < r_n; ++r) {
      Slot& slot = slots_[rows[r]];
      std::copy(slot.previous_soft.begin(), slot.previous_soft.end(), previous.data_ptr<float>() + r * extra);
      if (!src.deterministic)
        for (int64_t j = 0; j < k; ++j) noise.data_ptr<double>()[r * k + j] = gumbel_draw(slot.rng);
    }
    if (extra > 0) input = torch::cat({input, previous}, 1);
    const torch::Tensor logits = src.policy->distribution(input).logits;
    const SoftStep st = src.deterministic ? greedy_soft_step(s, logits) : soft_step(s, logits, noise);
    const torch::Tensor logq = soft_score(s, logits, st.perturbed).to(torch::kFloat64).contiguous();
    const torch::Tensor act = st.actions.to(torch::kFloat32).reshape({r_n, -1}).contiguous();
    for (int64_t r = 0; r < r_n; ++r) {
      Slot& slot = slots_[rows[r]];
      const float* g = st.perturbed.data_ptr<float>() + r * k;
      slot.rec.perturbed.insert(slot.rec.perturbed.end(), g, g + k);
      if (extra > 0 && s.feedback)
        slot.previous_soft.assign(st.weights.data_ptr<float>() + r * k, st.weights.data_ptr<float>() + (r + 1) * k);
      std::copy(act.data_ptr<float>() + r * ad_, act.data_ptr<float>() + (r + 1) * ad_, pa + rows[r] * ad_);
      slot.rec.log_prob.push_back(logq.data_ptr<double>()[r]);
    }
  }

  void gaussian_actions(const BehaviourSource& src, const PolicyHead::Distribution& dist,
                        const std::vector<int64_t>& rows, float* pa) {
    const torch::Tensor mean = dist.mean.to(torch::kFloat64).contiguous(),
                        log_std = dist.log_std.to(torch::kFloat64).contiguous();
    const double* m = mean.data_ptr<double>();
    const double* ls = log_std.data_ptr<double>();
    const double log_t = std::log(src.temperature), half_log_2pi = 0.5 * std::log(2 * M_PI);
    for (size_t r = 0; r < rows.size(); ++r) {
      Slot& slot = slots_[rows[r]];
      double lp = 0;
      for (int64_t d = 0; d < ad_; ++d) {
        const size_t k = r * ad_ + d;
        const double z = src.deterministic ? 0.0 : slot.rng.normal();
        const double u = m[k] + std::exp(ls[k] + log_t) * z;
        // log N(u; mean, (std T)^2) - log(1 - tanh(u)^2): the density of a = tanh(u).
        lp += -0.5 * z * z - (ls[k] + log_t) - half_log_2pi - log1m_tanh2(u);
        pa[rows[r] * ad_ + d] = static_cast<float>(std::tanh(u));
        slot.rec.pre_tanh.push_back(static_cast<float>(u));
      }
      slot.rec.log_prob.push_back(src.deterministic ? kNaN : lp);  // a deterministic squash has no density
    }
  }

  data::Dataset assemble() {
    // Only whole groups are kept: preference views compare the members of a group.
    std::vector<int64_t> keep;
    data::Dataset d;
    for (int64_t g = 0; g < s_.start_seeds; ++g) {
      bool whole = true;
      for (int64_t m = 0; m < s_.group_size; ++m) whole = whole && records_[g * s_.group_size + m].complete;
      if (!whole) continue;
      for (int64_t m = 0; m < s_.group_size; ++m) keep.push_back(g * s_.group_size + m);
      d.group_seeds.push_back(static_cast<int64_t>(s_.first_start_seed + g));
    }
    d.id = s_.dataset_id;
    d.env_id = s_.env_id;
    d.env_options = s_.env_options;
    d.env_spec = spec_;
    d.group_size = s_.group_size;
    d.collection_config = s_.config_yaml;
    int64_t soft_k = 0;
    for (const auto& src : s_.sources) {
      d.sources.push_back({src.kind_name(), src.describe(), src.weight});
      if (src.soft) soft_k = src.soft->num_actions();
    }
    std::vector<int64_t> lengths;
    for (int64_t j : keep) lengths.push_back(static_cast<int64_t>(records_[j].rewards.size()));
    data::allocate(d, lengths);
    if (soft_k > 0) d.perturbed_logits = torch::full({d.num_steps(), soft_k}, NAN, torch::kFloat32);
    const int64_t* st = d.episode_start.data_ptr<int64_t>();
    for (size_t e = 0; e < keep.size(); ++e) {
      const EpisodeRecord& rec = records_[keep[e]];
      const int64_t b = st[e], t = st[e + 1] - st[e];
      std::copy(rec.obs.begin(), rec.obs.end(), d.observations.data_ptr<float>() + b * od_);
      if (discrete_)
        for (int64_t k = 0; k < t; ++k) d.actions.data_ptr<int64_t>()[b + k] = static_cast<int64_t>(rec.actions[k]);
      else {
        std::copy(rec.actions.begin(), rec.actions.end(), d.actions.data_ptr<float>() + b * ad_);
        std::copy(rec.pre_tanh.begin(), rec.pre_tanh.end(), d.pre_tanh_actions.data_ptr<float>() + b * ad_);
      }
      if (soft_k > 0 && !rec.perturbed.empty())
        std::copy(rec.perturbed.begin(), rec.perturbed.end(), d.perturbed_logits.data_ptr<float>() + b * soft_k);
      std::copy(rec.rewards.begin(), rec.rewards.end(), d.rewards.data_ptr<double>() + b);
      std::copy(rec.log_prob.begin(), rec.log_prob.end(), d.behaviour_log_prob.data_ptr<double>() + b);
      for (int64_t k = 0; k < t; ++k) {
        d.terminations.data_ptr<bool>()[b + k] = rec.terminated[k];
        d.truncations.data_ptr<bool>()[b + k] = rec.truncated[k];
        d.step_source.data_ptr<int64_t>()[b + k] = rec.source;
      }
      std::copy(rec.final_obs.begin(), rec.final_obs.end(), d.final_observations.data_ptr<float>() + e * od_);
      d.episode_seed[e] = static_cast<int64_t>(rec.seed);
      d.episode_group[e] = static_cast<int64_t>(e) / s_.group_size;
      d.episode_source[e] = rec.source;
      d.episode_return[e] = rec.ret;
    }
    return d;
  }

  const CollectSettings& s_;
  int64_t total_;
  envs::VectorEnv venv_;
  envs::EnvSpec spec_;
  int64_t n_, od_, ad_;
  bool discrete_;
  std::vector<EpisodeRecord> records_;
  std::vector<Slot> slots_;
  double weight_sum_ = 0;
};

}  // namespace

data::Dataset collect(const CollectSettings& settings, const std::function<bool(const CollectProgress&)>& keep_going) {
  if (settings.sources.empty()) throw InputError("collect: no behaviour sources");
  if (settings.start_seeds < 1 || settings.group_size < 1)
    throw InputError("collect: start_seeds and group_size must be >= 1");
  Collector c(settings);
  return c.run(keep_going);
}

}  // namespace softrl::agents
