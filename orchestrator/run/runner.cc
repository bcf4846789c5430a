#include "orchestrator/run/runner.h"

#include <filesystem>
#include <memory>
#include <ostream>
#include <utility>
#include <vector>

#include "orchestrator/store/db_listener.h"
#include "orchestrator/run/dataset_stats.h"
#include "orchestrator/run/summary.h"

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;

std::vector<PendingPoint> ToPending(const std::vector<PointRecord>& records,
                                    const std::string& work_dir, Status* error) {
  std::vector<PendingPoint> points;
  for (const PointRecord& r : records) {
    PendingPoint p;
    p.id = r.id;
    p.config = nlohmann::json::parse(r.config_json, nullptr, /*allow_exceptions=*/false);
    if (p.config.is_discarded()) {
      *error = Status::Corruption("point " + r.id + ": stored configuration is not JSON");
      return {};
    }
    p.cost = r.cost;
    p.checkpoint_dir = (fs::path(work_dir) / "checkpoints" / r.id).string();
    p.attempts = static_cast<uint32_t>(r.attempts);
    p.failures = static_cast<uint32_t>(r.failures);
    points.push_back(std::move(p));
  }
  return points;
}

// The sweep's points, recorded (run) or looked up (resume); fills the outcome's bookkeeping.
StatusOr<int64_t> RecordOrFindSweep(const RunPlan& plan, ResultsDb* db, RunOutcome* outcome) {
  if (plan.resume) {
    StatusOr<std::optional<int64_t>> latest = db->LatestSweep();
    if (!latest.ok()) return latest.status();
    if (!*latest) return Status::NotFound(plan.db_path + ": no sweep to resume");
    if (plan.retry_failed) {
      StatusOr<int64_t> reset = db->ResetFailed(**latest);
      if (!reset.ok()) return reset.status();
      outcome->failed_reset = *reset;
    }
    StatusOr<StateCounts> counts = db->Counts(**latest);
    if (!counts.ok()) return counts.status();
    outcome->reused_completed = counts->completed;
    return **latest;
  }
  // One transaction: a point that conflicts with a stored one leaves no sweep row behind (a
  // failed run writes nothing).
  StatusOr<Transaction> batch = db->BeginBatch();
  if (!batch.ok()) return batch.status();
  StatusOr<int64_t> sweep = db->RecordSweep(YamlForRecord(plan.sweep), plan.sweep.name);
  if (!sweep.ok()) return sweep.status();
  std::vector<NewPoint> points;
  for (const GridPoint& p : plan.sweep.points)
    points.push_back({p.id, CanonicalJson(p.config).dump(), p.cost});
  StatusOr<AddPointsResult> added = db->AddPoints(*sweep, points);
  if (!added.ok()) return added.status();
  PERFLAW_RETURN_IF_ERROR(batch->Commit());
  outcome->reused_completed = added->existing_completed;
  outcome->relocated = added->relocated;
  return *sweep;
}

// The ETA of eta.h for what a stopped run left, were it resumed on `groups` groups: the sweep's
// completed attempts fit the durations, its PENDING points wait. Empty when unknown.
std::optional<double> RemainingAfterStop(const ResultsDb& db, int64_t sweep, int groups) {
  StatusOr<DurationModel> model = db.FitDurations(sweep);
  StatusOr<std::vector<double>> waiting = db.PendingCosts(sweep);
  if (!model.ok() || !waiting.ok()) return std::nullopt;
  return EstimateEta(*model, *waiting, {}, groups);
}

int ExitCodeOf(const StateCounts& c) {
  if (c.pending + c.running > 0) return 3;
  return c.failed > 0 ? 1 : 0;
}

