// Running a sweep on rank 0: plain C++ given a Transport and a Clock (MPI only in run_cmd.cc).
//
//   PlanRun(SWEEP.yaml) / PlanResume(DB)   parse and validate; read-only, writes nothing
//   ExecuteRun(plan, transport, clock)     take the database's writer lock, record the sweep and
//                                          its points, make the synthetic data, run the Scheduler
//                                          with a DbListener, print progress, close the sweep,
//                                          print the summary and, when the grid is done, the law
// What is printed, the exit codes and resume: docs/running.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apen/status.h"
#include "orchestrator/adaptive.h"
#include "orchestrator/clock.h"
#include "orchestrator/db_listener.h"
#include "orchestrator/eta.h"
#include "orchestrator/results_db.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/sweep.h"
#include "orchestrator/transport.h"

namespace perflaw::orchestrator {

// The one-writer rule as a lock: an exclusive flock(2) on DB.lock beside the database's real path
// (symlinks and ".." resolved), and on the database file itself when it exists (so that a hard link
// to it, a path the lock file cannot know, finds it locked too), held while a run writes. A second
// writer fails at once (no waiting) with a one-line FailedPrecondition; readers (status, results,
// sql, sqlite3) never take it. The lock file is removed on release. (flock does not touch the
// fcntl locks SQLite takes; the database's descriptor is closed only after the run's connections.)
class WriterLock {
 public:
  // Takes the lock for `db_path` (whose directory must exist). Creates only DB.lock.
  static StatusOr<std::unique_ptr<WriterLock>> Acquire(const std::string& db_path);
  // Whether another process holds the lock now; creates and removes nothing. For early checks
  // (perflaw run, before it starts mpirun); the writer itself must Acquire.
  static Status CheckFree(const std::string& db_path);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  WriterLock(int fd, int db_fd, std::string path)
      : fd_(fd), db_fd_(db_fd), path_(std::move(path)) {}
  int fd_;
  int db_fd_;  // the database file's, -1 when it did not exist
  std::string path_;
};

// The path of the lock file of a database: DB.lock beside its real path.
std::string WriterLockPath(const std::string& db_path);

// What is run, decided before anything is written.
struct RunPlan {
  Sweep sweep;
  std::string db_path;        // the database written (--db, or the sweep's db:)
  bool resume = false;        // continue the database's latest sweep instead of recording a new one
  bool retry_failed = false;  // resume: FAILED points get a fresh failure budget
  std::string law_group_by;   // law::StudyOptions::group_by of law.group_by ("none": [])
  bool planned = false;       // false until PlanRun / PlanResume succeeded
};

// Parses and validates SWEEP.yaml (as `perflaw sweep check`) and the law section; `db_override`
// replaces the sweep's db: when not empty. Writes nothing. Bad input: InvalidArgument / NotFound.
StatusOr<RunPlan> PlanRun(const std::string& sweep_path, const std::string& db_override);

// Reads the latest sweep's YAML back from DB (read-only) and parses it as it was parsed when it
// was recorded (relative paths against the directory recorded with it). Writes nothing.
StatusOr<RunPlan> PlanResume(const std::string& db_path, bool retry_failed);

// Removes WORK_DIR/checkpoints/*/checkpoint.pt.tmp: the temporary file of a checkpoint that a rank
// killed mid-write left (the worker writes checkpoints via it and a rename). Only call it while no
// rank of a job on this work_dir runs. Returns how many were removed.
int RemoveStaleCheckpointTemporaries(const std::string& work_dir);

// The law: section as law::StudyOptions::group_by ("dataset,max_seq_len", "max_seq_len", "none").
// Only `dataset` and `data.max_seq_len` can be fitted separately; other axes are an error.
StatusOr<std::string> LawGroupBy(const LawSpec& law);

// How progress is printed (to the error stream).
enum class ProgressMode {
  kTty,    // one line rewritten in place with \r (an interactive terminal)
  kLines,  // a full line at most every RunOptions::progress_line_seconds
  kNone,   // nothing but events
};
// "tty", "lines", "none".
std::optional<ProgressMode> ParseProgressMode(const std::string& name);

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

// Sets the scheduler's options from the sweep's policy over `base`.
SchedulerOptions SchedulerOptionsFor(const Policy& policy, SchedulerOptions base);

// The progress line's ETA (orchestrator/eta.h, the estimate `perflaw status` and the run summary
// give too) kept up to date from the run's events: a DurationModel over this run's completed
// attempts, the waiting points by cost and the running ones with their epochs. Forwards every
// report to `inner` (the database listener), with Progress::eta_seconds and the running points'
// epochs filled in.
class EtaListener final : public SchedulerListener {
 public:
  // `inner` and `clock` must outlive it; `points` are the ones given to Scheduler::Run.
  EtaListener(SchedulerListener* inner, const Clock& clock,
              const std::vector<PendingPoint>& points);

