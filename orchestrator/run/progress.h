// What a run prints while it runs: the progress line and the events between its updates.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "orchestrator/schedule/clock.h"
#include "orchestrator/schedule/scheduler.h"

namespace perflaw::orchestrator {

// How progress is printed (to the error stream).
enum class ProgressMode {
  kTty,    // one line rewritten in place with \r (an interactive terminal)
  kLines,  // a full line at most every RunOptions::progress_line_seconds
  kNone,   // nothing but events
};
// "tty", "lines", "none".
std::optional<ProgressMode> ParseProgressMode(const std::string& name);

// "1h02m03s", "4m05s", "12s" (for the progress line and the summary).
std::string FormatDuration(double seconds);

// The progress line's text (without \r or newline):
// "points: 5/16 done, 2 running, 0 failed, 9 pending | elapsed 1m23s | ETA 3m10s | 2 worker groups"
std::string ProgressLine(const Progress& progress, int64_t reused_completed, int64_t prior_failed);

// Prints the live progress line and the events between its updates.
class ProgressPrinter {
 public:
  // kLines: a line at most every `line_seconds` while nothing else is printed.
  ProgressPrinter(ProgressMode mode, double line_seconds, const Clock& clock, std::ostream& err,
                  int64_t reused_completed, int64_t prior_failed)
      : mode_(mode),
        line_seconds_(line_seconds),
        clock_(clock),
        err_(err),
        reused_(reused_completed),
        prior_failed_(prior_failed) {}

  void Update(const Progress& progress) {
    line_ = "perflaw: " + ProgressLine(progress, reused_, prior_failed_);
    if (mode_ == ProgressMode::kTty) {
      err_ << "\r\033[K" << line_ << std::flush;
      drawn_ = true;
    } else if (mode_ == ProgressMode::kLines) {
      const double now = clock_.Now();
      if (printed_ && now - last_ < line_seconds_) return;
      Print();
      last_ = now;
    }
  }

  void Event(const std::string& text) {
    if (drawn_) err_ << "\r\033[K";
    err_ << "perflaw: " << text << "\n";
    if (drawn_) err_ << line_;
    err_ << std::flush;
  }

  // Leaves the last state on screen / in the log.
  void Finish() {
    if (drawn_) {
      err_ << "\n" << std::flush;
    } else if (mode_ == ProgressMode::kLines && line_ != printed_line_) {
      Print();
    }
    drawn_ = false;
  }

 private:
  void Print() {
    err_ << line_ << std::endl;
    printed_ = true;
    printed_line_ = line_;
  }

  ProgressMode mode_;
  double line_seconds_;
  const Clock& clock_;
  std::ostream& err_;
  int64_t reused_, prior_failed_;
  std::string line_, printed_line_;
  bool drawn_ = false, printed_ = false;
  double last_ = 0;
};

}  // namespace perflaw::orchestrator
