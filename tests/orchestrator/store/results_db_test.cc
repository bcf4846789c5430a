// The results database API: schema migrations, point state machine, idempotency, interrupted
// attempts, and readers (read-only connections and the stock sqlite3 shell) beside an open writer.
#include "orchestrator/store/results_db.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "orchestrator/store/sqlite_util.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;
using perflaw::testing::RunCommand;
using perflaw::testing::TempDir;

std::unique_ptr<ResultsDb> OpenWriter(const std::string& path, ResultsDbOptions options = {}) {
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(path, options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

int64_t Count(const ResultsDb& db, const std::string& sql) {
  return perflaw::testing::QueryInt(db, sql);
}

std::string Text(const ResultsDb& db, const std::string& sql) {
  return perflaw::testing::QueryText(db, sql);
}

// Runs `sql` on the file without the API: how these tests make a database of another schema.
void ExecBehindTheApi(const std::string& path, const std::string& sql) {
  StatusOr<SqliteDb> raw = SqliteDb::Open(path, SqliteDb::Mode::kReadWriteCreate, 1000);
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw->Exec(sql.c_str()).ok());
}

// Takes away what schema version 3 added to dataset_stats.
constexpr char kDropTransitionColumns[] =
    "ALTER TABLE dataset_stats DROP COLUMN transition_bits; "
    "ALTER TABLE dataset_stats DROP COLUMN transition_plugin_bits; "
    "ALTER TABLE dataset_stats DROP COLUMN transition_pairs; ";

// ApEn of a dataset "a.txt", stored without the transition measure.
DatasetStatsRecord StatsOfA() {
  DatasetStatsRecord s;
  s.dataset = "a.txt";
  s.options = "o";
  s.tokens = 10;
  s.apen = 0.5;
  return s;
}

NewPoint Point(const std::string& id, int layers, double cost) {
  json config = {{"model", {{"layers", layers}, {"d_model", 32}}}, {"data", {{"max_seq_len", 50}}}};
  return {id, config.dump(), cost};
}

// What a worker sends for a finished point (the real serializer, so a change of shape shows here).
json OkResult(double ndcg10) {
  worker::PointResult r =
      perflaw::testing::CompletedResult({1000, 5000}, /*tokens_seen=*/123456, /*best_epoch=*/3);
  r.steps = 40;
  r.wall_seconds = 12.5;
  r.train_seconds = 10.0;
  r.tokens_per_second = 12345.6;
  r.device = "cpu";
  r.test = perflaw::testing::TestMetrics("sampled:100", /*users=*/500, /*mrr=*/0.2,
                                         {{10, 0.5}, {50, 0.8}}, {{10, ndcg10}, {50, 0.4}});
  r.test->eval_seed = 7;
  worker::RankMetrics valid = *r.test;
  valid.split = "valid";
  valid.protocol = "full";
  r.best_valid = valid;
  return worker::PointResultToJson(r);
}

TEST(ResultsDbTest, MigratesAnEmptyFileAndReopensIdempotently) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  {
    auto db = OpenWriter(path);
    ASSERT_TRUE(db);
    EXPECT_EQ(Count(*db, "PRAGMA user_version"), ResultsDb::kSchemaVersion);
    EXPECT_EQ(Text(*db, "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(Count(*db, "PRAGMA foreign_keys"), 1);
    EXPECT_EQ(Count(*db, "PRAGMA synchronous"), 1);  // NORMAL
    for (const char* table : {"sweeps", "points", "sweep_points", "attempts", "epoch_metrics",
                              "results", "result_metrics", "dataset_stats", "fits"}) {
      EXPECT_EQ(Count(*db, std::string("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                       "AND name = '") +
                               table + "'"),
                1)
          << table;
    }
    StatusOr<int64_t> sweep = db->RecordSweep("name: s\n", "s");
    ASSERT_TRUE(sweep.ok());
    ASSERT_TRUE(db->AddPoints(*sweep, {Point("a", 2, 1)}).ok());
  }
  auto db = OpenWriter(path);  // second open: no migration runs again, data kept
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db, "PRAGMA user_version"), ResultsDb::kSchemaVersion);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM points"), 1);
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST(ResultsDbTest, ARoundAddsItsPointsAndIsReadBack) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  ASSERT_TRUE(db);
  StatusOr<int64_t> sweep = db->RecordSweep("name: s\n", "s");
  ASSERT_TRUE(sweep.ok());
  ASSERT_TRUE(db->AddPoints(*sweep, {Point("a", 1, 1)}).ok());
  RoundRecord round;
  round.sweep = *sweep;
  round.round = 1;
  round.metric = "HR@10";
  round.form = "performance";
  round.verdicts = json::array({{{"group", "metric=HR@10"}, {"identified", false}}});
  round.decision = "added 1 point(s)";
  round.points = {{"b", "metric=HR@10", 4, 64, "extend", "the edge"}};
  ASSERT_TRUE(db->RecordRound(round, {Point("b", 4, 2)}).ok());
  RoundRecord end;
  end.sweep = *sweep;
  end.round = 2;
  end.metric = "HR@10";
  end.form = "performance";
  end.decision = "every group is identified";
  end.final = true;
  ASSERT_TRUE(db->RecordRound(end, {}).ok());
  // A round number twice is refused, and then nothing of it is written.
  RoundRecord again = round;
  again.points = {{"c", "metric=HR@10", 5, 64, "extend", "x"}};
  EXPECT_FALSE(db->RecordRound(again, {Point("c", 5, 3)}).ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM points WHERE id = 'c'"), 0);

  StatusOr<std::vector<RoundRecord>> rounds = db->Rounds(*sweep);
  ASSERT_TRUE(rounds.ok()) << rounds.status().ToString();
  ASSERT_EQ(rounds->size(), 2u);
  EXPECT_EQ((*rounds)[0].decision, "added 1 point(s)");
  EXPECT_FALSE((*rounds)[0].final);
  ASSERT_EQ((*rounds)[0].points.size(), 1u);
  EXPECT_EQ((*rounds)[0].points[0].point, "b");
  EXPECT_EQ((*rounds)[0].points[0].layers, 4);
  EXPECT_EQ((*rounds)[0].points[0].rule, "extend");
  EXPECT_EQ((*rounds)[0].verdicts[0]["group"], "metric=HR@10");
  EXPECT_TRUE((*rounds)[1].final);
  EXPECT_TRUE((*rounds)[1].points.empty());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM sweep_points WHERE sweep = 1"), 2);  // a and b
}

TEST(ResultsDbTest, AVersion1DatabaseIsReadAsIsAndUpgradedByAWriter) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  {
    auto db = OpenWriter(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->RecordSweep("name: s\n", "s").ok());
  }
  // What schema version 1 was: no rounds tables, no transition columns
  ASSERT_NO_FATAL_FAILURE(
      ExecBehindTheApi(path, std::string("DROP TABLE round_points; DROP TABLE rounds; ") +
                                 kDropTransitionColumns + "PRAGMA user_version = 1"));
  {
    StatusOr<std::unique_ptr<ResultsDb>> r = ResultsDb::OpenReadOnly(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    StatusOr<std::vector<RoundRecord>> rounds = (*r)->Rounds(1);
    ASSERT_TRUE(rounds.ok()) << rounds.status().ToString();
    EXPECT_TRUE(rounds->empty());
  }
  auto db = OpenWriter(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db, "PRAGMA user_version"), ResultsDb::kSchemaVersion);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM rounds"), 0);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM sweeps"), 1);
}

