#pragma once
// `softrl config`: a complete, commented default config of an algorithm that `softrl train`
// accepts as is (RL Zoo's hyperparameter files, TRL's config help), and the key reference of every
// config the commands read (`--markdown`, included by docs/config_keys.md). Both come from the
// sections' schemas (apps/config/schema.h), so they cannot drift from the parser.
#include <iosfwd>
#include <string>

namespace softrl::apps {

struct ConfigOptions {
  std::string algo;       // empty: list the algorithms
  std::string env;        // empty: the algorithm's example task
  bool markdown = false;  // the key reference instead
};

// Throws InputError for an unknown algorithm or task (the message lists the valid ones).
int run_config_command(const ConfigOptions& opt, std::ostream& out);

}  // namespace softrl::apps
