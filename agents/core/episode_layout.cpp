#include "agents/core/episode_layout.h"

#include <algorithm>

namespace softrl::agents {

EpisodeLayout episode_layout(const std::vector<int64_t>& start, const torch::Tensor& episodes, int64_t chunk) {
  const torch::Tensor ep = episodes.to(torch::kLong).contiguous();
  const int64_t* e = ep.data_ptr<int64_t>();
  EpisodeLayout L;
  L.rows = ep.size(0);
  std::vector<int64_t> idx, row, col, first;
  for (int64_t b = 0; b < L.rows; ++b) {
    const int64_t s0 = start[e[b]], len = start[e[b] + 1] - s0;
    for (int64_t t = 0; t < len; ++t) {
      if (t % chunk == 0) first.push_back(static_cast<int64_t>(idx.size()));
      idx.push_back(s0 + t), row.push_back(b), col.push_back(t / chunk);
    }
    L.cols = std::max(L.cols, (len + chunk - 1) / chunk);
  }
  L.index = torch::tensor(idx, torch::kLong);
  L.row = torch::tensor(row, torch::kLong);
  L.col = torch::tensor(col, torch::kLong);
  L.first = torch::tensor(first, torch::kLong);
  return L;
}

torch::Tensor EpisodeLayout::pad(const torch::Tensor& per_step) const {
  return torch::zeros({rows, cols}, per_step.options()).index_put({row, col}, per_step, /*accumulate=*/true);
}

torch::Tensor EpisodeLayout::valid() const { return pad(torch::ones({steps()})) > 0; }

}  // namespace softrl::agents