TEST(ResultsDbTest, AVersion2DatabaseGainsTheTransitionColumns) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  {
    auto db = OpenWriter(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->StoreDatasetStats(StatsOfA()).ok());
  }
  // What schema version 2 was: dataset_stats without the transition columns
  ASSERT_NO_FATAL_FAILURE(
      ExecBehindTheApi(path, std::string(kDropTransitionColumns) + "PRAGMA user_version = 2"));
  {
    StatusOr<std::unique_ptr<ResultsDb>> r = ResultsDb::OpenReadOnly(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->schema_version(), 2);
  }
  auto db = OpenWriter(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(Count(*db, "PRAGMA user_version"), 3);
  EXPECT_EQ(Text(*db, "SELECT apen FROM dataset_stats"), "0.5");  // kept
  EXPECT_EQ(Text(*db, "SELECT transition_bits FROM dataset_stats"), "NULL");
  DatasetStatsRecord s = StatsOfA();
  s.transition_bits = 3.25;
  s.transition_pairs = 9;
  ASSERT_TRUE(db->StoreDatasetStats(s).ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM dataset_stats"), 1);
  EXPECT_EQ(Text(*db, "SELECT transition_bits FROM dataset_stats"), "3.25");
  EXPECT_EQ(Text(*db, "SELECT transition_plugin_bits FROM dataset_stats"), "NULL");
  EXPECT_EQ(Count(*db, "SELECT transition_pairs FROM dataset_stats"), 9);
}

TEST(ResultsDbTest, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  {
    auto db = OpenWriter(path);
    ASSERT_TRUE(db);
  }
  ASSERT_NO_FATAL_FAILURE(ExecBehindTheApi(path, "PRAGMA user_version = 99"));
  StatusOr<std::unique_ptr<ResultsDb>> w = ResultsDb::OpenForWriting(path);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(w.status().message().find("schema version 99, newer"), std::string::npos)
      << w.status().message();
  StatusOr<std::unique_ptr<ResultsDb>> r = ResultsDb::OpenReadOnly(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("newer"), std::string::npos);
}

TEST(ResultsDbTest, RefusesAForeignSqliteFileAndANonDatabase) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(ExecBehindTheApi(dir.File("other.db"), "CREATE TABLE t (x)"));
  StatusOr<std::unique_ptr<ResultsDb>> w = ResultsDb::OpenForWriting(dir.File("other.db"));
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("not a perflaw results database"), std::string::npos);

  dir.Write("text.db", "this is not a database, just some text that is long enough......");
  StatusOr<std::unique_ptr<ResultsDb>> t = ResultsDb::OpenReadOnly(dir.File("text.db"));
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsUserError()) << t.status().ToString();
}

