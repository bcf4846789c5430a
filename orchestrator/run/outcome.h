// How a run is run (its options) and how it ended (its outcome).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "orchestrator/run/adaptive.h"
#include "orchestrator/store/db_listener.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/run/progress.h"
#include "orchestrator/schedule/scheduler.h"

namespace perflaw::orchestrator {

struct RunOptions {
  ProgressMode progress = ProgressMode::kLines;
  // kLines: seconds between progress lines while nothing else is printed (> 0).
  double progress_line_seconds = 10;
  // Set (e.g. by a SIGTERM handler) to checkpoint-and-stop; polled before the run and at every
  // progress report. May be null.
  const std::atomic<bool>* stop = nullptr;
  GroupPlacement placement;
  // Scheduler settings not in the sweep's policy (max_attempts, point_timeout, heartbeat
  // interval and grace come from the policy and override these).
  SchedulerOptions scheduler;
  // Fit the law when the grid is done (and the sweep's law.enabled).
  bool fit_law = true;
  bool IsValid(std::string* why) const;
};

// How a run ended. Starts as "not run".
struct RunOutcome {
  bool ran = false;  // the scheduler ran to one of its ends
  int64_t sweep_id = 0;
  SchedulerSummary scheduler;
  StateCounts counts;            // the sweep's points at the end
  int64_t reused_completed = 0;  // points COMPLETED before this run, not run again
  int64_t relocated = 0;  // stored points found with other locations (moved data or work_dir)
  // eta.h's estimate for the points a stopped run left, resumed on as many groups; empty when
  // unknown or nothing is left.
  std::optional<double> remaining_seconds;
  int64_t interrupted_attempts_closed = 0;
  int64_t failed_reset = 0;        // resume --retry-failed
  std::string law = "not fitted";  // "fitted", "skipped: ...", "failed: ..."
  AdaptiveSummary adaptive;        // policy.adaptive's rounds, this run's and earlier ones
  // 0: every point COMPLETED; 1: some FAILED; 3: points left PENDING (stopped, no worker left).
  int exit_code = 1;
};

}  // namespace perflaw::orchestrator