StatusOr<std::vector<PendingPoint>> PrepareRun(const RunPlan& plan, ResultsDb* db,
                                               RunOutcome* outcome, StateCounts* before) {
  // Anything left RUNNING belongs to a job that died: we hold the only writer lock.
  StatusOr<int64_t> closed = db->CloseInterruptedAttempts();
  if (!closed.ok()) return closed.status();
  outcome->interrupted_attempts_closed = *closed;
  StatusOr<std::vector<std::string>> data = MaterializeSyntheticData(plan.sweep);
  if (!data.ok()) return data.status();
  StatusOr<int64_t> sweep = RecordOrFindSweep(plan, db, outcome);
  if (!sweep.ok()) return sweep.status();
  outcome->sweep_id = *sweep;
  StatusOr<std::vector<PointRecord>> records = db->PendingPoints(*sweep);
  if (!records.ok()) return records.status();
  StatusOr<StateCounts> counts = db->Counts(*sweep);
  if (!counts.ok()) return counts.status();
  *before = *counts;
  Status convert;
  std::vector<PendingPoint> points = ToPending(*records, plan.sweep.work_dir, &convert);
  PERFLAW_RETURN_IF_ERROR(convert);
  std::error_code ec;
  fs::create_directories(fs::path(plan.sweep.work_dir) / "checkpoints", ec);
  if (ec) {
    return Status::IoError("cannot create " + plan.sweep.work_dir +
                           "/checkpoints: " + ec.message());
  }
  return points;
}

}  // namespace

SchedulerOptions SchedulerOptionsFor(const Policy& policy, SchedulerOptions base) {
  base.max_attempts = policy.max_attempts;
  // policy: 0 = no limit; the scheduler wants a finite one: ten years is none in practice.
  base.point_timeout = policy.point_timeout > 0 ? policy.point_timeout : 10 * 365 * 86400.0;
  base.heartbeat_interval = policy.heartbeat_interval;
  base.heartbeat_grace = policy.heartbeat_timeout / policy.heartbeat_interval;
  base.dispatch_ahead = policy.dispatch_ahead;
  return base;
}

// ---- the run ----

