// DbListener: the scheduler's reports land in a real SQLite file (attempt ids, hosts and ranks,
// reasons, FAILED when the scheduler gives up), and a database error stops the scheduler.
#include "orchestrator/store/db_listener.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "orchestrator/store/sqlite_util.h"
#include "tests/orchestrator/schedule/fakes.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;
using perflaw::testing::TempDir;

std::string Text(const ResultsDb& db, const std::string& sql) {
  return perflaw::testing::QueryText(db, sql);
}

json ValidResult() {
  worker::PointResult r =
      perflaw::testing::CompletedResult({100, 200}, /*tokens_seen=*/0, /*best_epoch=*/0);
  r.test = perflaw::testing::TestMetrics("sampled:100", /*users=*/10, /*mrr=*/0, {{10, 0.5}},
                                         {{10, 0.25}});
  return worker::PointResultToJson(r);
}

class DbListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(dir_.File("r.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    StatusOr<int64_t> sweep = db_->RecordSweep("name: t\n", "t");
    ASSERT_TRUE(sweep.ok());
    std::vector<NewPoint> points;
    for (const char* id : {"p1", "p2", "p3"}) points.push_back({id, json::object().dump(), 1.0});
    ASSERT_TRUE(db_->AddPoints(*sweep, points).ok());
    options_.max_attempts = 3;
    options_.placement.hosts = [](int g) {
      return std::vector<std::string>{"node" + std::to_string(g)};
    };
    options_.placement.ranks = [](int g) { return std::vector<int>{2 * g + 1, 2 * g + 2}; };
    options_.on_event = [this](const std::string& line) { events_.push_back(line); };
  }

  TempDir dir_;
  std::unique_ptr<ResultsDb> db_;
  DbListenerOptions options_;
  std::vector<std::string> events_;
};

TEST(AttemptEndNameTest, MapsEverySchedulerReason) {
  EXPECT_STREQ(AttemptEndName(std::nullopt), "completed");
  EXPECT_STREQ(AttemptEndName(FailureReason::kFailed), "failed");
  EXPECT_STREQ(AttemptEndName(FailureReason::kDiverged), "diverged");
  EXPECT_STREQ(AttemptEndName(FailureReason::kTimeout), "timeout");
  EXPECT_STREQ(AttemptEndName(FailureReason::kHeartbeatLost), "heartbeat_lost");
  EXPECT_STREQ(AttemptEndName(FailureReason::kGroupLost), "heartbeat_lost");
  EXPECT_STREQ(AttemptEndName(FailureReason::kPreempted), "preempted");
  EXPECT_STREQ(AttemptEndName(FailureReason::kInterrupted), "interrupted");
  EXPECT_STREQ(AttemptEndName(FailureReason::kStorage), "interrupted");
  // What uses up an attempt is the scheduler's rule, also for the name a reason is stored under.
  for (FailureReason r :
       {FailureReason::kFailed, FailureReason::kDiverged, FailureReason::kTimeout,
        FailureReason::kHeartbeatLost, FailureReason::kGroupLost, FailureReason::kPreempted,
        FailureReason::kInterrupted, FailureReason::kStorage}) {
    const auto stored = FailureReasonFromName(AttemptEndName(r));
    ASSERT_TRUE(stored.has_value()) << FailureReasonName(r);
    EXPECT_EQ(CountsAgainstPoint(r), CountsAgainstPoint(*stored)) << FailureReasonName(r);
  }
}

TEST_F(DbListenerTest, RecordsAttemptsWithPlacementAndMapsAttemptNumbers) {
  DbListener listener(db_.get(), options_);
  listener.OnAttemptStarted("p1", 1, 0);
  listener.OnAttemptStarted("p2", 1, 1);
  listener.OnEpochMetrics("p2", 1, 1, {{"epoch", 1}, {"train_loss", 0.7}, {"steps", 5}});
  listener.OnPointCompleted("p2", 1, ValidResult());
  ASSERT_TRUE(listener.error().ok()) << listener.error().ToString();
  EXPECT_EQ(Text(*db_, "SELECT hosts FROM attempts WHERE point = 'p1'"), "[\"node0\"]");
  EXPECT_EQ(Text(*db_, "SELECT ranks FROM attempts WHERE point = 'p2'"), "[3,4]");
  EXPECT_EQ(Text(*db_, "SELECT group_id FROM attempts WHERE point = 'p2'"), "1");
  EXPECT_EQ(Text(*db_, "SELECT state FROM points WHERE id = 'p2'"), "COMPLETED");
  EXPECT_EQ(Text(*db_, "SELECT exit_reason FROM attempts WHERE point = 'p2'"), "completed");
  // The epoch and the result went to p2's database attempt (id 2), not to the scheduler's "1".
  EXPECT_EQ(Text(*db_, "SELECT DISTINCT attempt FROM epoch_metrics"), "2");
  EXPECT_EQ(Text(*db_, "SELECT attempt FROM results WHERE point = 'p2'"), "2");
  EXPECT_EQ(Text(*db_, "SELECT value FROM result_metrics WHERE metric = 'hr' AND k = 10"), "0.5");
  EXPECT_EQ(listener.completed(), 1);
}

