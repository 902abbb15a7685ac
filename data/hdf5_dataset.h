#pragma once
// Datasets on disk in the HDF5 layout of Farama's Minari (the Gymnasium ecosystem's offline-RL
// format, minari/dataset/_storages/hdf5_storage.py), so h5py or Minari open them:
//   /                      attrs: dataset_id, total_episodes, total_steps, env_spec (JSON),
//                                 observation_space, action_space (Minari's JSON space
//                                 serialization), softrl_format_version, softrl_sources (JSON),
//                                 softrl_group_size, softrl_group_seeds, softrl_collection_config
//   /episode_<i>           attrs: id, total_steps, seed, group, source, return
//     observations         [T + 1, obs_dim] float32 (the final observation included)
//     actions              [T] int64 (Discrete) or [T, act_dim] float32 (Box)
//     rewards              [T] float64
//     terminations         [T] bool (HDF5 enum of int8, as h5py stores numpy bools)
//     truncations          [T] bool
//     infos/behaviour_log_prob  [T] float64 (NaN: the source has no density)
//     infos/source              [T] int64
//     infos/pre_tanh_action     [T, act_dim] float32 (Box only; NaN unless a tanh-Gaussian policy acted)
// Object timestamps are off, so the same data gives the same bytes.
#include <optional>
#include <string>

#include "data/dataset.h"

namespace softrl::data {

constexpr int64_t kDatasetFormatVersion = 1;

// Builds the file in memory and renames it into place when complete (write_file_atomic): a reader
// never sees a partial dataset under PATH. Throws IoError naming the file when it cannot be written;
// with `replace` false, InputError when PATH exists by then (write_file_atomic).
void write_dataset(const std::string& path, const Dataset& d, bool replace = true);

// Reads every episode into preallocated tensors. Throws InputError naming the file when it is not
// HDF5, truncated, of another layout or format version, empty, or holds NaN / inf observations or
// rewards; with `expected_env`, also when the dataset is of another task or space shape.
Dataset read_dataset(const std::string& path, const std::optional<envs::EnvSpec>& expected_env = std::nullopt);

}  // namespace softrl::data
