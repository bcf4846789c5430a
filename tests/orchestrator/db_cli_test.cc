// perflaw status / results / sql through the real executable: outputs, filters bound as data,
// read-only enforcement, and missing databases (exit 2, nothing created).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orchestrator/results_db.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::testing {
namespace {

using nlohmann::json;
using orchestrator::ResultsDb;

// Single-quotes a shell argument (the test runs commands through /bin/sh).
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult Perflaw(const std::string& args) { return RunCommand(Bin("perflaw") + " " + args); }

json Config(const std::string& path, int layers, int d_model) {
  return {{"data", {{"path", path}, {"max_seq_len", 50}, {"user_fraction", 1.0}}},
          {"model", {{"type", "sasrec"}, {"layers", layers}, {"d_model", d_model}, {"heads", 1}}},
          {"seed", 0}};
}

json Result(double ndcg10) {
  worker::PointResult r;
  r.status = worker::RunStatus::kOk;
  r.message = "ok";
  r.params = {100, 2000};
  r.tokens_seen = 5000;
  r.wall_seconds = 3.5;
  r.train_seconds = 3;
  r.tokens_per_second = 1666.5;
  r.best_epoch = 2;
  worker::RankMetrics test;
  test.split = "test";
  test.protocol = "full";
  test.users = 100;
  test.hr = {{10, ndcg10 * 2}};
  test.ndcg = {{10, ndcg10}};
  test.mrr = ndcg10 / 2;
  r.test = test;
  return worker::PointResultToJson(r);
}

// Four points: three completed (one on a dataset whose path contains a quote), one running.
void Populate(const std::string& path) {
  auto db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ResultsDb& w = **db;
  int64_t sweep = *w.RecordSweep("name: cli\n", "cli");
  ASSERT_TRUE(w.MarkSweepStarted(sweep).ok());
  struct P {
    std::string id, data;
    int layers, d;
    double ndcg;
  };
  const std::vector<P> points = {{"p1", "a.inter", 2, 32, 0.10},
                                 {"p2", "a.inter", 4, 32, 0.20},
                                 {"p3", "it's.inter", 2, 64, 0.30},
                                 {"p4", "a.inter", 8, 64, 0}};
  std::vector<orchestrator::NewPoint> news;
  for (const P& p : points)
    news.push_back({p.id, Config(p.data, p.layers, p.d).dump(), 1.0 * p.layers});
  ASSERT_TRUE(w.AddPoints(sweep, news).ok());
  for (const P& p : points) {
    StatusOr<int64_t> a = w.StartAttempt(p.id, 0, {"localhost"}, {1});
    ASSERT_TRUE(a.ok());
    if (p.id != "p4") {
      ASSERT_TRUE(w.CompletePoint(p.id, *a, Result(p.ndcg)).ok());
    }
  }
}

class DbCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.File("results.db");
    Populate(db_);
  }
  TempDir dir_;
  std::string db_;
};