StatusOr<RunOutcome> ExecuteRun(const RunPlan& plan, Transport* transport, const Clock& clock,
                                const RunOptions& options, std::ostream& out, std::ostream& err) {
  // Until the scheduler runs (it shuts the groups down itself), an early return ends the workers.
  struct ShutdownUnlessRun {
    Transport* transport;
    bool scheduler_ran = false;
    ~ShutdownUnlessRun() {
      if (scheduler_ran) return;
      for (int g = 0; g < transport->GroupCount(); ++g) (void)transport->Send(g, Shutdown{});
    }
  } shutdown_guard{transport};
  if (!plan.planned) return Status::InvalidArgument("ExecuteRun: the plan was not made");
  const SchedulerOptions sched_options = SchedulerOptionsFor(plan.sweep.policy, options.scheduler);
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument("run options: " + why);
  if (!sched_options.IsValid(&why)) return Status::InvalidArgument("policy: " + why);

  std::error_code ec;
  fs::create_directories(fs::path(plan.db_path).parent_path(), ec);
  if (ec)
    return Status::IoError("cannot create the directory of " + plan.db_path + ": " + ec.message());
  StatusOr<std::unique_ptr<WriterLock>> lock = WriterLock::Acquire(plan.db_path);
  if (!lock.ok()) return lock.status();
  StatusOr<std::unique_ptr<ResultsDb>> opened = ResultsDb::OpenForWriting(plan.db_path);
  if (!opened.ok()) return opened.status();
  ResultsDb& db = **opened;

  RunOutcome outcome;
  StateCounts before;
  StatusOr<std::vector<PendingPoint>> points = PrepareRun(plan, &db, &outcome, &before);
  if (!points.ok()) return points.status();
  const int64_t sweep = outcome.sweep_id;
  PERFLAW_RETURN_IF_ERROR(RecordDatasetStats(plan.sweep, &db, err));

  err << "perflaw: sweep " << plan.sweep.name << " (id " << sweep << ") in " << plan.db_path << ": "
      << before.total() << " points, " << before.completed << " already completed (not rerun), "
      << points->size() << " to run on " << transport->GroupCount() << " worker group(s)"
      << std::endl;

  ProgressPrinter printer(options.progress, options.progress_line_seconds, clock, err,
                          before.completed, before.failed);
  DbListenerOptions listen;
  listen.max_attempts = plan.sweep.policy.max_attempts;
  listen.placement = options.placement;
  listen.on_progress = [&](const Progress& p) { printer.Update(p); };
  listen.on_event = [&](const std::string& line) { printer.Event(line); };
  listen.stop_requested = [&] { return options.stop && options.stop->load(); };
  if (!listen.IsValid(&why)) return Status::InvalidArgument("policy: " + why);
  DbListener listener(&db, listen);
  EtaListener timed(&listener, clock, *points);
  Scheduler scheduler(sched_options, transport, &clock, &timed);
  listener.Attach(&scheduler);
  AdaptiveRounds rounds(plan.sweep, plan.db_path, plan.law_group_by, &db, sweep);
  PERFLAW_RETURN_IF_ERROR(rounds.Load());
  Status round_error;
  Refill refill;
  if (plan.sweep.policy.adaptive.enabled() && options.fit_law) {
    // The next round when every point so far is done; the scheduler has flushed the listener.
    refill = [&]() -> std::vector<PendingPoint> {
      if (!listener.error().ok()) return {};
      std::string event;
      StatusOr<std::vector<PendingPoint>> more = rounds.Next(&event);
      if (!more.ok()) {
        round_error = more.status();
        return {};
      }
      if (!event.empty()) printer.Event(event);
      timed.AddPoints(*more);
      return std::move(more).value();
    };
  }

  PERFLAW_RETURN_IF_ERROR(db.MarkSweepStarted(sweep));
  if (options.stop && options.stop->load()) scheduler.RequestStop();
  StatusOr<SchedulerSummary> summary = scheduler.Run(std::move(points).value(), refill);
  printer.Finish();
  shutdown_guard.scheduler_ran = summary.ok();  // an invalid input sends nothing
  if (!summary.ok()) {
    (void)db.MarkSweepFinished(sweep, "INTERRUPTED");
    return summary.status();
  }
  outcome.scheduler = *summary;
  outcome.ran = true;
  StatusOr<StateCounts> after = db.Counts(sweep);
  const bool done = after.ok() && after->pending + after->running == 0;
  Status finished = db.MarkSweepFinished(sweep, done ? "COMPLETED" : "INTERRUPTED");
  // Whatever the database said, it is not the user's input: exit code 1, not 2.
  if (!listener.error().ok())
    return Status::Internal("results database: " + listener.error().message());
  if (!summary->storage_error.empty())
    return Status::IoError(
        "a worker could not write its files, so the run stopped: " + summary->storage_error +
        " (free space or fix permissions, then run " + "perflaw resume " + plan.db_path + ")");
  if (!round_error.ok()) return Status::Internal("adaptive round: " + round_error.message());
  if (!summary->refill_error.empty())
    return Status::Internal("adaptive round: the scheduler refused its points: " +
                            summary->refill_error);
  if (!after.ok()) return after.status();
  PERFLAW_RETURN_IF_ERROR(finished);
  outcome.counts = *after;
  outcome.adaptive = rounds.summary();
  outcome.exit_code = ExitCodeOf(outcome.counts);
  if (outcome.counts.pending + outcome.counts.running > 0)
    outcome.remaining_seconds = RemainingAfterStop(db, sweep, transport->GroupCount());
  PrintSummary(plan, outcome, out);

  outcome.law = LawAtTheEnd(plan, options, outcome.counts, out);
  out << "\nlaw: " << outcome.law << std::endl;
  return outcome;
}

int RemoveStaleCheckpointTemporaries(const std::string& work_dir) {
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(fs::path(work_dir) / "checkpoints", ec), end; !ec && it != end;
       it.increment(ec)) {
    // The name worker/trainer.cc's WriteFileAtomically gives the checkpoint while writing it.
    std::error_code rm;
    if (fs::remove(it->path() / "checkpoint.pt.tmp", rm)) ++removed;
  }
  return removed;
}

}  // namespace perflaw::orchestrator