TEST(ResultsDbTest, ReaderOfAMissingFileFailsAndCreatesNothing) {
  TempDir dir;
  StatusOr<std::unique_ptr<ResultsDb>> r = ResultsDb::OpenReadOnly(dir.File("missing.db"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.File("missing.db")));
}

TEST(ResultsDbTest, PointLifecycleIsIdempotent) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  ASSERT_TRUE(db);
  StatusOr<int64_t> sweep = db->RecordSweep("yaml", "grid");
  ASSERT_TRUE(sweep.ok());
  StatusOr<AddPointsResult> added =
      db->AddPoints(*sweep, {Point("small", 2, 10), Point("big", 8, 1000), Point("mid", 4, 100)});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->added, 3);
  EXPECT_EQ(added->existing, 0);

  StatusOr<std::vector<PointRecord>> pending = db->PendingPoints(*sweep);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].id, "big");  // most expensive first
  EXPECT_EQ((*pending)[1].id, "mid");
  EXPECT_EQ((*pending)[2].id, "small");

  StatusOr<int64_t> attempt = db->StartAttempt("big", 1, {"node1", "node2"}, {1, 2});
  ASSERT_TRUE(attempt.ok()) << attempt.status().ToString();
  StatusOr<PointRecord> big = db->GetPoint("big");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->state, PointState::kRunning);
  EXPECT_EQ(big->attempts, 1);
  EXPECT_EQ(Text(*db, "SELECT hosts FROM attempts"), R"(["node1","node2"])");
  // A running point cannot start a second attempt.
  EXPECT_EQ(db->StartAttempt("big", 2, {"n"}, {3}).status().code(),
            Status::Code::kFailedPrecondition);

  json epoch = worker::EpochRecordToJson(worker::EpochRecord{
      1, 10, 0.7, 2.0, 1.9, 0.5, worker::RankMetricsFromJson(OkResult(0.3)["valid"])});
  ASSERT_TRUE(db->RecordEpochMetrics("big", *attempt, epoch).ok());
  ASSERT_TRUE(db->RecordEpochMetrics("big", *attempt, epoch).ok());  // replayed: no duplicate
  StatusOr<std::vector<MetricValue>> em = db->EpochMetrics("big", *attempt);
  ASSERT_TRUE(em.ok());
  EXPECT_EQ(em->size(), 5u + 5u);  // 5 training quantities + hr@10/50, ndcg@10/50, mrr
  EXPECT_EQ(Count(*db,
                  "SELECT count(*) FROM epoch_metrics WHERE split = 'valid' AND "
                  "metric = 'ndcg' AND k = 10 AND protocol = 'full'"),
            1);

  ASSERT_TRUE(db->CompletePoint("big", *attempt, OkResult(0.3)).ok());
  big = db->GetPoint("big");
  EXPECT_EQ(big->state, PointState::kCompleted);
  EXPECT_EQ(Text(*db, "SELECT exit_reason FROM attempts"), "completed");
  EXPECT_EQ(Count(*db, "SELECT non_embedding_params FROM results"), 5000);
  EXPECT_EQ(Count(*db, "SELECT tokens FROM results"), 123456);
  StatusOr<std::vector<MetricValue>> metrics = db->ResultMetrics("big");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->size(), 10u);  // valid + test, 5 each
  bool found = false;
  for (const MetricValue& m : *metrics) {
    if (m.split == "test" && m.metric == "ndcg" && m.k == 10) {
      found = true;
      EXPECT_DOUBLE_EQ(m.value, 0.3);
      EXPECT_EQ(m.protocol, "sampled:100");
    }
    if (m.split == "valid") {
      EXPECT_EQ(m.protocol, "full");
    }
  }
  EXPECT_TRUE(found);

  // The same result delivered again (e.g. a replayed message) stores nothing new.
  ASSERT_TRUE(db->CompletePoint("big", *attempt, OkResult(0.9)).ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM results"), 1);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM result_metrics"), 10);
  EXPECT_EQ(Text(*db,
                 "SELECT value FROM result_metrics WHERE split='test' AND metric='ndcg' AND "
                 "k=10"),
            "0.3");
  // A completed point never runs again.
  EXPECT_EQ(db->StartAttempt("big", 1, {"n"}, {1}).status().code(),
            Status::Code::kFailedPrecondition);

  // Extending the sweep: a second sweep with an overlapping grid reuses the completed point.
  StatusOr<int64_t> sweep2 = db->RecordSweep("yaml2", "grid");
  ASSERT_TRUE(sweep2.ok());
  StatusOr<AddPointsResult> again =
      db->AddPoints(*sweep2, {Point("big", 8, 1000), Point("new", 16, 5000)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 1);
  EXPECT_EQ(again->existing, 1);
  EXPECT_EQ(again->existing_completed, 1);
  pending = db->PendingPoints(*sweep2);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, "new");
  StatusOr<StateCounts> counts = db->Counts(*sweep2);
  EXPECT_EQ(counts->completed, 1);
  EXPECT_EQ(counts->pending, 1);
  counts = db->Counts();
  EXPECT_EQ(counts->total(), 4);
  EXPECT_EQ(counts->pending, 3);

  // Non-ok results go through FailAttempt.
  json bad = OkResult(0.1);
  bad["status"] = "diverged";
  EXPECT_EQ(db->CompletePoint("mid", 1, bad).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST(ResultsDbTest, SamePointIdWithAnotherConfigurationIsAnError) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  StatusOr<int64_t> sweep = db->RecordSweep("yaml", "s");
  ASSERT_TRUE(db->AddPoints(*sweep, {Point("x", 2, 1)}).ok());
  // Same configuration, different key order / whitespace: the same point.
  NewPoint same = Point("x", 2, 1);
  same.config_json = R"({"data": {"max_seq_len": 50}, "model": {"d_model": 32, "layers": 2}})";
  EXPECT_TRUE(db->AddPoints(*sweep, {same}).ok());
  StatusOr<AddPointsResult> r = db->AddPoints(*sweep, {Point("x", 4, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("different configuration (model.layers: stored 2, now 4;"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(db->AddPoints(*sweep, {{"y", "{not json", 1}}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(db->AddPoints(999, {Point("z", 2, 1)}).status().code(), Status::Code::kNotFound);
  // The failed calls rolled back entirely.
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM points"), 1);
}

// A moved dataset, work_dir or another device/threads: the same experiment. A point still to run
// takes the new locations; a completed one keeps the configuration it ran with.
TEST(ResultsDbTest, APointWithOtherLocationsIsTheSameExperiment) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  StatusOr<int64_t> sweep = db->RecordSweep("yaml", "s");
  auto located = [](const std::string& id, const std::string& path, int threads) {
    json config = {{"model", {{"layers", 2}}},
                   {"data", {{"path", path}, {"max_seq_len", 50}}},
                   {"train", {{"precision", "auto"}}},
                   {"device", "cpu"},
                   {"threads", threads}};
    return NewPoint{id, config.dump(), 1};
  };
  ASSERT_TRUE(
      db->AddPoints(*sweep, {located("done", "/a/d.txt", 1), located("todo", "/a/d.txt", 1)}).ok());
  StatusOr<int64_t> attempt = db->StartAttempt("done", 1, {"n"}, {1});
  ASSERT_TRUE(attempt.ok());
  ASSERT_TRUE(db->CompletePoint("done", *attempt, OkResult(0.3)).ok());

  StatusOr<AddPointsResult> moved =
      db->AddPoints(*sweep, {located("done", "/b/d.txt", 2), located("todo", "/b/d.txt", 2)});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->relocated, 2);
  EXPECT_EQ(moved->existing_completed, 1);
  EXPECT_EQ(Text(*db, "SELECT json_extract(config, '$.data.path') FROM points WHERE id = 'todo'"),
            "/b/d.txt");
  EXPECT_EQ(Text(*db, "SELECT json_extract(config, '$.data.path') FROM points WHERE id = 'done'"),
            "/a/d.txt");
  // An explicit precision is part of the experiment.
  NewPoint bf16 = located("todo", "/b/d.txt", 2);
  json config = json::parse(bf16.config_json);
  config["train"]["precision"] = "bf16";
  bf16.config_json = config.dump();
  StatusOr<AddPointsResult> conflict = db->AddPoints(*sweep, {bf16});
  ASSERT_FALSE(conflict.ok());
  EXPECT_NE(conflict.status().message().find("train.precision: stored \"auto\", now \"bf16\""),
            std::string::npos)
      << conflict.status().message();
}

TEST(ResultsDbTest, FailuresRetryUntilMaxAttemptsAndResetFailedGivesAFreshBudget) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  StatusOr<int64_t> sweep = db->RecordSweep("yaml", "s");
  ASSERT_TRUE(db->AddPoints(*sweep, {Point("p", 2, 1)}).ok());

  StatusOr<int64_t> a1 = db->StartAttempt("p", 0, {"h"}, {1});
  StatusOr<PointState> s = db->FailAttempt("p", *a1, FailureReason::kTimeout, "past 60 s", 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, PointState::kPending);
  // Reporting the same closed attempt again changes nothing.
  s = db->FailAttempt("p", *a1, FailureReason::kFailed, "again", 2);
  EXPECT_EQ(*s, PointState::kPending);
  EXPECT_EQ(Text(*db, "SELECT exit_reason || ':' || error FROM attempts WHERE id = " +
                          std::to_string(*a1)),
            "timeout:past 60 s");

  // Preemption does not use up an attempt.
  StatusOr<int64_t> a2 = db->StartAttempt("p", 1, {"h"}, {2});
  s = db->FailAttempt("p", *a2, FailureReason::kPreempted, "SIGTERM", 2);
  EXPECT_EQ(*s, PointState::kPending);
  EXPECT_EQ(db->GetPoint("p")->failures, 1);

  StatusOr<int64_t> a3 = db->StartAttempt("p", 1, {"h"}, {2});
  s = db->FailAttempt("p", *a3, FailureReason::kHeartbeatLost, "no heartbeat for 30 s", 2);
  EXPECT_EQ(*s, PointState::kFailed);
  StatusOr<PointRecord> p = db->GetPoint("p");
  EXPECT_EQ(p->attempts, 3);
  EXPECT_EQ(p->failures, 2);
  EXPECT_TRUE(db->PendingPoints(*sweep)->empty());
  EXPECT_EQ(db->StartAttempt("p", 1, {"h"}, {2}).status().code(),
            Status::Code::kFailedPrecondition);
  // An attempt of another point is refused.
  ASSERT_TRUE(db->AddPoints(*sweep, {Point("q", 3, 1)}).ok());
  EXPECT_EQ(db->FailAttempt("q", *a3, FailureReason::kFailed, "", 2).status().code(),
            Status::Code::kInvalidArgument);

  StatusOr<int64_t> reset = db->ResetFailed(*sweep);
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(*reset, 1);
  p = db->GetPoint("p");
  EXPECT_EQ(p->state, PointState::kPending);
  EXPECT_EQ(p->failures, 0);
  EXPECT_EQ(p->attempts, 3);  // history is kept
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM attempts"), 3);
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST(ResultsDbTest, CloseInterruptedAttemptsReturnsRunningPointsToPending) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  int64_t sweep = 0;
  {
    auto db = OpenWriter(path);
    sweep = *db->RecordSweep("yaml", "s");
    ASSERT_TRUE(db->MarkSweepStarted(sweep).ok());
    ASSERT_TRUE(db->AddPoints(sweep, {Point("a", 2, 3), Point("b", 4, 2), Point("c", 8, 1)}).ok());
    int64_t a = *db->StartAttempt("a", 0, {"h"}, {1});
    ASSERT_TRUE(db->StartAttempt("b", 1, {"h"}, {2}).ok());
    ASSERT_TRUE(db->CompletePoint("a", a, OkResult(0.2)).ok());
    // The job dies here with "b" RUNNING: the connection just goes away.
  }
  auto db = OpenWriter(path);
  EXPECT_EQ(db->GetPoint("b")->state, PointState::kRunning);
  StatusOr<int64_t> closed = db->CloseInterruptedAttempts();
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(*closed, 1);
  EXPECT_EQ(db->GetPoint("b")->state, PointState::kPending);
  EXPECT_EQ(db->GetPoint("b")->failures, 0);
  EXPECT_EQ(db->GetPoint("a")->state, PointState::kCompleted);
  EXPECT_EQ(Text(*db, "SELECT exit_reason FROM attempts WHERE point = 'b'"), "interrupted");
  EXPECT_EQ(db->GetSweep(sweep)->status, "INTERRUPTED");
  EXPECT_EQ(*db->CloseInterruptedAttempts(), 0);  // nothing left to close
  StatusOr<std::vector<PointRecord>> pending = db->PendingPoints(sweep);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "b");
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST(ResultsDbTest, ProgressEtaFromCompletedDurations) {
  TempDir dir;
  double now = 1000;
  ResultsDbOptions options;
  options.clock = [&now] { return now; };
  auto db = OpenWriter(dir.File("r.db"), options);
  int64_t sweep = *db->RecordSweep("yaml", "s");
  ASSERT_TRUE(db->AddPoints(sweep, {Point("a", 1, 6), Point("b", 2, 5), Point("c", 3, 4),
                                    Point("d", 4, 3), Point("e", 5, 2), Point("f", 6, 1)})
                  .ok());
  StatusOr<SweepProgress> p = db->GetProgress(sweep);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->eta_seconds.has_value());  // nothing completed yet: unknown
  // a, b, c complete after 10, 20, 30 s (mean 20 s).
  for (const char* id : {"a", "b", "c"}) {
    int64_t attempt = *db->StartAttempt(id, 0, {"h"}, {1});
    now += 10 * attempt;
    ASSERT_TRUE(db->CompletePoint(id, attempt, OkResult(0.1)).ok());
  }
  int64_t d = *db->StartAttempt("d", 0, {"h"}, {1});
  ASSERT_TRUE(db->StartAttempt("e", 1, {"h"}, {2}).ok());
  now += 5;  // d and e have run 5 s; f is pending
  for (uint32_t e = 1; e <= 3; ++e) {
    json epoch = worker::EpochRecordToJson(worker::EpochRecord{
        e, 10, 0.7, 2.0, 1.9, 0.5, worker::RankMetricsFromJson(OkResult(0.3)["valid"])});
    ASSERT_TRUE(db->RecordEpochMetrics("d", d, epoch).ok());
  }
  p = db->GetProgress(sweep);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->counts.completed, 3);
  EXPECT_EQ(p->counts.running, 2);
  EXPECT_EQ(p->counts.pending, 1);
  EXPECT_EQ(p->completed_attempts, 3);
  EXPECT_DOUBLE_EQ(*p->mean_completed_seconds, 20);
  ASSERT_EQ(p->running.size(), 2u);
  EXPECT_DOUBLE_EQ(p->now - p->running[0].started, 5);
  // Durations 10, 20, 30 s at costs 6, 5, 4: a falling trend is none, so the mean 20 s:
  // (1 pending x 20 s + 2 running x (20 - 5) s) / 2 running groups.
  EXPECT_DOUBLE_EQ(*p->eta_seconds, 25);
  EXPECT_EQ(p->running[0].cost, 3);
  // d recorded 3 epochs; its configuration has no train.epochs here, so no pace cap applies.
  EXPECT_EQ(p->running[0].last_epoch, 3u);
  EXPECT_EQ(p->running[0].epochs_this_attempt, 3u);
  EXPECT_EQ(p->running[0].epochs_max, 0u);

  ASSERT_TRUE(db->FailAttempt("d", d, FailureReason::kDiverged, "NaN loss", 1).ok());
  StatusOr<std::vector<FailedPoint>> failed = db->FailedPoints(sweep);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].point, "d");
  EXPECT_EQ((*failed)[0].exit_reason, "diverged");
  EXPECT_EQ((*failed)[0].error, "NaN loss");
}

