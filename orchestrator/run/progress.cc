#include "orchestrator/run/progress.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace perflaw::orchestrator {

std::optional<ProgressMode> ParseProgressMode(const std::string& name) {
  if (name == "tty") return ProgressMode::kTty;
  if (name == "lines") return ProgressMode::kLines;
  if (name == "none") return ProgressMode::kNone;
  return std::nullopt;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "n/a";
  const long long s = std::llround(seconds);
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%llds", s);
  }
  return buf;
}

std::string ProgressLine(const Progress& p, int64_t reused_completed, int64_t prior_failed) {
  const int64_t done = reused_completed + p.completed;
  const int64_t failed = prior_failed + p.failed;
  const int64_t total = done + failed + p.running + p.pending;
  std::ostringstream line;
  line << "points " << done << "/" << total << " done, " << p.running << " running";
  if (p.running_epochs_max > 0)
    line << " (epochs " << p.running_epochs_done << "/" << p.running_epochs_max << ")";
  line << ", " << failed << " failed, " << p.pending << " pending | elapsed "
       << FormatDuration(p.elapsed_seconds) << " | ETA "
       << (p.running + p.pending == 0 ? std::string("0s")
           : p.eta_seconds            ? FormatDuration(*p.eta_seconds)
                                      : std::string("unknown until a point completes"))
       << " | " << p.live_groups << " worker group(s) live";
  return line.str();
}

}  // namespace perflaw::orchestrator
