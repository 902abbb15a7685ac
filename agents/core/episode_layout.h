#pragma once
// Whole episodes of a dataset laid out as a padded [episodes, T] table, the shape of the
// sequence losses (OREO's soft Bellman residuals, GRPO's surrogate): which dataset step goes to
// which (row, column), with `chunk` consecutive steps sharing a column (step-level OREO).
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace softrl::agents {

struct EpisodeLayout {
  torch::Tensor index;     // [n] the dataset steps, episode after episode
  torch::Tensor row, col;  // [n] where each goes
  torch::Tensor first;     // positions in `index` of each chunk's first step
  int64_t rows = 0, cols = 1;
  int64_t steps() const { return index.size(0); }
  // Per-step values [n] summed into their cells: [rows, cols] (zeros where no step is).
  torch::Tensor pad(const torch::Tensor& per_step) const;
  // The cells that hold at least one step.
  torch::Tensor valid() const;
};

// `start`: the dataset's episode start table ([E + 1]); `episodes`: the episodes to lay out.
EpisodeLayout episode_layout(const std::vector<int64_t>& start, const torch::Tensor& episodes, int64_t chunk = 1);

}  // namespace softrl::agents