TEST(ResultsDbTest, DatasetStatsUpsertAndFitsStoreNanAsNull) {
  TempDir dir;
  auto db = OpenWriter(dir.File("r.db"));
  DatasetStatsRecord s;
  s.dataset = "ml-1m.inter";
  s.options = "k_core=0;";
  s.max_seq_len = 50;
  s.users = 6040;
  s.interactions = 1000209;
  s.tokens = 300000;
  s.apen = 1.5;
  s.sampen = NAN;
  s.lz_entropy = 7.1;
  s.shannon_bits = 10.2;
  s.zlib_ratio = 0.4;
  s.m = 2;
  s.r = 0.5;
  ASSERT_TRUE(db->StoreDatasetStats(s).ok());
  s.apen = 1.6;
  ASSERT_TRUE(db->StoreDatasetStats(s).ok());  // same key: replaced
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM dataset_stats"), 1);
  EXPECT_EQ(Text(*db, "SELECT apen FROM dataset_stats"), "1.6");
  EXPECT_EQ(Text(*db, "SELECT sampen FROM dataset_stats"), "NULL");
  s.max_seq_len = 100;
  ASSERT_TRUE(db->StoreDatasetStats(s).ok());
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM dataset_stats"), 2);

  FitRecord f;
  f.form = "performance";
  f.metric = "NDCG@10";
  f.group_keys = {{"dataset", "ml-1m"}, {"max_seq_len", 50}};
  f.selection = {{"sweep", 1}};
  f.params = {{"a", {{"value", -0.5}, {"interval", {-0.7, -0.3}}}}};
  f.n_points = 24;
  f.converged = true;
  f.r2 = 0.9;
  f.rmse = 0.01;
  f.loo_rmse = NAN;
  f.loo_r2 = 0.8;
  StatusOr<StoredFit> id = db->StoreFit(f);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_FALSE(id->existed);
  EXPECT_EQ(Text(*db, "SELECT loo_rmse FROM fits"), "NULL");
  EXPECT_EQ(Text(*db, "SELECT json_extract(params, '$.a.interval[0]') FROM fits"), "-0.7");
  EXPECT_EQ(Text(*db, "SELECT optimum FROM fits"), "NULL");
  // The same fit again is not stored twice; another selection or other parameters are.
  StatusOr<StoredFit> again = db->StoreFit(f);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->existed);
  EXPECT_EQ(again->id, id->id);
  f.selection = {{"sweep", 2}};
  EXPECT_FALSE(db->StoreFit(f)->existed);
  f.params["a"]["value"] = -0.4;
  EXPECT_FALSE(db->StoreFit(f)->existed);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM fits"), 3);
}