  void OnAttemptStarted(const std::string& point, uint32_t attempt, int group) override;
  void OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                      const nlohmann::json& metrics) override;
  void OnPointCompleted(const std::string& point, uint32_t attempt,
                        const nlohmann::json& result) override;
  void OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                       const std::string& message, bool will_retry) override;
  void OnGroupStateChanged(int group, GroupState state, const std::string& why) override;
  void OnProgress(const Progress& progress) override;
  void OnQuiet() override { inner_->OnQuiet(); }

  // Points added to the run after it started (Scheduler's Refill).
  void AddPoints(const std::vector<PendingPoint>& points);

  // Seconds until every point not done is done; empty while the model is not identified.
  std::optional<double> Eta(int groups) const;

 private:
  struct State {
    double cost = 0;
    double started = -1;  // clock time of the running attempt's start; -1 when not running
    bool done = false;
    size_t slot = 0;              // its place in cost order (sums_)
    uint32_t epochs_max = 0;      // train.epochs of its configuration
    uint32_t last_epoch = 0;      // the latest epoch the running attempt reported
    uint32_t epochs_attempt = 0;  // epochs the running attempt reported
  };
  // Sums over the points waiting to start, by cost order, so that an ETA costs O(log points +
  // running points) instead of a pass over every point (one comes after every change).
  class CostSums {
   public:
    void Reset(size_t n);
    void Add(size_t slot, double count, double cost);
    // (points, summed cost) in slots >= slot.
    std::pair<double, double> From(size_t slot) const;

   private:
    std::vector<std::pair<double, double>> tree_;  // Fenwick tree of (count, cost)
  };
  // Puts `s` where its flags say: waiting (in sums_), running (in running_), or done (nowhere).
  void Place(State& s, bool add);
  // The point's state; one never heard of is added with cost 0 (the cost order is rebuilt).
  State& Find(const std::string& id);
  // Sorts every point by cost and files the waiting ones in sums_ (construction, AddPoints).
  void Rebuild();

  SchedulerListener* inner_;
  const Clock& clock_;
  std::map<std::string, State> points_;
  std::vector<double> costs_;  // every point's cost, ascending: slot i holds costs_[i]
  CostSums sums_;
  std::set<State*> running_;
  DurationModel model_;  // over this run's completed attempts
};

// Runs the plan with these workers. Progress and events go to `err`, the summary and the law fit
// to `out`. Returns an error (and writes nothing) when the database is locked by another writer
// or cannot be opened; database errors during the run stop it and are returned after the
// scheduler ended (the sweep is closed INTERRUPTED where the database still allows). Every worker
// group is sent Shutdown in the end, also when an error comes before the scheduler runs, so that
// an MPI job always ends.
StatusOr<RunOutcome> ExecuteRun(const RunPlan& plan, Transport* transport, const Clock& clock,
                                const RunOptions& options, std::ostream& out, std::ostream& err);

// "1h02m03s", "4m05s", "12s" (for the progress line and the summary).
std::string FormatDuration(double seconds);

// The progress line's text (without \r or newline):
// "points: 5/16 done, 2 running, 0 failed, 9 pending | elapsed 1m23s | ETA 3m10s | 2 worker groups"
std::string ProgressLine(const Progress& progress, int64_t reused_completed, int64_t prior_failed);

}  // namespace perflaw::orchestrator
