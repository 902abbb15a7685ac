#pragma once
// Keys the offline learners share. `dataset`: a dataset of the run's task written by softrl
// collect. `reference` (oreo, dpo, adpo): a run directory or checkpoint of a trained policy, or
// {bc_steps, net_arch, learning_rate, batch_size} for behaviour cloning of the run's dataset
// before the learner starts.
#include <string>

#include <yaml-cpp/yaml.h>

#include "agents/bc/reference_policy.h"
#include "apps/config/schema.h"
#include "envs/env.h"

namespace softrl::apps {

struct ReferenceKeys {
  std::string path;            // a run directory or checkpoint; "" = behaviour cloning first
  agents::ReferenceRecipe bc;  // bc_steps, net_arch, learning rate, batch size when path == ""
};

// The dataset `softrl config` prints: what the shipped collect configs write for the task.
std::string example_dataset(const SchemaContext& ctx);

void read_reference(const ConfigReader& r, const YAML::Node& n, const std::string& path, ReferenceKeys& out);
YAML::Node reference_value(const ReferenceKeys& k);
// The recipe with the checkpoint's policy loaded and checked against the run's task.
agents::ReferenceRecipe reference_recipe(const ReferenceKeys& k, const envs::EnvSpec& env);

// The required `dataset` key of a section whose settings have a `dataset` member.
template <class T>
Field<T> dataset_field(std::string doc) {
  return text<T>(
             "dataset", [](auto& s) -> auto& { return s.dataset; }, "a dataset path", std::move(doc))
      .required("expected the path of a dataset written by softrl collect", example_dataset);
}

// The required `reference` key of a section whose settings have a `reference` member.
template <class T>
Field<T> reference_field() {
  return custom<T>(
             "reference", "a run directory or checkpoint, or {bc_steps, net_arch, learning_rate, batch_size}",
             "the reference policy: a trained one, or behaviour cloning of the dataset for bc_steps samples first",
             [](const ConfigReader& r, const YAML::Node& n, const std::string& p, T& o) {
               read_reference(r, n, p, o.reference);
             },
             [](const T& o) { return reference_value(o.reference); })
      .required(
          "expected a run directory or checkpoint of the reference policy, or {bc_steps: N} to train it by "
          "behaviour cloning first",
          [](const SchemaContext&) { return std::string("{bc_steps: 200000}"); });
}

}  // namespace softrl::apps
