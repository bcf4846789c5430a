#include "orchestrator/store/db_listener.h"

#include <sstream>

namespace perflaw::orchestrator {

bool DbListenerOptions::IsValid(std::string* why) const {
  if (max_attempts < 1) {
    *why = "max_attempts must be >= 1, got " + std::to_string(max_attempts);
    return false;
  }
  if (max_batch_changes < 1) {
    *why = "max_batch_changes must be >= 1, got " + std::to_string(max_batch_changes);
    return false;
  }
  return true;
}

DbListener::DbListener(ResultsDb* db, DbListenerOptions options)
    : db_(db), options_(std::move(options)) {}

DbListener::~DbListener() {
  if (batch_) batch_->Commit();  // nowhere to report a failure to here: then it rolls back
}

Status DbListener::OpenBatch() {
  if (batch_) return Status::Ok();
  StatusOr<Transaction> batch = db_->BeginBatch();
  if (!batch.ok()) return batch.status();
  batch_ = std::move(*batch);
  batch_changes_ = 0;
  return Status::Ok();
}

void DbListener::Changed() {
  if (++batch_changes_ >= options_.max_batch_changes) CommitBatch();
}

void DbListener::CommitBatch() {
  if (!batch_) return;
  Status st = batch_->Commit();
  batch_.reset();  // rolls back what a failed commit left open
  if (st.ok()) st = db_->CheckInPlace();
  if (!st.ok()) Fail(st);
}

void DbListener::OnQuiet() { CommitBatch(); }

void DbListener::OnAttemptStarted(const std::string& point, uint32_t attempt, int group) {
  const std::vector<std::string> hosts =
      options_.placement.hosts ? options_.placement.hosts(group) : std::vector<std::string>();
  const std::vector<int> ranks =
      options_.placement.ranks ? options_.placement.ranks(group) : std::vector<int>();
  if (Status st = OpenBatch(); !st.ok()) return Fail(st);
  StatusOr<int64_t> id = db_->StartAttempt(point, group, hosts, ranks);
  if (!id.ok()) return Fail(id.status());
  attempt_ids_[{point, attempt}] = *id;
  Changed();
}

void DbListener::OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t,
                                const nlohmann::json& metrics) {
  StatusOr<int64_t> id = AttemptId(point, attempt);
  if (!id.ok()) return Fail(id.status());
  if (Status st = OpenBatch(); !st.ok()) return Fail(st);
  Status st = db_->RecordEpochMetrics(point, *id, metrics);
  if (!st.ok()) return Fail(st);
  Changed();
}

void DbListener::OnPointCompleted(const std::string& point, uint32_t attempt,
                                  const nlohmann::json& result) {
  StatusOr<int64_t> id = AttemptId(point, attempt);
  if (!id.ok()) return Fail(id.status());
  if (Status st = OpenBatch(); !st.ok()) return Fail(st);
  Status st = db_->CompletePoint(point, *id, result);
  if (!st.ok()) return Fail(st);
  Changed();
  ++completed_;
  CheckStop();
}

void DbListener::OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                                 const std::string& message, bool will_retry) {
  StatusOr<int64_t> id = AttemptId(point, attempt);
  if (!id.ok()) return Fail(id.status());
  std::string error = message;
  if (reason == FailureReason::kGroupLost) error = "group lost: " + message;
  if (reason == FailureReason::kStorage) error = "storage: " + message;
  // A point the scheduler gives up on (e.g. a non-retryable failure) is FAILED in the database
  // too, whatever its failure count: the database then fails it at this counted failure.
  const uint32_t max_attempts = will_retry ? options_.max_attempts : 1;
  if (Status st = OpenBatch(); !st.ok()) return Fail(st);
  StatusOr<PointState> state =
      db_->FailAttempt(point, *id, reason, error, static_cast<int64_t>(max_attempts));
  if (!state.ok()) return Fail(state.status());
  Changed();
  const bool failed = *state == PointState::kFailed;
  failed_ += failed;
  if (failed == will_retry) {
    Event("point " + point + ": the database says " + PointStateName(*state) +
          " but the scheduler " + (will_retry ? "retries it" : "gave up on it"));
  }
  // A SIGTERM reaches the workers and us together: see it before the scheduler hands the group that
  // just answered `preempted` its next point.
  CheckStop();
  if (reason == FailureReason::kPreempted) return;  // the stop itself is reported once
  std::ostringstream line;
  line << "point " << point << " attempt " << attempt << " " << FailureReasonName(reason) << ": "
       << message << (failed ? " -> FAILED" : " -> will retry");
  Event(line.str());
}

void DbListener::OnGroupStateChanged(int group, GroupState state, const std::string& why) {
  auto [it, first] = group_states_.emplace(group, state);
  const GroupState before = first ? GroupState::kStarting : it->second;
  it->second = state;
  if (before == GroupState::kStarting && state == GroupState::kIdle) return;  // start-up: routine
  Event("worker group " + std::to_string(group) + Where(group) + " is " + GroupStateName(state) +
        (why.empty() ? "" : ": " + why));
}

void DbListener::OnProgress(const Progress& progress) {
  if (options_.on_progress) options_.on_progress(progress);
  CheckStop();
}

void DbListener::CheckStop() {
  if (!stop_sent_ && options_.stop_requested && options_.stop_requested() && scheduler_) {
    stop_sent_ = true;
    scheduler_->RequestStop();
  }
}

StatusOr<int64_t> DbListener::AttemptId(const std::string& point, uint32_t attempt) const {
  auto it = attempt_ids_.find({point, attempt});
  if (it == attempt_ids_.end()) {
    return Status::Internal("point " + point + " attempt " + std::to_string(attempt) +
                            " was never started in the database");
  }
  return it->second;
}

void DbListener::Fail(const Status& status) {
  if (error_.ok()) {
    error_ = status;
    Event("results database error, stopping the run: " + status.message());
  }
  // After some errors (full disk, I/O) SQLite has rolled back the whole batch itself: forget it, so
  // that later changes start a new one instead of running outside any batch.
  if (batch_ && !db_->connection().InTransaction()) {
    batch_.reset();
    Event("the uncommitted changes of this batch (" + std::to_string(batch_changes_) +
          ") were rolled back by SQLite; resume reruns their points");
  }
  if (scheduler_) scheduler_->RequestStop();
}

void DbListener::Event(const std::string& line) const {
  if (options_.on_event) options_.on_event(line);
}

std::string DbListener::Where(int group) const {
  if (!options_.placement.hosts) return "";
  std::string out;
  for (const std::string& h : options_.placement.hosts(group)) out += (out.empty() ? "" : ",") + h;
  return out.empty() ? "" : " (" + out + ")";
}

}  // namespace perflaw::orchestrator
