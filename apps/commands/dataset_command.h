#pragma once
// `softrl dataset info DATASET [--json]`: what a dataset holds, per behaviour source.
#include <iosfwd>
#include <string>

namespace softrl::apps {

struct DatasetInfoOptions {
  std::string path;
  bool json = false;
};

// Exit 0, or 2 when the file is not a readable dataset.
int run_dataset_info(const DatasetInfoOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
