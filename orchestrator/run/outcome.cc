#include "orchestrator/run/outcome.h"

#include <cmath>

namespace perflaw::orchestrator {

bool RunOptions::IsValid(std::string* why) const {
  if (!(progress_line_seconds > 0) || !std::isfinite(progress_line_seconds)) {
    *why = "progress_line_seconds must be a finite number > 0, got " +
           std::to_string(progress_line_seconds);
    return false;
  }
  if (!scheduler.IsValid(why)) return false;
  return true;
}

}  // namespace perflaw::orchestrator