TEST_F(DbListenerTest, GroupLostIsRecordedAsHeartbeatLostAndRetried) {
  DbListener listener(db_.get(), options_);
  listener.OnAttemptStarted("p1", 1, 0);
  listener.OnAttemptFailed("p1", 1, FailureReason::kGroupLost, "ranks 1-2 died", true);
  ASSERT_TRUE(listener.error().ok()) << listener.error().ToString();
  EXPECT_EQ(Text(*db_, "SELECT exit_reason FROM attempts"), "heartbeat_lost");
  EXPECT_EQ(Text(*db_, "SELECT error FROM attempts"), "group lost: ranks 1-2 died");
  EXPECT_EQ(Text(*db_, "SELECT state || ' ' || failures FROM points WHERE id = 'p1'"), "PENDING 1");
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_NE(events_[0].find("will retry"), std::string::npos) << events_[0];
}

TEST_F(DbListenerTest, PointTheSchedulerGivesUpOnIsFailedWhateverItsBudget) {
  DbListener listener(db_.get(), options_);  // max_attempts 3
  listener.OnAttemptStarted("p1", 1, 0);
  listener.OnAttemptFailed("p1", 1, FailureReason::kFailed, "bad input", /*will_retry=*/false);
  EXPECT_EQ(Text(*db_, "SELECT state FROM points WHERE id = 'p1'"), "FAILED");
  EXPECT_EQ(listener.failed(), 1);
  // Preemption never fails a point and is not reported line by line.
  listener.OnAttemptStarted("p2", 1, 1);
  listener.OnAttemptFailed("p2", 1, FailureReason::kPreempted, "SIGTERM", true);
  EXPECT_EQ(Text(*db_, "SELECT state || ' ' || failures FROM points WHERE id = 'p2'"), "PENDING 0");
  EXPECT_EQ(Text(*db_, "SELECT exit_reason FROM attempts WHERE point = 'p2'"), "preempted");
  EXPECT_EQ(events_.size(), 1u);
  EXPECT_TRUE(listener.error().ok());
}

TEST_F(DbListenerTest, RetriesAcrossAttemptsUseTheirOwnDatabaseIds) {
  DbListener listener(db_.get(), options_);
  listener.OnAttemptStarted("p1", 1, 0);
  listener.OnAttemptFailed("p1", 1, FailureReason::kTimeout, "too slow", true);
  listener.OnAttemptStarted("p1", 2, 1);
  listener.OnPointCompleted("p1", 2, ValidResult());
  ASSERT_TRUE(listener.error().ok()) << listener.error().ToString();
  EXPECT_EQ(Text(*db_,
                 "SELECT group_concat(exit_reason, ',') FROM (SELECT exit_reason FROM "
                 "attempts WHERE point = 'p1' ORDER BY id)"),
            "timeout,completed");
  EXPECT_EQ(Text(*db_, "SELECT attempts || ' ' || state FROM points WHERE id = 'p1'"),
            "2 COMPLETED");
}

TEST_F(DbListenerTest, DatabaseErrorStopsTheSchedulerAndIsKept) {
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 1);
  DbListener listener(db_.get(), options_);
  Scheduler scheduler(SchedulerOptions{}, &world, &clock, &listener);
  listener.Attach(&scheduler);
  // The fake's epoch record has no epoch number: RecordEpochMetrics refuses it.
  std::vector<PendingPoint> points(2);
  points[0].id = "p1";
  points[1].id = "p2";
  points[0].config = points[1].config = json::object();
  StatusOr<SchedulerSummary> summary = scheduler.Run(points);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(listener.error().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(listener.error().message().find("epoch record without an epoch number"),
            std::string::npos)
      << listener.error().message();
  // Asked to stop at the first error: the second point never ran.
  EXPECT_EQ(summary->end, RunEnd::kInterrupted);
  EXPECT_EQ(world.Dispatches().size(), 1u);
  ASSERT_FALSE(events_.empty());
  EXPECT_NE(events_[0].find("results database error"), std::string::npos);
}

