// The results database: one SQLite file per study, written only by the orchestrator (rank 0) and
// read by `perflaw status/results/sql`, `perflaw fit DB` and the stock sqlite3 shell while a sweep
// runs. Schema, states and the meaning of every column: docs/database.md.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apen/dataset.h"
#include "apen/quality.h"
#include "apen/status.h"
#include "orchestrator/schedule/eta.h"
#include "orchestrator/store/results_schema.h"
#include "orchestrator/store/sqlite_util.h"
#include "orchestrator/schedule/transport.h"

namespace perflaw::orchestrator {

// A point's life: PENDING -> RUNNING -> COMPLETED, or back to PENDING (retry, interruption), or
// FAILED once it used up max_attempts. COMPLETED is final.
enum class PointState { kPending, kRunning, kCompleted, kFailed };
const char* PointStateName(PointState state);  // "PENDING", ...
std::optional<PointState> ParsePointState(const std::string& name);

// How an attempt ended: std::nullopt = completed, else the scheduler's (and the wire's)
// FailureReason. The one place that turns it into the attempts.exit_reason text is AttemptEndName;
// the schema's CHECK constraint knows 'completed', 'failed', 'diverged', 'timeout',
// 'heartbeat_lost', 'interrupted', 'preempted', so two reasons are stored under another name:
//   group_lost -> 'heartbeat_lost' (the group stopped answering; the error text says "group lost"),
//   storage    -> 'interrupted'    (not the point's fault; the error text says "storage").
// Whether an end uses up one of the point's attempts is CountsAgainstPoint (transport.h).
using AttemptEnd = std::optional<FailureReason>;
const char* AttemptEndName(AttemptEnd end);  // "completed", "heartbeat_lost", ...

struct ResultsDbOptions {
  // How long a statement waits for a lock held by another connection before failing (ms, >= 0).
  int busy_timeout_ms = 10000;
  // Current time as Unix seconds; empty = the system clock. Tests inject a fake clock.
  std::function<double()> clock;

  bool IsValid(std::string* why) const;
};

struct SweepRecord {
  int64_t id = 0;
  std::string name;
  std::string yaml;
  std::string status;  // CREATED, RUNNING, COMPLETED, INTERRUPTED
  double created = 0;
  std::optional<double> started, finished;
};

struct NewPoint {
  std::string id;           // hash of the canonical configuration
  std::string config_json;  // canonical configuration
  double cost = 0;          // estimated cost (non-embedding parameters x tokens); dispatch order
};

struct AddPointsResult {
  int64_t added = 0;               // points new to the database
  int64_t existing = 0;            // points already stored (reused; linked to this sweep)
  int64_t existing_completed = 0;  // of those, already COMPLETED: never run again
  int64_t relocated = 0;  // of those, stored with other locations (data.path, device, threads):
                          // the same experiment; a point still to run takes the new ones
};

struct PointRecord {
  std::string id;
  std::string config_json;
  PointState state = PointState::kPending;
  int64_t attempts = 0;  // attempts started
  int64_t failures = 0;  // attempts that counted as failures since the last reset
  double cost = 0;
};

struct StateCounts {
  int64_t pending = 0, running = 0, completed = 0, failed = 0;
  int64_t total() const { return pending + running + completed + failed; }
};

struct RunningAttempt {
  int64_t attempt = 0;
  std::string point;
  int64_t group = 0;
  std::string hosts;  // JSON array
  double started = 0;
  double cost = 0;                   // the point's estimated cost
  uint32_t last_epoch = 0;           // the latest epoch it recorded (0: none yet)
  uint32_t epochs_this_attempt = 0;  // epochs this attempt recorded
  uint32_t epochs_max = 0;           // the point's train.epochs
};

struct FailedPoint {
  std::string point;
  int64_t attempts = 0;
  std::string exit_reason;  // of its last attempt
  std::string error;        // of its last attempt
};

// Where a sweep stands: what `perflaw status` and the live progress line of a run print.
struct SweepProgress {
  StateCounts counts;
  std::vector<RunningAttempt> running;
  int64_t completed_attempts = 0;
  std::optional<double> mean_completed_seconds;  // empty until an attempt completed
  // orchestrator/schedule/eta.h's estimate from the completed attempts' (cost, duration), the pending
  // points' costs and the running attempts, spread over the running groups (at least one); 0 when
  // nothing is left; empty while unknown. Whether anything still runs is the caller's to say.
  std::optional<double> eta_seconds;
  double now = 0;  // Unix seconds the ages and the ETA refer to
};

// One measured value with how it was measured.
struct MetricValue {
  std::string split;   // train, valid, test
  std::string metric;  // hr, ndcg, mrr, loss, seconds, ...
  int64_t k = 0;       // the cut-off of hr/ndcg; 0 where there is none
  double value = 0;
  std::string protocol;  // full, sampled:K; "none" for training quantities
};

struct DatasetStatsRecord {
  std::string dataset;  // path as given
  std::string options;  // apen::DataOptions::CanonicalString(): identifies the preprocessing
  int64_t max_seq_len = 0;
  int64_t users = 0, interactions = 0, tokens = 0;
  double apen = 0, sampen = 0, lz_entropy = 0, shannon_bits = 0,
         zlib_ratio = 0;  // NaN = not computed
  int64_t m = 0;          // ApEn/SampEn embedding dimension
  double r = 0;           // ApEn/SampEn tolerance
  // H(next item | previous item), bits: Miller-Madow and plug-in (apen/transition.h); NaN = not
  // computed. Schema version 3 on.
  double transition_bits = std::numeric_limits<double>::quiet_NaN();
  double transition_plugin_bits = std::numeric_limits<double>::quiet_NaN();
  int64_t transition_pairs = 0;  // consecutive pairs the estimate is over
};

// The dataset_stats row of `data` (loaded with `options`) and its measures at one max_seq_len: what
// `perflaw run` and `perflaw data stats --db` store, keyed alike so that the law finds them.
DatasetStatsRecord StatsRecordOf(const apen::DataOptions& options, const apen::Dataset& data,
                                 const apen::QualitySummary& quality);

struct FitRecord {
  std::string form;
  std::string metric;
  nlohmann::json group_keys = nlohmann::json::object();
  nlohmann::json selection = nlohmann::json::object();  // which rows/sweeps/filters were used
  nlohmann::json params = nlohmann::json::object();     // name -> {value, interval}
  int64_t n_points = 0;
  bool converged = false;
  double r2 = 0, rmse = 0, loo_rmse = 0, loo_r2 = 0;  // NaN stored as NULL
  nlohmann::json optimum = nullptr;
};

struct StoredFit {
  int64_t id = 0;
  bool existed = false;  // an identical fit was stored before: nothing was written
};

// One adaptive round (policy.adaptive): the law's verdict on the points before it and what it
// decided: the points it added, each with its group, rule and reason, or why the rounds end.
struct RoundPointRecord {
  std::string point;  // point id
  std::string group;  // the law group it was suggested for ("metric=HR@10 max_seq_len=30")
  double layers = 0, d_model = 0;
  std::string rule;    // extend, shrink, bracket (law/suggest.h)
  std::string reason;  // in words
};
struct RoundRecord {
  int64_t sweep = 0;
  int64_t round = 0;  // 1, 2, ... (the grid itself is round 0)
  std::string metric, form;
  // Per group: {"group", "identified", "pinned": [axes], "verdict": summary}.
  nlohmann::json verdicts = nlohmann::json::array();
  std::string decision;  // "added 4 points" or why the rounds end ("every group identified", ...)
  bool final = false;    // the rounds end here: it added no point
  std::vector<RoundPointRecord> points;
  double created = 0;
};

class ResultsDb {
 public:
  // The schema version this perflaw writes (orchestrator/store/results_schema.h).
  static constexpr int kSchemaVersion = kResultsSchemaVersion;

