#pragma once
// `softrl collect CONFIG.yaml [key=value ...] --out DATASET`: episodes from a behaviour mixture
// into a Minari-layout HDF5 dataset (data/hdf5_dataset.h).
#include <iosfwd>
#include <string>
#include <vector>

namespace softrl::apps {

struct CollectOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out;         // the dataset file
  bool overwrite = false;  // replace an existing file (atomically, once the new one is complete)
  bool progress = true;
};

// Exit codes: 0 done, 2 bad input, 3 cannot write, 130 (128 + signal) interrupted: the groups
// complete by then are written, or nothing when none was.
int run_collect(const CollectOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace softrl::apps
