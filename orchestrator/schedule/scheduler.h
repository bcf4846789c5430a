// The rank-0 scheduler: hands grid points to worker groups, largest estimated cost first, watches
// heartbeats and timeouts, retries failed points, and stops cleanly on request. It is plain C++:
// messages go through a Transport, time comes from a Clock, and everything worth recording goes to
// a SchedulerListener (the results-database glue), so it is tested with fakes and knows nothing of
// MPI or SQLite. Protocol, states and defaults: docs/scheduler.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/schedule/clock.h"
#include "orchestrator/schedule/transport.h"

namespace perflaw::orchestrator {

struct SchedulerOptions {
  // Attempts that may fail (any reason but preempted/interrupted), counting earlier runs, before a
  // point is FAILED for good.
  uint32_t max_attempts = 3;
  // Seconds one attempt may run before it is failed as `timeout`.
  double point_timeout = 24 * 3600.0;
  // Seconds between the heartbeats a busy group must send (sent to the group in RunPoint).
  double heartbeat_interval = 10.0;
  // A busy group silent for heartbeat_interval * heartbeat_grace seconds is `heartbeat_lost`.
  double heartbeat_grace = 3.0;
  // Seconds a group may take to send its first Ready before it is treated as dead.
  double ready_timeout = 300.0;
  // After a stop request, seconds to wait for busy groups to checkpoint and answer.
  double stop_grace = 20.0;
  // Longest single wait in Transport::Poll, so that a stop request is seen promptly.
  double max_poll_wait = 0.5;
  // Seconds between OnProgress calls when nothing changes (they also follow every change).
  double progress_interval = 5.0;
  // Dispatch ahead: a busy group whose known work (its attempt and the points already sent ahead)
  // is expected to be done within this many seconds is sent its next point, which it starts the
  // moment the current one ends, so short points do not wait for round trips through rank 0.
  // Expected ends come from this run's completed attempts (median seconds per unit of cost). An
  // idle group with nothing queued takes back a point waiting on a busy one. 0 = off.
  double dispatch_ahead = 0;
  // At most this many points wait on one group (dispatch_ahead).
  uint32_t max_sent_ahead = 4;

  bool IsValid(std::string* why) const;
};

// One point to run. `attempts` and `failures` carry what earlier runs did (resume).
struct PendingPoint {
  std::string id;                 // the point's identity (hash of its canonical configuration)
  nlohmann::json config;          // sent to the worker as is
  double cost = 0;                // estimated cost (non-embedding params x tokens); larger first
  std::string checkpoint_dir;     // sent in RunPoint ("" = the worker keeps no checkpoint)
  uint32_t attempts = 0;          // attempts started before; the next attempt is attempts + 1
  uint32_t failures = 0;          // of those, the ones that count against max_attempts
  std::vector<int> avoid_groups;  // groups it failed on; others are preferred while alive
};

enum class GroupState {
  kStarting,      // has not said Ready yet
  kIdle,          // Ready, no work
  kBusy,          // running one attempt (and maybe holding the next one, sent ahead)
  kUnresponsive,  // timed out / went silent / never said Ready: unused until it says Ready again
  kLost,          // the transport says its ranks are dead: never used again
};
const char* GroupStateName(GroupState state);

// The live progress line's numbers.
struct Progress {
  int completed = 0, running = 0, failed = 0, pending = 0;
  int live_groups = 0;
  double elapsed_seconds = 0;
  // Filled by EtaListener (orchestrator/schedule/eta.h), not by the scheduler: empty until a point
  // completed; 0 when nothing is left.
  std::optional<double> eta_seconds;
  // Of the running points, summed (EtaListener): epochs finished and their epoch limits, so that
  // progress counts the parts of points in training, not only finished points.
  int64_t running_epochs_done = 0, running_epochs_max = 0;
};

// What the scheduler reports; the results-database glue implements it. Calls come from inside
// Scheduler::Run, on its thread. A listener that cannot record (database error) should call
// Scheduler::RequestStop and report its own error after Run returns.
class SchedulerListener {
 public:
  virtual ~SchedulerListener() = default;
  // The point is RUNNING as `attempt` on `group`. A point sent ahead is reported when its group
  // starts it (when the group's previous attempt ends), not when it was sent.
  virtual void OnAttemptStarted(const std::string& point, uint32_t attempt, int group) = 0;
  virtual void OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                              const nlohmann::json& metrics) = 0;
  // The point is COMPLETED; called once per point.
  virtual void OnPointCompleted(const std::string& point, uint32_t attempt,
                                const nlohmann::json& result) = 0;
  // The attempt ended without a result. will_retry: the point is PENDING again (retried in this run
  // unless it ends first); otherwise it is FAILED.
  virtual void OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                               const std::string& message, bool will_retry) = 0;
  virtual void OnGroupStateChanged(int group, GroupState state, const std::string& why) = 0;
  virtual void OnProgress(const Progress& progress) = 0;
  // Every message that was waiting has been handled and the scheduler is about to wait for more
  // (also once at the end of Run): the moment for a listener that batches its writes to make them
  // durable.
  virtual void OnQuiet() {}
};