  // The single writer: creates the file if needed, WAL, synchronous=NORMAL, foreign keys, migrates
  // the schema. A database written by a newer perflaw is refused (FailedPrecondition).
  static StatusOr<std::unique_ptr<ResultsDb>> OpenForWriting(const std::string& path,
                                                             const ResultsDbOptions& options = {});
  // Readers: SQLITE_OPEN_READONLY + query_only; never create the file (NotFound) and never block
  // the writer. The schema may be older (what it lacks reads as empty: Rounds), not newer.
  static StatusOr<std::unique_ptr<ResultsDb>> OpenReadOnly(const std::string& path,
                                                           const ResultsDbOptions& options = {});

  // ---- sweeps ----
  StatusOr<int64_t> RecordSweep(const std::string& yaml, const std::string& name);
  Status MarkSweepStarted(int64_t sweep);                              // RUNNING, started = now
  Status MarkSweepFinished(int64_t sweep, const std::string& status);  // COMPLETED/INTERRUPTED
  StatusOr<SweepRecord> GetSweep(int64_t sweep) const;
  StatusOr<std::optional<int64_t>> LatestSweep() const;

  // ---- points and attempts ----
  // Stores new points (INSERT OR IGNORE) and links all of them to the sweep. A stored point whose
  // experiment (worker::ExperimentPart) differs from the new one is an error naming the keys (the
  // id must be a hash of the configuration); one that differs only in locations is reused.
  StatusOr<AddPointsResult> AddPoints(int64_t sweep, const std::vector<NewPoint>& points);
  // The sweep's PENDING points, most expensive first.
  StatusOr<std::vector<PointRecord>> PendingPoints(int64_t sweep) const;
  StatusOr<PointRecord> GetPoint(const std::string& point) const;
  // PENDING -> RUNNING, attempts + 1; returns the new attempt id. hosts/ranks: where it runs.
  StatusOr<int64_t> StartAttempt(const std::string& point, int64_t group,
                                 const std::vector<std::string>& hosts,
                                 const std::vector<int>& ranks);
  // The worker's per-epoch record (worker::EpochRecordToJson: epoch, steps, train_loss,
  // train_seconds, train_cpu_seconds, eval_seconds, valid{split, protocol, hr@K, ndcg@K, mrr,
  // ...}).
  Status RecordEpochMetrics(const std::string& point, int64_t attempt, const nlohmann::json& epoch);
  // Stores the worker's result (worker::PointResultToJson, status "ok") and makes the point
  // COMPLETED. Idempotent: for a point already COMPLETED nothing is stored again (the attempt is
  // just closed).
  Status CompletePoint(const std::string& point, int64_t attempt, const nlohmann::json& result);
  // Closes the attempt. The point goes back to PENDING, or to FAILED once `max_attempts` attempts
  // counted as failures (see CountsAgainstPoint). Returns the point's new state.
  StatusOr<PointState> FailAttempt(const std::string& point, int64_t attempt, FailureReason reason,
                                   const std::string& error, int64_t max_attempts);
  // After a job died: attempts still open -> "interrupted", RUNNING points -> PENDING, RUNNING
  // sweeps -> INTERRUPTED. Returns the number of attempts closed.
  StatusOr<int64_t> CloseInterruptedAttempts();
  // --retry-failed: the sweep's FAILED points -> PENDING with a fresh failure budget. Returns how
  // many.
  StatusOr<int64_t> ResetFailed(int64_t sweep);

