// perflaw status / results / sql through the real executable: outputs, filters bound as data,
// read-only enforcement, and missing databases (exit 2, nothing created).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "orchestrator/cli/point_select.h"
#include "orchestrator/run/runner.h"
#include "orchestrator/store/results_db.h"
#include "tests/orchestrator/store/db_fixture.h"
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
    news.push_back({p.id, StoredConfig(p.data, p.layers, p.d).dump(), 1.0 * p.layers});
  ASSERT_TRUE(w.AddPoints(sweep, news).ok());
  for (const P& p : points) {
    StatusOr<int64_t> a = w.StartAttempt(p.id, 0, {"localhost"}, {1});
    ASSERT_TRUE(a.ok());
    if (p.id != "p4") {
      ASSERT_TRUE(w.CompletePoint(p.id, *a, StoredResult(p.ndcg)).ok());
    }
  }
}

class DbCliTest : public PopulatedDbTest {
 protected:
  DbCliTest() : PopulatedDbTest("results.db", Populate) {}
};

TEST_F(DbCliTest, StatusCountsRunningAndEta) {
  // A sweep RUNNING in the database with no run holding it (stopped without closing): no ETA.
  auto r = Perflaw("status " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ETA: none (sweep recorded as RUNNING but no perflaw run holds the "
                       "database"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(json::parse(Perflaw("status --format json " + db_).out)["eta_seconds"].is_null());
  // While a run writes it (holds its writer lock): the ETA of eta.h.
  StatusOr<std::unique_ptr<orchestrator::WriterLock>> lock = orchestrator::WriterLock::Acquire(db_);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  r = Perflaw("status " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sweep 1 \"cli\": RUNNING"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("points: 4 total, 3 completed, 1 running, 0 failed, 0 pending"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("p4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ETA: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ETA: none"), std::string::npos) << r.out;

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
  EXPECT_EQ(j["running"][0]["epochs_max"], 0);

  // An interrupted sweep: no ETA either.
  lock->reset();
  {
    StatusOr<std::unique_ptr<ResultsDb>> w = ResultsDb::OpenForWriting(db_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->MarkSweepFinished(1, "INTERRUPTED").ok());
  }
  r = Perflaw("status " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ETA: none (sweep INTERRUPTED: nothing runs)"), std::string::npos) << r.out;
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
  ASSERT_TRUE(w.AddPoints(sweep, {{"p1", StoredConfig("a.inter", 2, 32).dump(), 2.0},
                                  {"p5", StoredConfig("b.inter", 3, 16).dump(), 3.0},
                                  {"p6", StoredConfig("b.inter", 5, 16).dump(), 5.0}})
                  .ok());
  StatusOr<int64_t> a = w.StartAttempt("p5", 0, {"localhost"}, {1});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(w.CompletePoint("p5", *a, StoredResult(0.4)).ok());
  a = w.StartAttempt("p6", 0, {"localhost"}, {1});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(
      w.FailAttempt("p6", *a, orchestrator::FailureReason::kFailed, "boom", /*max_attempts=*/1)
          .ok());
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

  for (const char* which : {"other", "2"}) {
    r = Perflaw("results --format json --sweep " + std::string(which) + " " + db_);
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

// ---- readable results: columns, sorting, short point ids (issue 14 item 4) ----

// Ids as perflaw makes them (32 hex digits); the first two share their first 7, so their short
// ids need 8 characters.
const std::vector<std::string> kHexIds = {
    "abcd1234aaaaaaaaaaaaaaaaaaaaaaaa", "abcd1235bbbbbbbbbbbbbbbbbbbbbbbb",
    "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210",
    "5555aaaa5555aaaa5555aaaa5555aaaa", "9999000011112222333344445555666f"};

// Six completed points that differ in every shown configuration value (so nothing folds into the
// "all rows" line and the default table must leave columns out to fit), and one running point.
void PopulateHex(const std::string& path) {
  auto db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ResultsDb& w = **db;
  int64_t sweep = *w.RecordSweep("name: hex\n", "hex");
  std::vector<orchestrator::NewPoint> news;
  for (size_t i = 0; i < kHexIds.size(); ++i) {
    json config =
        StoredConfig("datasets/amazon-" + std::to_string(i) + ".inter", 2 + int(i), 32 << i);
    config["data"]["max_seq_len"] = 50 + 50 * int(i);
    config["data"]["user_fraction"] = 1.0 / (1 + int(i));
    config["model"]["heads"] = 1 + int(i);
    config["model"]["type"] = i % 2 ? "sasrec" : "bert4rec";
    config["seed"] = int(i);
    news.push_back({kHexIds[i], config.dump(), 1.0});
  }
  news.push_back({"77777777777777777777777777777777", StoredConfig("a.inter", 1, 8).dump(), 1.0});
  ASSERT_TRUE(w.AddPoints(sweep, news).ok());
  for (size_t i = 0; i < kHexIds.size(); ++i) {
    StatusOr<int64_t> a = w.StartAttempt(kHexIds[i], 0, {"localhost"}, {1});
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(w.CompletePoint(kHexIds[i], *a, StoredResult(0.01 * (i + 1), 10 + int(i))).ok());
  }
  ASSERT_TRUE(w.StartAttempt("77777777777777777777777777777777", 0, {"localhost"}, {1}).ok());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The first word of each table row (between the header and "(N rows)").
std::vector<std::string> FirstColumn(const std::string& table) {
  std::vector<std::string> cells;
  bool body = false;
  for (const std::string& line : Lines(table)) {
    if (line.rfind("point ", 0) == 0) {
      body = true;
    } else if (body && line.rfind("(", 0) == 0) {
      break;
    } else if (body) {
      cells.push_back(line.substr(0, line.find(' ')));
    }
  }
  return cells;
}

std::vector<std::string> JsonPoints(const std::string& out) {
  std::vector<std::string> ids;
  for (const json& row : json::parse(out)) ids.push_back(row["point"]);
  return ids;
}

TEST(UniquePrefixLengthsTest, NeighboursDecideAndShortIdsStayWhole) {
  EXPECT_EQ(orchestrator::UniquePrefixLengths({"abc1", "abc2x", "b"}, 2),
            (std::vector<size_t>{4, 4, 1}));
  EXPECT_EQ(orchestrator::UniquePrefixLengths({"aaaa0000", "aaaa0001", "zzzzzzzzzz"}, 7),
            (std::vector<size_t>{8, 8, 7}));
  EXPECT_EQ(orchestrator::UniquePrefixLengths({"p1", "p10"}, 7), (std::vector<size_t>{2, 3}));
  EXPECT_TRUE(orchestrator::UniquePrefixLengths({}, 7).empty());
}

class ResultsViewTest : public PopulatedDbTest {
 protected:
  ResultsViewTest() : PopulatedDbTest("hex.db", PopulateHex) {}
};

TEST_F(ResultsViewTest, DefaultTableFitsOneHundredColumnsAndSaysWhatEachNumberIs) {
  auto r = Perflaw("results " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& line : Lines(r.out))
    EXPECT_LE(line.size(), 100u) << line << "\n" << r.out;
  const std::vector<std::string> lines = Lines(r.out);
  const auto header =
      std::find_if(lines.begin(), lines.end(), [](auto& l) { return l.rfind("point ", 0) == 0; });
  ASSERT_NE(header, lines.end()) << r.out;
  // The metric says its split and K; the shared protocol is said once above the table.
  EXPECT_NE(header->find("test.ndcg@10"), std::string::npos) << r.out;
  EXPECT_NE(header->find("layers"), std::string::npos) << r.out;
  EXPECT_NE(header->find("epochs"), std::string::npos) << r.out;
  EXPECT_NE(header->find("best_epoch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all rows: protocol=full"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not shown, to fit 100 columns: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(6 rows)"), std::string::npos) << r.out;
  // Epochs run and the best epoch of the point with 10 + 2 epochs (0123456...: i = 2).
  auto row =
      std::find_if(lines.begin(), lines.end(), [](auto& l) { return l.rfind("0123456 ", 0) == 0; });
  ASSERT_NE(row, lines.end()) << r.out;
  EXPECT_NE(row->find(" 12 "), std::string::npos) << *row;
}

TEST_F(DbCliTest, DefaultTableSaysSharedValuesOnce) {
  // Configuration values every row shares are said once above the table, not in a column.
  auto r = Perflaw("results " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0],
            "all rows: protocol=full, seq_len=50, user_frac=1, type=sasrec, heads=1, seed=0")
      << r.out;
  EXPECT_EQ(lines[1].rfind("point  data", 0), 0u) << r.out;
  EXPECT_EQ(lines[1].find("type"), std::string::npos) << r.out;
  // The other metrics would make it wider than 100 columns: the last line says they exist.
  EXPECT_EQ(lines.back(),
            "not shown, to fit 100 columns: test.hr@10, test.mrr (--columns NAME,... or --columns "
            "all)")
      << r.out;
}

TEST_F(ResultsViewTest, ShortIdsAreUniquePrefixesAndResolveWhereIdsAreAccepted) {
  auto r = Perflaw("results " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> shown = FirstColumn(r.out);
  ASSERT_EQ(shown.size(), kHexIds.size()) << r.out;
  std::set<std::string> seen;
  for (const std::string& s : shown) {
    EXPECT_GE(s.size(), orchestrator::kMinShortPointId) << s;
    int matches = 0;
    for (const std::string& id : kHexIds) matches += id.rfind(s, 0) == 0;
    EXPECT_EQ(matches, 1) << s;
    EXPECT_TRUE(seen.insert(s).second) << s;
  }
  EXPECT_TRUE(seen.count("abcd1234")) << r.out;  // 7 characters would be ambiguous
  EXPECT_TRUE(seen.count("0123456")) << r.out;

  // Each shown short id selects its point; JSON keeps the full id.
  for (const std::string& s : shown) {
    r = Perflaw("results --format json --point " + s + " " + db_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::vector<std::string> ids = JsonPoints(r.out);
    ASSERT_EQ(ids.size(), 1u) << s;
    EXPECT_EQ(ids[0].rfind(s, 0), 0u) << s;
    EXPECT_EQ(ids[0].size(), 32u);
  }
  // A 4-character unique prefix, a full id, and two --point options together.
  r = Perflaw("results --format json --point fedc --point " + kHexIds[2] + " " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonPoints(r.out), (std::vector<std::string>{kHexIds[2], kHexIds[3]}));

  // status shows the running point by its short id.
  r = Perflaw("status " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" 7777777 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("77777777777"), std::string::npos) << r.out;
}

TEST_F(ResultsViewTest, AmbiguousUnknownAndTooShortPrefixesAreExit2) {
  auto r = Perflaw("results --point abcd123 " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: point abcd123: ambiguous prefix, it starts 2 point ids in " +
                       db_ + ": " + kHexIds[0] + ", " + kHexIds[1] + "; give more characters\n");
  EXPECT_EQ(r.out, "");
  r = Perflaw("results --point abcd " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ambiguous"), std::string::npos) << r.err;
  r = Perflaw("results --point beef " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: point beef: no such point in " + db_ + "\n");
  r = Perflaw("results --point fed " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a prefix needs at least 4 characters"), std::string::npos) << r.err;
  // A prefix is data, never SQL: a LIKE or GLOB pattern matches nothing.
  for (const char* pattern : {"abcd%", "abcd*", "abcd_234"}) {
    r = Perflaw(std::string("results --point ") + Quote(pattern) + " " + db_);
    EXPECT_EQ(r.exit_code, 2) << pattern;
    EXPECT_NE(r.err.find("no such point"), std::string::npos) << r.err;
  }
}

TEST_F(DbCliTest, ColumnsPicksColumnsByNameOrHeader) {
  auto r = Perflaw("results --format csv --columns point,layers,NDCG@10,model.d_model " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "point,model.layers,ndcg@10,model.d_model\np1,2,0.1,32\np2,4,0.2,32\n"
            "p3,2,0.3,64\n");
  r = Perflaw("results --columns point,test.ndcg@10,epochs,best_epoch,train.lr " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).at(0), "point  test.ndcg@10  epochs  best_epoch  train.lr") << r.out;
  EXPECT_EQ(Lines(r.out).at(1), "p1     0.1           3       2           0.001") << r.out;
  // all: every column, in the order of CSV and JSON.
  r = Perflaw("results --format csv --columns all " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto full = Perflaw("results --format csv " + db_);
  EXPECT_EQ(r.out, full.out);
  EXPECT_EQ(Lines(full.out).at(0),
            "point,data.path,data.max_seq_len,data.user_fraction,model.type,model.layers,"
            "model.d_model,model.heads,seed,split,protocol,hr@10,mrr,ndcg@10,non_embedding_params,"
            "embedding_params,tokens,wall_seconds,tokens_per_second,epochs,best_epoch");
}

TEST_F(DbCliTest, SortAscendsAndDescends) {
  auto r = Perflaw("results --format json --sort ndcg@10 " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonPoints(r.out), (std::vector<std::string>{"p1", "p2", "p3"}));
  for (const char* desc : {"-ndcg@10", "ndcg@10:desc", "test.ndcg@10:desc"}) {
    r = Perflaw(std::string("results --format json --sort ") + desc + " " + db_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(JsonPoints(r.out), (std::vector<std::string>{"p3", "p2", "p1"})) << desc;
  }
  // Ties keep the next key's order: layers ascending, then d_model descending.
  r = Perflaw("results --format json --sort layers,-d_model " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonPoints(r.out), (std::vector<std::string>{"p3", "p1", "p2"}));
  r = Perflaw("results --sort -data.path --columns point " + db_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "point\np3\np1\np2\n(3 rows)\n");
}

TEST_F(DbCliTest, UnknownColumnOrSortKeyIsExit2) {
  auto r = Perflaw("results --columns point,layer " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("perflaw: error: --columns layer: no such column (did you mean layers?); "
                        "columns: point, data.path,",
                        0),
            0u)
      << r.err;
  EXPECT_EQ(r.out, "");
  r = Perflaw("results --sort ndcg@20 " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("perflaw: error: --sort ndcg@20: no such column", 0), 0u) << r.err;
  r = Perflaw("results --sort layers:up " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected COL, -COL or COL:desc"), std::string::npos) << r.err;
  r = Perflaw("results --columns model.nope " + db_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--columns model.nope: no such column"), std::string::npos) << r.err;
  r = Perflaw("results --columns point,, " + db_);
  EXPECT_EQ(r.exit_code, 2) << r.out;
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