TEST_F(DbCliTest, StatusCountsRunningAndEta) {
  auto r = Perflaw("status " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sweep 1 \"cli\": RUNNING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("points: 4 total, 3 completed, 1 running, 0 failed, 0 pending"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("p4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ETA: "), std::string::npos) << r.out;

  r = Perflaw("status --format json " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["counts"]["completed"], 3);
  EXPECT_EQ(j["counts"]["running"], 1);
  ASSERT_EQ(j["running"].size(), 1u);
  EXPECT_EQ(j["running"][0]["point"], "p4");
  EXPECT_GE(j["running"][0]["age_seconds"].get<double>(), 0.0);
  EXPECT_EQ(j["completed_attempts"], 3);
  EXPECT_TRUE(j["eta_seconds"].is_number());
}

TEST_F(DbCliTest, ResultsListsCompletedPointsWithProtocol) {
  auto r = Perflaw("results --format json " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 3u);  // p4 is still running
  EXPECT_EQ(rows[0]["point"], "p1");
  EXPECT_EQ(rows[0]["model.layers"], 2);
  EXPECT_EQ(rows[0]["protocol"], "full");
  EXPECT_DOUBLE_EQ(rows[0]["ndcg@10"].get<double>(), 0.10);
  EXPECT_DOUBLE_EQ(rows[0]["hr@10"].get<double>(), 0.20);
  EXPECT_EQ(rows[0]["non_embedding_params"], 2000);
  EXPECT_EQ(rows[0]["tokens"], 5000);

  r = Perflaw("results --format csv " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("point,data.path,data.max_seq_len,", 0), 0u) << header;
  int n = 0;
  for (std::string line; std::getline(lines, line);) ++n;
  EXPECT_EQ(n, 3);

  r = Perflaw("results " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(3 rows)"), std::string::npos) << r.out;
}

TEST_F(DbCliTest, WhereFiltersByConfigAndMetric) {
  auto r = Perflaw("results --format json --where model.layers=2 " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["point"], "p1");
  EXPECT_EQ(rows[1]["point"], "p3");

  r = Perflaw("results --format json --where model.layers=2 --where model.d_model=64 " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(json::parse(r.out).size(), 1u);

  r = Perflaw("results --format json " + Quote("--where=test.ndcg@10>0.15") + " " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["point"], "p2");

  r = Perflaw("results --format json --where " + Quote("model.d_model<=32") + " " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 2u);
}

TEST_F(DbCliTest, WhereValuesAreDataNotSql) {
  // A value that would widen the query if it were pasted into SQL matches nothing.
  auto r = Perflaw("results --format json --where " + Quote("data.path=x' OR '1'='1") + " " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 0u) << r.out;
  r = Perflaw("results --format json --where " + Quote("data.path=a.inter') OR 1=1 --") + " " +
              db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 0u) << r.out;
  // A value that contains a quote matches the point whose path has that quote.
  r = Perflaw("results --format json --where " + Quote("data.path=it's.inter") + " " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["point"], "p3");
  EXPECT_EQ(rows[0]["data.path"], "it's.inter");
}

TEST_F(DbCliTest, WhereRejectsBadClauses) {
  for (const char* bad : {"model.layers", "=3", "model.layer=2", "test.ndcg@x>0",
                          "test.ndcg@10>high", "model..layers=2"}) {
    auto r = Perflaw("results --where " + Quote(bad) + " " + db_);  // NOLINT
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.err.find("perflaw: error: --where"), std::string::npos) << bad << ": " << r.err;
  }
}

TEST_F(DbCliTest, SqlRunsQueriesInEveryFormat) {
  auto r = Perflaw("sql " + db_ + " " +
                   Quote("SELECT state, count(*) AS n FROM points GROUP BY state ORDER BY state"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("COMPLETED  3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RUNNING    1"), std::string::npos) << r.out;

  r = Perflaw("sql --format csv " + db_ + " " +
              Quote("SELECT id, 'a,\"b' AS odd FROM points WHERE id = 'p1'"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "id,odd\np1,\"a,\"\"b\"\n");

  r = Perflaw("sql --format json " + db_ + " " +
              Quote("SELECT value, protocol FROM result_metrics WHERE point = 'p2' AND metric = "
                    "'ndcg' AND k = 10"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0]["value"].get<double>(), 0.2);
  EXPECT_EQ(rows[0]["protocol"], "full");
}

TEST_F(DbCliTest, SqlRefusesWrites) {
  for (const std::string& q :
       {std::string("DELETE FROM points"), std::string("UPDATE points SET state = 'PENDING'"),
        std::string("INSERT INTO sweeps (name, yaml, created_at) VALUES ('x', 'y', 0)"),
        std::string("DROP TABLE results"), std::string("CREATE TABLE t (x)"),
        std::string("PRAGMA user_version = 5"), "VACUUM INTO " + Quote(dir_.File("copy.db")),
        std::string("SELECT 1; DELETE FROM points")}) {
    auto r = Perflaw("sql " + db_ + " \"" + q + "\"");
    EXPECT_EQ(r.exit_code, 2) << q << ": " << r.out;
    EXPECT_NE(r.err.find("perflaw: error: "), std::string::npos) << q;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.File("copy.db")));
  auto r = Perflaw("sql " + db_ + " \"DELETE FROM points\"");
  EXPECT_NE(r.err.find("read-only"), std::string::npos) << r.err;
  r = Perflaw("sql " + db_ + " " + Quote("SELECT count(*) FROM points"));
  EXPECT_EQ(r.out, "count(*)\n4\n(1 row)\n");
  r = Perflaw("sql " + db_ + " " + Quote("PRAGMA user_version"));
  EXPECT_EQ(r.out, "user_version\n" + std::to_string(ResultsDb::kSchemaVersion) + "\n(1 row)\n");
  r = Perflaw("sql " + db_ + " " + Quote("SELEC nonsense"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("syntax error"), std::string::npos) << r.err;
  // The database is intact after the refused writes.
  auto db = ResultsDb::OpenReadOnly(db_);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->Counts()->total(), 4);
  EXPECT_TRUE((*db)->IntegrityCheck().ok());
}

// A second sweep "other" shares p1 with "cli" and adds p5 (completed) and p6 (failed).
void AddOtherSweep(const std::string& path) {
  auto db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ResultsDb& w = **db;
  int64_t sweep = *w.RecordSweep("name: other\n", "other");
  ASSERT_TRUE(w.MarkSweepStarted(sweep).ok());
  ASSERT_TRUE(w.AddPoints(sweep, {{"p1", Config("a.inter", 2, 32).dump(), 2.0},
                                  {"p5", Config("b.inter", 3, 16).dump(), 3.0},
                                  {"p6", Config("b.inter", 5, 16).dump(), 5.0}})
                  .ok());
  StatusOr<int64_t> a = w.StartAttempt("p5", 0, {"localhost"}, {1});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(w.CompletePoint("p5", *a, Result(0.4)).ok());
  a = w.StartAttempt("p6", 0, {"localhost"}, {1});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(
      w.FailAttempt("p6", *a, orchestrator::ExitReason::kFailed, "boom", /*max_attempts=*/1).ok());
}

TEST_F(DbCliTest, SweepsAreListedAndSelectedByNameOrId) {
  AddOtherSweep(db_);
  auto r = Perflaw("sweeps --format json " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["name"], "cli");
  EXPECT_EQ(rows[0]["state"], "RUNNING");
  EXPECT_EQ(rows[0]["points"], 4);
  EXPECT_EQ(rows[0]["completed"], 3);
  EXPECT_EQ(rows[0]["running"], 1);
  EXPECT_EQ(rows[1]["id"], 2);
  EXPECT_EQ(rows[1]["name"], "other");
  EXPECT_EQ(rows[1]["points"], 3);
  EXPECT_EQ(rows[1]["completed"], 2);  // p1 counts in both sweeps
  EXPECT_EQ(rows[1]["failed"], 1);
  EXPECT_TRUE(rows[1]["started"].is_number());
  EXPECT_TRUE(rows[1]["ended"].is_null());
  r = Perflaw("sweeps " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("id  name   state", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" UTC"), std::string::npos) << r.out;

  for (const std::string& which : {"other", "2"}) {
    r = Perflaw("results --format json --sweep " + which + " " + db_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    rows = json::parse(r.out);
    ASSERT_EQ(rows.size(), 2u) << which;
    EXPECT_EQ(rows[0]["point"], "p1");
    EXPECT_EQ(rows[1]["point"], "p5");
  }
  r = Perflaw("status --sweep cli " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sweep 1 \"cli\""), std::string::npos) << r.out;
  // Without --sweep, results says it shows every sweep (in table form only).
  r = Perflaw("results " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("points of all 2 sweeps (--sweep NAME|ID for one", 0), 0u) << r.out;
  r = Perflaw("results --sweep nope " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: --sweep nope: no such sweep in " + db_ +
                       " (sweeps: 1 (cli), 2 (other))\n");
}

TEST(DbCliEmptyTest, EmptyDatabaseHasNoSweepAndNoResults) {
  TempDir dir;
  const std::string path = dir.File("empty.db");
  ASSERT_TRUE(ResultsDb::OpenForWriting(path).ok());
  auto r = Perflaw("status " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no sweep recorded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("points: 0 total"), std::string::npos) << r.out;
  r = Perflaw("results --format json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 0u);
  r = Perflaw("status --sweep 3 " + path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: --sweep 3: no such sweep in " + path + " (it has none)\n");
  r = Perflaw("sweeps --format json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 0u);
}

TEST(DbCliMissingTest, MissingDatabaseIsExit2AndNotCreated) {
  TempDir dir;
  const std::string missing = dir.File("nope.db");
  for (const std::string& cmd :
       {"status " + missing, "results " + missing, "sql " + missing + " 'SELECT 1'"}) {
    auto r = Perflaw(cmd);
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_EQ(r.err, "perflaw: error: " + missing + ": no such results database\n") << cmd;
    EXPECT_FALSE(std::filesystem::exists(missing)) << cmd;
  }
  // A file that is not a results database.
  dir.Write("notes.txt", "hello\n");
  auto r = Perflaw("status " + dir.File("notes.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace perflaw::testing
