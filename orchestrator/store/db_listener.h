// The results-database glue of the scheduler: a SchedulerListener that records every attempt,
// epoch, result and failure into ResultsDb as it happens, so that the database is the truth
// `perflaw status` reads during a run and `perflaw resume` continues from. Each change is all or
// nothing on its own (a savepoint); changes are committed in batches: whenever the scheduler has
// no message waiting (OnQuiet), after max_batch_changes, and at the end. Under a stream of
// messages that is one commit (one WAL write) for many changes instead of one per change, which is
// most of rank 0's time per point; a crash loses at most the open batch, whose points resume
// reruns. Where a group runs comes from a GroupPlacement (the MPI transport's ranks and hosts in a
// real job, anything in tests). Mapping of the scheduler's words to the database's:
// docs/running.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apen/status.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/schedule/scheduler.h"

namespace perflaw::orchestrator {

// Where worker group `group` runs, for the attempts table. An unset function records [].
struct GroupPlacement {
  std::function<std::vector<std::string>(int group)> hosts;
  std::function<std::vector<int>(int group)> ranks;
};

struct DbListenerOptions {
  // The sweep's policy.max_attempts: the database fails a point after this many counted failures.
  // It must equal SchedulerOptions::max_attempts so that both agree on FAILED (>= 1).
  uint32_t max_attempts = 3;
  GroupPlacement placement;
  // Called with every progress report of the scheduler (on its thread); may be empty.
  std::function<void(const Progress&)> on_progress;
  // One human-readable line per notable event (a failed attempt, a group state change); may be
  // empty.
  std::function<void(const std::string&)> on_event;
  // Polled at every progress report (at least every SchedulerOptions::progress_interval seconds)
  // and after every completed or failed attempt; true asks the scheduler to stop (how SIGTERM
  // reaches it without touching it from a signal handler). May be empty.
  std::function<bool()> stop_requested;
  // Changes per batch at most before it is committed even though messages keep arriving (>= 1;
  // 1 commits every change at once).
  int max_batch_changes = 64;

  bool IsValid(std::string* why) const;
};

class DbListener final : public SchedulerListener {
 public:
  // `db` must outlive the listener.
  DbListener(ResultsDb* db, DbListenerOptions options);
  // Commits the open batch, if any (the scheduler's last OnQuiet normally has).
  ~DbListener() override;
  DbListener(const DbListener&) = delete;
  DbListener& operator=(const DbListener&) = delete;

  // The scheduler to stop on a database error or a stop request; set before Scheduler::Run.
  void Attach(Scheduler* scheduler) { scheduler_ = scheduler; }

  // OK, or the first database error (the run was asked to stop then and must be reported failed).
  const Status& error() const { return error_; }
  // Points completed / failed for good while listening.
  int completed() const { return completed_; }
  int failed() const { return failed_; }

  void OnAttemptStarted(const std::string& point, uint32_t attempt, int group) override;
  void OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                      const nlohmann::json& metrics) override;
  void OnPointCompleted(const std::string& point, uint32_t attempt,
                        const nlohmann::json& result) override;
  void OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                       const std::string& message, bool will_retry) override;
  void OnGroupStateChanged(int group, GroupState state, const std::string& why) override;
  void OnProgress(const Progress& progress) override;
  // Commits the open batch.
  void OnQuiet() override;

 private:
  // Opens a batch unless one is open; call before a change.
  Status OpenBatch();
  // Counts a change made in the batch and commits the batch when it is full.
  void Changed();
  // Commits the open batch; a failure stops the run.
  void CommitBatch();
  // The database attempt id of the scheduler's (point, attempt); an error if it was never started.
  StatusOr<int64_t> AttemptId(const std::string& point, uint32_t attempt) const;
  // Keeps the first error and stops the scheduler.
  void Fail(const Status& status);
  // Passes a pending stop request on to the scheduler (once).
  void CheckStop();
  void Event(const std::string& line) const;
  std::string Where(int group) const;

  ResultsDb* db_;
  DbListenerOptions options_;
  Scheduler* scheduler_ = nullptr;
  Status error_;
  bool stop_sent_ = false;
  int completed_ = 0, failed_ = 0;
  std::map<std::pair<std::string, uint32_t>, int64_t> attempt_ids_;
  std::map<int, GroupState> group_states_;  // the last state reported per group
  std::optional<Transaction> batch_;        // open while changes wait for their commit
  int batch_changes_ = 0;
};

}  // namespace perflaw::orchestrator
