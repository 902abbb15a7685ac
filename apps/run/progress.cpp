#include "apps/run/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace softrl::apps {
namespace {
std::string rate_text(double per_s) { return std::isfinite(per_s) ? std::to_string(std::lround(per_s)) : "-"; }
}  // namespace

std::string hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int s = static_cast<int>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

void RecentRate::add(double wall, int64_t steps, int64_t updates) {
  samples_.push_back({wall, steps, updates});
  while (samples_.size() > 2 && samples_[1].wall <= wall - 60.0) samples_.pop_front();
}

double RecentRate::rate(int64_t Sample::*field) const {
  if (samples_.size() < 2) return std::nan("");
  const Sample &a = samples_.front(), &b = samples_.back();
  return b.wall - a.wall >= 1.0 ? static_cast<double>(b.*field - a.*field) / (b.wall - a.wall) : std::nan("");
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool enabled, bool tty, int64_t total_steps)
    : out_(out),
      enabled_(enabled),
      tty_(tty),
      total_(total_steps) {}

void ProgressPrinter::update(double wall, int64_t steps, int64_t updates, const std::string& status,
                             const std::string& last_eval, bool force) {
  if (!started_) rate_.add(0.0, steps, updates), started_ = true;
  if (!enabled_ || (wall - last_print_ < (tty_ ? 1.0 : 10.0) && !force)) return;
  last_print_ = wall;
  rate_.add(wall, steps, updates);
  const double sps = rate_.steps_per_s();
  char buf[320];
  std::snprintf(buf, sizeof buf, "step %lld/%lld (%.0f%%) | %s steps/s, %s updates/s | %s | eval %s | ETA %s",
                static_cast<long long>(steps), static_cast<long long>(total_), 100.0 * steps / total_,
                rate_text(sps).c_str(), rate_text(rate_.updates_per_s()).c_str(), status.c_str(), last_eval.c_str(),
                hms((total_ - steps) / sps).c_str());
  out_ << (tty_ ? "\r\033[K" : "") << buf << (tty_ ? "" : "\n") << std::flush;
  line_open_ = tty_;
}

void ProgressPrinter::evaluation(int64_t step, const ReturnStats& s, double seconds, bool new_best) {
  char buf[320];
  std::snprintf(
      buf, sizeof buf,
      "eval @%lld: mean %.1f +- %.1f | median %.1f | IQM %.1f | success %.0f%% | length %.0f (%d episodes, %s)",
      static_cast<long long>(step), s.mean, s.std, s.median, s.iqm, 100.0 * s.success_rate, s.mean_length, s.episodes,
      hms(seconds).c_str());
  out_ << (line_open_ ? "\r\033[K" : "") << buf << (new_best ? " | new best -> checkpoints/best.pt" : "") << "\n"
       << std::flush;
  line_open_ = false;
}

void ProgressPrinter::finish_line() {
  if (line_open_) out_ << "\n";
  line_open_ = false;
}

}  // namespace softrl::apps