TEST(ResultsDbTest, ReadOnlyConnectionCannotWrite) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  { ASSERT_TRUE(OpenWriter(path)); }
  StatusOr<std::unique_ptr<ResultsDb>> r = ResultsDb::OpenReadOnly(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status st =
      (*r)->connection().Exec("INSERT INTO sweeps (name, yaml, created_at) VALUES ('x', 'y', 0)");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Count(**r, "SELECT count(*) FROM sweeps"), 0);
  StatusOr<Statement> insert = Statement::Prepare((*r)->connection(), "DELETE FROM points");
  ASSERT_TRUE(insert.ok());
  EXPECT_FALSE(insert->ReadOnly());
}

// Inside an open transaction (a batch) a Transaction is a savepoint: committed into the batch, or
// rolled back alone, and nothing is durable before the batch commits.
TEST(ResultsDbTest, TransactionInsideABatchIsASavepoint) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  auto db = OpenWriter(path);
  const SqliteDb& c = db->connection();
  auto insert = [&](const std::string& id) {
    StatusOr<Statement> st = Statement::Prepare(
        c, "INSERT INTO points (id, config, created_at, updated_at) VALUES (?, '{}', 0, 0)");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->BindAll(id).ok());
    ASSERT_TRUE(st->Run().ok());
  };
  StatusOr<Transaction> batch = db->BeginBatch();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  {
    StatusOr<Transaction> kept = Transaction::Begin(c);
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    insert("kept");
    ASSERT_TRUE(kept->Commit().ok());
  }
  {
    StatusOr<Transaction> undone = Transaction::Begin(c);
    ASSERT_TRUE(undone.ok());
    insert("undone");
  }  // destroyed without Commit: only its own row goes
  EXPECT_EQ(db->Counts()->total(), 1);
  auto shell = RunCommand("sqlite3 -readonly '" + path + "' 'SELECT count(*) FROM points'");
  EXPECT_EQ(shell.out, "0\n");  // not durable before the batch commits
  ASSERT_TRUE(batch->Commit().ok());
  shell = RunCommand("sqlite3 -readonly '" + path + "' 'SELECT group_concat(id) FROM points'");
  EXPECT_EQ(shell.out, "kept\n");
}