int64_t CompletedAsSeenByAReader(const std::string& path) {
  StatusOr<std::unique_ptr<ResultsDb>> reader = ResultsDb::OpenReadOnly(path);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return (*reader)->Counts()->completed;
}

TEST_F(DbListenerTest, ChangesReachReadersWhenTheSchedulerIsQuiet) {
  DbListener listener(db_.get(), options_);
  listener.OnAttemptStarted("p1", 1, 0);
  listener.OnEpochMetrics("p1", 1, 1, {{"epoch", 1}, {"train_loss", 0.7}});
  listener.OnPointCompleted("p1", 1, ValidResult());
  ASSERT_TRUE(listener.error().ok()) << listener.error().ToString();
  // The writer sees its batch; a reader sees the last commit.
  EXPECT_EQ(Text(*db_, "SELECT state FROM points WHERE id = 'p1'"), "COMPLETED");
  EXPECT_EQ(CompletedAsSeenByAReader(dir_.File("r.db")), 0);
  listener.OnQuiet();
  EXPECT_EQ(CompletedAsSeenByAReader(dir_.File("r.db")), 1);
  EXPECT_TRUE(db_->IntegrityCheck().ok());
}

TEST_F(DbListenerTest, FullBatchCommitsAtOnceAndAFailedChangeUndoesOnlyItself) {
  options_.max_batch_changes = 2;
  {
    DbListener listener(db_.get(), options_);
    listener.OnAttemptStarted("p1", 1, 0);
    listener.OnPointCompleted("p1", 1, ValidResult());  // the second change: committed
    EXPECT_EQ(CompletedAsSeenByAReader(dir_.File("r.db")), 1);
    listener.OnAttemptStarted("p2", 1, 1);
    listener.OnEpochMetrics("p2", 1, 1, {{"train_loss", 0.7}});  // no epoch number: refused
    EXPECT_EQ(listener.error().code(), Status::Code::kInvalidArgument);
    listener.OnPointCompleted("p2", 1, ValidResult());
  }  // the listener commits what is left when it goes
  EXPECT_EQ(CompletedAsSeenByAReader(dir_.File("r.db")), 2);
  EXPECT_EQ(Text(*db_, "SELECT count(*) FROM epoch_metrics"), "0");
  EXPECT_EQ(Text(*db_, "SELECT count(*) FROM attempts"), "2");
  EXPECT_TRUE(db_->IntegrityCheck().ok());
}

TEST(DbListenerOptionsTest, RejectsAnEmptyBatch) {
  DbListenerOptions options;
  std::string why;
  EXPECT_TRUE(options.IsValid(&why)) << why;
  options.max_batch_changes = 0;
  EXPECT_FALSE(options.IsValid(&why));
  EXPECT_EQ(why, "max_batch_changes must be >= 1, got 0");
}

TEST_F(DbListenerTest, UnknownAttemptIsAnError) {
  DbListener listener(db_.get(), options_);
  listener.OnEpochMetrics("p1", 7, 1, json::object());
  EXPECT_EQ(listener.error().code(), Status::Code::kInternal);
}

TEST_F(DbListenerTest, StopRequestIsPassedOnAtTheNextProgressReport) {
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 1);
  bool stop = false;
  options_.stop_requested = [&] { return stop; };
  DbListener listener(db_.get(), options_);
  SchedulerOptions sched;
  sched.progress_interval = 0.5;
  Scheduler scheduler(sched, &world, &clock, &listener);
  listener.Attach(&scheduler);
  world.At(0.2, [&] { stop = true; });
  std::vector<PendingPoint> points(1);
  points[0].id = "p1";
  points[0].config = json{{"seconds", 100.0}};
  StatusOr<SchedulerSummary> summary = scheduler.Run(points);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->end, RunEnd::kInterrupted);
  EXPECT_LT(summary->elapsed_seconds, 5.0);
  EXPECT_EQ(Text(*db_, "SELECT exit_reason FROM attempts"), "preempted");
  EXPECT_EQ(Text(*db_, "SELECT state FROM points WHERE id = 'p1'"), "PENDING");
}

}  // namespace
}  // namespace perflaw::orchestrator
