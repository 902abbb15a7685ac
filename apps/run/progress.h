#pragma once
// What a training run prints while it works: a progress line (rewritten in place on a terminal,
// a plain line every 10 s otherwise) and one line per evaluation.
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <string>

#include "common/stats.h"

namespace softrl::apps {

// "1:02:03"; "?" for a negative or non-finite time.
std::string hms(double seconds);

// Throughput over the last minute: the cumulative average would mix the fast random-action warm-up
// into the ETA of the (slower) learning phase.
class RecentRate {
 public:
  void add(double wall, int64_t steps, int64_t updates);
  double steps_per_s() const { return rate(&Sample::steps); }
  double updates_per_s() const { return rate(&Sample::updates); }

 private:
  struct Sample {
    double wall;
    int64_t steps, updates;
  };
  double rate(int64_t Sample::*field) const;
  std::deque<Sample> samples_;
};

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool enabled, bool tty, int64_t total_steps);
  // Prints the progress line when it is due (every second on a terminal, every 10 s otherwise) or
  // `force`d. `status` is the loop's own text, `last_eval` "-" or "152 @50000".
  void update(double wall, int64_t steps, int64_t updates, const std::string& status, const std::string& last_eval,
              bool force);
  // An evaluation's line, which stays on screen.
  void evaluation(int64_t step, const ReturnStats& s, double seconds, bool new_best);
  // Ends the progress line before other output.
  void finish_line();

 private:
  std::ostream& out_;
  bool enabled_, tty_;
  int64_t total_;
  double last_print_ = -1.0;
  bool line_open_ = false, started_ = false;
  RecentRate rate_;
};

}  // namespace softrl::apps