  // ---- queries ----
  // Counts by state over one sweep's points, or over every point when sweep is empty.
  StatusOr<StateCounts> Counts(std::optional<int64_t> sweep = std::nullopt) const;
  StatusOr<std::vector<RunningAttempt>> RunningAttempts(std::optional<int64_t> sweep) const;
  // (cost, wall seconds) of the attempts that completed (for ETAs).
  StatusOr<std::vector<std::pair<double, double>>> CompletedDurations(
      std::optional<int64_t> sweep) const;
  // The ETA's duration model (orchestrator/schedule/eta.h) over the completed attempts.
  StatusOr<DurationModel> FitDurations(std::optional<int64_t> sweep) const;
  // Costs of the PENDING points (for ETAs).
  StatusOr<std::vector<double>> PendingCosts(std::optional<int64_t> sweep) const;
  StatusOr<SweepProgress> GetProgress(std::optional<int64_t> sweep) const;
  StatusOr<std::vector<FailedPoint>> FailedPoints(std::optional<int64_t> sweep) const;
  StatusOr<std::vector<MetricValue>> ResultMetrics(const std::string& point) const;
  StatusOr<std::vector<MetricValue>> EpochMetrics(const std::string& point, int64_t attempt) const;

  // ---- dataset statistics and fits ----
  // Insert or replace the row for (dataset, options, max_seq_len, m, r).
  Status StoreDatasetStats(const DatasetStatsRecord& stats);
  // Stores the fit, unless an identical one is stored (same form, metric, group keys, selection -
  // which includes the fit's options -, parameters and number of points: the same fit of the same
  // data): then nothing is written and that fit's id comes back with `existed`.
  StatusOr<StoredFit> StoreFit(const FitRecord& fit);

  // ---- adaptive rounds ----
  // Adds `points` to the round's sweep (as AddPoints) and records the round, in one transaction.
  Status RecordRound(const RoundRecord& round, const std::vector<NewPoint>& points);
  // The sweep's rounds in order, with their points (none in a database older than schema 2).
  StatusOr<std::vector<RoundRecord>> Rounds(int64_t sweep) const;

  // PRAGMA integrity_check: OK or Corruption with SQLite's report.
  Status IntegrityCheck() const;

  // The writer's file is still at its path and writable by this user (IoError if not): a file
  // removed or replaced during a run (its folder deleted, a copy restored over it) would take every
  // later write with it unseen; one made read-only (chmod) would still be written through the open
  // descriptor, against its owner's wish.
  Status CheckInPlace() const;

  // Opens a batch on the writer: until the returned transaction commits, every change above is a
  // savepoint inside it (still all or nothing on its own) and none is durable or visible to
  // readers. One commit for many small changes: see DbListener.
  StatusOr<Transaction> BeginBatch() { return Transaction::Begin(db_); }

  const SqliteDb& connection() const { return db_; }
  // The file's schema version as opened: a read-only open of an older file is not migrated.
  int schema_version() const { return schema_version_; }
  double Now() const;

 private:
  uint64_t file_dev_ = 0, file_ino_ = 0;  // the writer's file at open (CheckInPlace)
  ResultsDb(SqliteDb db, ResultsDbOptions options);
  Status CheckReadableVersion();
  StatusOr<PointRecord> LoadPoint(const std::string& point) const;
  Status CheckAttemptOfPoint(const std::string& point, int64_t attempt, bool* open) const;
  // The point, once `attempt` is checked to be one of its attempts (`open`: not closed yet).
  StatusOr<PointRecord> LoadPointOfAttempt(const std::string& point, int64_t attempt,
                                           bool* open) const;
  Status CloseAttempt(int64_t attempt, AttemptEnd end, const std::string& error);
  Status StoreResult(const std::string& point, int64_t attempt, const nlohmann::json& result);

  SqliteDb db_;
  ResultsDbOptions options_;
  int schema_version_ = kSchemaVersion;  // of the file as opened (read-only may be older)
};

}  // namespace perflaw::orchestrator