// The design's promise: readers (our read-only connection and the stock sqlite3 shell) never block
// the single writer and are never blocked by it; they see the last committed state.
TEST(ResultsDbTest, ReadersSeeCommittedStateWhileTheWriterHoldsATransaction) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  auto db = OpenWriter(path);
  int64_t sweep = *db->RecordSweep("yaml", "s");
  ASSERT_TRUE(db->AddPoints(sweep, {Point("a", 2, 1)}).ok());

  // A second writer-mode connection opens a write transaction and leaves it uncommitted.
  StatusOr<SqliteDb> writer = SqliteDb::Open(path, SqliteDb::Mode::kReadWriteCreate, 100);
  ASSERT_TRUE(writer.ok());
  StatusOr<Transaction> txn = Transaction::Begin(*writer);
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  ASSERT_TRUE(writer
                  ->Exec("INSERT INTO points (id, config, created_at, updated_at) "
                         "VALUES ('b', '{}', 0, 0)")
                  .ok());

  StatusOr<std::unique_ptr<ResultsDb>> reader = ResultsDb::OpenReadOnly(path, {100, {}});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->Counts()->total(), 1);  // the uncommitted point is invisible

  for (const char* flags : {"-readonly", ""}) {
    auto shell = RunCommand(std::string("sqlite3 ") + flags + " '" + path +
                            "' 'PRAGMA busy_timeout = 100; SELECT count(*) FROM points;'");
    EXPECT_EQ(shell.exit_code, 0) << shell.err;
    EXPECT_NE(shell.out.find("\n1\n"), std::string::npos) << flags << ": " << shell.out;
  }

  // A reader in the middle of a read transaction does not block the writer's commit either.
  StatusOr<Statement> scan = Statement::Prepare((*reader)->connection(), "SELECT id FROM points");
  ASSERT_TRUE(scan.ok());
  ASSERT_TRUE(*scan->Step());
  ASSERT_TRUE(txn->Commit().ok());
  ASSERT_TRUE(scan->Reset().ok());
  EXPECT_EQ((*reader)->Counts()->total(), 2);
  auto shell = RunCommand("sqlite3 -readonly '" + path + "' 'SELECT count(*) FROM points'");
  EXPECT_EQ(shell.out, "2\n");
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

}  // namespace
}  // namespace perflaw::orchestrator
