#pragma once
// Errors every layer may raise. InputError is bad user input (a config, an override, a checkpoint,
// a dataset, a command line): commands print its message and exit with code 2.
#include <stdexcept>

namespace softrl {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace softrl
