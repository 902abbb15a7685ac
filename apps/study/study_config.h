#pragma once
// A study for `softrl compare`: arms (a base run config each, with overrides) x tasks x seeds,
// and the evaluation protocol. Every cell's run config is validated before anything runs.
#include <cstdint>
#include <string>
#include <vector>

namespace softrl::apps {

struct StudyArm {
  std::string name;
  std::string config;                  // absolute path of the arm's base run config
  std::vector<std::string> overrides;  // "dotted.key=value"
};

struct StudyCell {
  std::string arm, task;  // task empty: the arm config's own env
  uint64_t seed = 0;
  std::string dir;                     // relative to the study directory: runs/<arm>/<task>-seed<S>
  std::vector<std::string> overrides;  // the arm's, then seed, task, evaluation and threads
};

struct Study {
  std::string name;
  std::vector<StudyArm> arms;
  std::vector<std::string> tasks;  // empty: each arm's own env
  std::vector<uint64_t> seeds;
  int64_t eval_episodes = 0;  // 0: the arm configs' own eval.episodes
  int last_k = 1;             // score = mean of the last k evaluations
  bool normalize = false;     // scores between random play (0) and the heuristic (1)
  bool best = false;          // score = the best evaluation (checkpoints/best.pt), not the final one
  std::vector<StudyCell> cells() const;
};

// Reads and validates STUDY.yaml (with key=value overrides); config paths are relative to the
// study file. Throws InputError naming the file and key (or the arm's config and its key).
Study load_study(const std::string& path, const std::vector<std::string>& overrides = {});
// The resolved study (absolute config paths) as YAML; load_study reads it back.
std::string study_yaml(const Study& s);
struct KeyDoc;
// The key reference of a study file.
void document_study_keys(std::vector<KeyDoc>& out);

}  // namespace softrl::apps