enum class RunEnd {
  kNotRun,          // Run has not finished (the initial value)
  kCompleted,       // every point is COMPLETED or FAILED
  kAllGroupsLost,   // no live group remained; the points not done stay PENDING for resume
  kInterrupted,     // a stop request: running points were checkpointed and are PENDING again
  kTransportError,  // Transport::Poll failed; running attempts were closed as interrupted
};
const char* RunEndName(RunEnd end);

struct GroupSummary {
  GroupState state = GroupState::kStarting;  // at the end
  double busy_seconds = 0;                   // summed attempt durations on this group
  int attempts = 0;                          // attempts started on it
  int completed = 0;                         // of those, the ones that produced a result
};

struct SchedulerSummary {
  RunEnd end = RunEnd::kNotRun;
  std::string message = "not run";
  int points = 0;             // points given to Run, refills included
  int refills = 0;            // Refill calls that added points
  std::string refill_error;   // why refilled points were refused ("" when none were)
  std::string storage_error;  // a worker could not read or write its files: the run was stopped
  int completed = 0;          // COMPLETED in this run
  int failed = 0;             // FAILED for good in this run
  int pending = 0;            // left PENDING (stop request, all groups lost)
  int attempts_started = 0;
  int sent_ahead = 0;           // RunPoints sent to busy groups (dispatch_ahead)
  int attempts_failed = 0;      // all reasons, preempted included
  int ignored_messages = 0;     // stale attempt ids, duplicates, unknown points or groups
  double elapsed_seconds = 0;   // Run's start to its end
  double makespan_seconds = 0;  // first RunPoint sent to the last attempt's end (0 if none ran)
  std::vector<GroupSummary> groups;
};

// Longest-processing-time-first bounds for `groups` identical machines and these job durations:
// lower_bound = max(longest, total / groups) <= optimal makespan <= lpt_makespan, the makespan of
// the greedy LPT schedule (which is at most 4/3 - 1/(3 groups) times the optimum).
struct LptBounds {
  double lower_bound = 0;
  double lpt_makespan = 0;
};
StatusOr<LptBounds> ComputeLptBounds(std::vector<double> durations, int groups);

// More points for the same run (adaptive rounds): called when every point so far is COMPLETED or
// FAILED, no stop was requested and a group is live, after the listener's OnQuiet (so that what it
// records is durable). The points it returns run next; none ends the run. Their ids must be new to
// the run.
using Refill = std::function<std::vector<PendingPoint>()>;

class Scheduler {
 public:
  // The transport, clock and listener must outlive the scheduler.
  Scheduler(SchedulerOptions options, Transport* transport, const Clock* clock,
            SchedulerListener* listener);

  // Runs `points` to the end (see RunEnd) and sends Shutdown to every group not lost. Invalid
  // options or points (empty or duplicate ids, negative or non-finite cost, failures already at
  // max_attempts) or a transport without groups: InvalidArgument, and nothing is sent. Run once.
  // `refill` (may be empty) adds points when these are done; refilled points that are invalid end
  // the run as kCompleted with the reason in SchedulerSummary::refill_error.
  StatusOr<SchedulerSummary> Run(std::vector<PendingPoint> points, Refill refill = nullptr);

  // Asks Run to checkpoint-and-stop busy groups and return. Safe from a signal handler or another
  // thread (one lock-free atomic store).
  void RequestStop() { stop_requested_.store(true, std::memory_order_relaxed); }

 private:
  struct Impl;
  SchedulerOptions options_;
  Transport* transport_;
  const Clock* clock_;
  SchedulerListener* listener_;
  bool ran_ = false;
  std::atomic<bool> stop_requested_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "RequestStop must be signal-safe");
};

}  // namespace perflaw::orchestrator
