// perflaw fit / predict / report reading a results database: observations from completed points,
// fits stored in the fits table, and the errors (missing DB, nothing completed, mixed protocols).
#include "orchestrator/store/law_db.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "orchestrator/store/results_db.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/point_config.h"
#include "worker/result.h"

namespace perflaw::testing {
namespace {

using json = nlohmann::json;
using orchestrator::NewPoint;
using orchestrator::ResultsDb;

// The paper's baseline with known parameters: HR@10 = a ln N + b ln d + c (noise-free).
constexpr double kA = 0.02, kB = 0.05, kC = 0.1;
double Hr10(double n, double d) { return kA * std::log(n) + kB * std::log(d) + kC; }

constexpr int kMaxSeqLen = 50;  // of every point

json Config(double layers, double d_model) {
  return {{"data", {{"path", "/data/ml-1m.inter"}, {"max_seq_len", kMaxSeqLen}}},
          {"model", {{"layers", layers}, {"d_model", d_model}}},
          {"seed", 0}};
}

// What a worker sends for a finished point (the real serializer).
json Result(double hr10, const std::string& protocol) {
  worker::PointResult r = CompletedResult({1000, 5000}, /*tokens_seen=*/1000, /*best_epoch=*/1);
  r.steps = 10;
  r.device = "cpu";
  r.test = TestMetrics(protocol, /*users=*/100, /*mrr=*/hr10 / 3, {{10, hr10}}, {{10, hr10 / 2}});
  worker::RankMetrics valid = *r.test;
  valid.split = "valid";
  valid.hr = {{10, hr10 + 0.01}};
  r.best_valid = valid;
  return worker::PointResultToJson(r);
}

// A 4x4 (layers x d_model) grid; `complete` points get a result (the first `other` of them
// measured with protocol "sampled:100" instead of "full").
void BuildDb(const std::string& path, bool complete = true, int other = 0) {
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  StatusOr<int64_t> sweep = (*db)->RecordSweep("name: grid\n", "grid");
  ASSERT_TRUE(sweep.ok());
  std::vector<NewPoint> points;
  for (double n : {2, 4, 8, 16})
    for (double d : {16, 32, 64, 128})
      points.push_back({"p" + std::to_string(int(n)) + "x" + std::to_string(int(d)),
                        Config(n, d).dump(), n * d * d});
  ASSERT_TRUE((*db)->AddPoints(*sweep, points).ok());
  if (!complete) return;
  int i = 0;
  for (const NewPoint& p : points) {
    StatusOr<int64_t> attempt = (*db)->StartAttempt(p.id, 0, {"host"}, {1});
    ASSERT_TRUE(attempt.ok()) << attempt.status().ToString();
    json config = json::parse(p.config_json);
    double v = Hr10(config["model"]["layers"], config["model"]["d_model"]);
    ASSERT_TRUE(
        (*db)->CompletePoint(p.id, *attempt, Result(v, i++ < other ? "sampled:100" : "full")).ok());
  }
}

// ml-1m's statistics at max_seq_len 50 with ApEn (m 2, r 0.2), as `perflaw data stats` stores them.
orchestrator::DatasetStatsRecord Ml1mStats() {
  orchestrator::DatasetStatsRecord s;
  s.dataset = "/data/ml-1m.inter";  // the grid's data.path
  s.options = "x";
  s.max_seq_len = kMaxSeqLen;
  s.tokens = 90;
  s.apen = 1.5;
  s.m = 2;
  s.r = 0.2;
  return s;
}

void StoreStats(const std::string& path, const std::vector<orchestrator::DatasetStatsRecord>& all) {
  auto db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok());
  for (const orchestrator::DatasetStatsRecord& s : all)
    ASSERT_TRUE((*db)->StoreDatasetStats(s).ok());
}

StatusOr<orchestrator::LawDbInput> ReadNdcg10(const std::string& path) {
  orchestrator::LawDbOptions o;
  o.metric = "NDCG@10";
  return orchestrator::ReadObservations(path, o);
}

CommandResult Perflaw(const std::string& args) { return RunCommand(Bin("perflaw") + " " + args); }

TEST(LawDbTest, ReadsObservationsOfCompletedPoints) {
  TempDir dir;
  BuildDb(dir.File("r.db"));
  orchestrator::LawDbOptions o;
  o.metric = "hr@10";
  StatusOr<orchestrator::LawDbInput> in = orchestrator::ReadObservations(dir.File("r.db"), o);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->protocol, "full");
  ASSERT_EQ(in->rows.size(), 16u);
  for (const law::Observation& r : in->rows) {
    EXPECT_EQ(r.dataset, "ml-1m");  // the sweep's default dataset name: the file's stem
    EXPECT_EQ(r.max_seq_len, 50);
    EXPECT_EQ(r.metric, "HR@10");
    EXPECT_NEAR(r.value, Hr10(r.layers, r.d_model), 1e-12);
    EXPECT_TRUE(std::isnan(r.tokens));  // no dataset_stats stored
  }
  o.metric.clear();
  o.split = "valid";
  in = orchestrator::ReadObservations(dir.File("r.db"), o);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->rows.size(), 48u);  // HR@10, NDCG@10, MRR
  o.split = "train";
  EXPECT_EQ(orchestrator::ReadObservations(dir.File("r.db"), o).status().code(),
            Status::Code::kInvalidArgument);
}

// A second sweep "small" of 4 points (layers 2 x d 16..128, already completed by "grid") plus one
// of its own (layers 32 x d 16); fits of either sweep read only its points.
TEST(LawDbTest, SweepSelectsItsPoints) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  BuildDb(path);
  {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(path);
    ASSERT_TRUE(db.ok());
    StatusOr<int64_t> sweep = (*db)->RecordSweep("name: small\n", "small");
    ASSERT_TRUE(sweep.ok());
    std::vector<NewPoint> points;
    for (double d : {16, 32, 64, 128})
      points.push_back({"p2x" + std::to_string(int(d)), Config(2, d).dump(), 2 * d * d});
    points.push_back({"p32x16", Config(32, 16).dump(), 32 * 16 * 16});
    ASSERT_TRUE((*db)->AddPoints(*sweep, points).ok());
    StatusOr<int64_t> attempt = (*db)->StartAttempt("p32x16", 0, {"host"}, {1});
    ASSERT_TRUE(attempt.ok());
    ASSERT_TRUE((*db)->CompletePoint("p32x16", *attempt, Result(Hr10(32, 16), "full")).ok());
  }
  orchestrator::LawDbOptions o;
  o.metric = "HR@10";
  for (const auto& [which, id, rows] : std::vector<std::tuple<std::string, int64_t, size_t>>{
           {"", 0, 17}, {"grid", 1, 16}, {"1", 1, 16}, {"small", 2, 5}, {"2", 2, 5}}) {
    o.sweep = which;
    StatusOr<orchestrator::LawDbInput> in = orchestrator::ReadObservations(path, o);
    ASSERT_TRUE(in.ok()) << which << ": " << in.status().ToString();
    EXPECT_EQ(in->sweep, id) << which;
    EXPECT_EQ(in->sweeps, 2) << which;
    EXPECT_EQ(in->rows.size(), rows) << which;
  }
  o.sweep = "nope";
  StatusOr<orchestrator::LawDbInput> in = orchestrator::ReadObservations(path, o);
  EXPECT_EQ(in.status().message(),
            "--sweep nope: no such sweep in " + path + " (sweeps: 1 (grid), 2 (small))");
  EXPECT_EQ(in.status().code(), Status::Code::kInvalidArgument);

  // The CLI: the fit says which sweep it read, and stores it with the fit's selection.
  CommandResult r = Perflaw("fit " + path +
                            " --sweep small --metric HR@10 --form scaling "
                            "--bootstrap 0 --starts 20 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sweep 2"), std::string::npos) << r.out;
  r = Perflaw("fit " + path + " --metric HR@10 --form scaling --bootstrap 0 --starts 20");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("all 2 sweeps (--sweep for one)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stored 1 fit(s)"), std::string::npos) << r.out;
  // The identical fit again is not stored twice.
  r = Perflaw("fit " + path + " --metric HR@10 --form scaling --bootstrap 0 --starts 20");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 fit(s) identical to ones stored in " + path +
                       " (fits ids 2): not stored again"),
            std::string::npos)
      << r.out;
  r = Perflaw("sql " + path +
              " \"SELECT json_extract(selection, '$.sweep') AS sweep FROM fits ORDER BY id\" "
              "--format csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sweep\n2\n\n") << r.out;
  r = Perflaw("fit --csv " + path + " --sweep small");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(LawDbTest, TokensAndApenComeFromDatasetStats) {
  TempDir dir;
  BuildDb(dir.File("r.db"));
  orchestrator::DatasetStatsRecord s = Ml1mStats();
  s.users = 10;
  s.interactions = 100;
  ASSERT_NO_FATAL_FAILURE(StoreStats(dir.File("r.db"), {s}));
  auto in = ReadNdcg10(dir.File("r.db"));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_FALSE(in->rows.empty());
  EXPECT_EQ(in->rows[0].tokens, 90);
  EXPECT_EQ(in->rows[0].apen, 1.5);
  EXPECT_TRUE(std::isnan(in->rows[0].transition));  // not stored
}

TEST(LawDbTest, TransitionEntropyComesFromDatasetStats) {
  TempDir dir;
  BuildDb(dir.File("r.db"));
  orchestrator::DatasetStatsRecord s = Ml1mStats();
  s.transition_bits = 6.25;
  s.transition_plugin_bits = 5.5;
  s.transition_pairs = 80;
  orchestrator::DatasetStatsRecord other_m = s;  // another ApEn m: two ApEn rows, one transition
  other_m.m = 1;
  other_m.apen = 0.7;
  ASSERT_NO_FATAL_FAILURE(StoreStats(dir.File("r.db"), {s, other_m}));
  auto in = ReadNdcg10(dir.File("r.db"));
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_FALSE(in->rows.empty());
  EXPECT_EQ(in->rows[0].transition, 6.25);
  EXPECT_TRUE(std::isnan(in->rows[0].apen));  // ambiguous: left missing
  EXPECT_EQ(in->dataset_paths.at("ml-1m"), "/data/ml-1m.inter");
}

// A data axis (data.user_fraction) makes one file several datasets: each is named by the key in
// which it differs and reads the statistics stored for its own options, not the file's others.
TEST(LawDbTest, UserFractionsAreDatasetsOfTheirOwnWithTheirOwnStats) {
  TempDir dir;
  const std::string path = dir.File("r.db");
  {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    StatusOr<int64_t> sweep = (*db)->RecordSweep("name: fractions\n", "fractions");
    ASSERT_TRUE(sweep.ok());
    std::vector<orchestrator::DatasetStatsRecord> stats;
    for (double fraction : {0.5, 1.0}) {
      json config = StoredConfig("/data/ml-1m.inter", 2, 16);
      config["data"]["user_fraction"] = fraction;
      const std::string id = fraction < 1 ? "half" : "all";
      ASSERT_TRUE((*db)->AddPoints(*sweep, {{id, config.dump(), 1}}).ok());
      StatusOr<int64_t> attempt = (*db)->StartAttempt(id, 0, {"host"}, {1});
      ASSERT_TRUE(attempt.ok());
      ASSERT_TRUE((*db)->CompletePoint(id, *attempt, Result(0.5 * fraction, "full")).ok());
      StatusOr<worker::PointConfig> point = worker::PointConfigFromJson(config, "test");
      ASSERT_TRUE(point.ok()) << point.status().ToString();
      orchestrator::DatasetStatsRecord s = Ml1mStats();
      point->data.max_seq_len = 0;
      s.options = point->data.CanonicalString();
      s.tokens = 1000 * fraction;
      stats.push_back(s);
    }
    for (const orchestrator::DatasetStatsRecord& s : stats)
      ASSERT_TRUE((*db)->StoreDatasetStats(s).ok());
  }
  auto in = ReadNdcg10(path);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->rows.size(), 2u);
  std::map<std::string, double> tokens;
  for (const law::Observation& o : in->rows) tokens[o.dataset] = o.tokens;
  EXPECT_EQ(tokens, (std::map<std::string, double>{{"ml-1m{user_fraction=0.5}", 500},
                                                   {"ml-1m{user_fraction=1.0}", 1000}}));
  EXPECT_EQ(in->dataset_paths.at("ml-1m{user_fraction=0.5}"), "/data/ml-1m.inter");
}

// The data-aware form on a database without the measure says how to store it.
TEST(LawDbTest, MissingQualitySaysHowToStoreIt) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db);
  for (const char* q : {"apen", "transition"}) {
    auto r = Perflaw("fit " + db + " --form performance-data --metric HR@10 --bootstrap 0 " +
                     "--quality " + q);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find(std::string("--quality ") + q), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("perflaw data stats /data/ml-1m.inter --max-seq-len 50 --db " + db),
              std::string::npos)
        << r.err;
  }
}

TEST(LawDbTest, FitFromDbRecoversTheLawAndStoresIt) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db);
  auto r = Perflaw("fit " + db + " --form scaling --metric HR@10 --bootstrap 50 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["keys"]["dataset"], "ml-1m");
  EXPECT_EQ(j[0]["n_points"], 16);
  EXPECT_NEAR(j[0]["params"]["a"]["value"].get<double>(), kA, 1e-6);
  EXPECT_NEAR(j[0]["params"]["b"]["value"].get<double>(), kB, 1e-6);
  EXPECT_NEAR(j[0]["params"]["c"]["value"].get<double>(), kC, 1e-6);

  auto rows = Perflaw("sql " + db +
                      " \"SELECT form, metric, n_points, json_extract(selection, '$.split'), "
                      "json_extract(selection, '$.protocol'), json_extract(params, '$.a.value') "
                      "FROM fits\" --format json");
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  json f = json::parse(rows.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0]["form"], "scaling");
  EXPECT_EQ(f[0]["metric"], "HR@10");
  EXPECT_EQ(f[0]["n_points"], 16);
  EXPECT_EQ(f[0]["json_extract(selection, '$.split')"], "test");
  EXPECT_EQ(f[0]["json_extract(selection, '$.protocol')"], "full");
  EXPECT_NEAR(f[0]["json_extract(params, '$.a.value')"].get<double>(), kA, 1e-6);

  // The table format says where the fit went; predict and report read the DB too.
  auto t = Perflaw("fit " + db + " --form scaling --metric HR@10 --bootstrap 0 --split valid");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("stored 1 fit(s) in " + db), std::string::npos) << t.out;
  auto p = Perflaw("predict " + db + " --form scaling --metric HR@10 --layers 4 --d-model 32 " +
                   "--bootstrap 0 --format json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NEAR(json::parse(p.out)[0]["predicted"]["value"].get<double>(), Hr10(4, 32), 1e-6);
}

TEST(LawDbTest, PerformanceFitFromDb) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db);
  auto r = Perflaw("fit " + db + " --metric HR@10 --starts 200 --bootstrap 20 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["form"], "performance");
  EXPECT_GT(j[0]["r2"].get<double>(), 0.99);
  auto n = Perflaw("sql " + db + " \"SELECT count(*) AS n FROM fits\" --format json");
  EXPECT_EQ(json::parse(n.out)[0]["n"], 1);
}

TEST(LawDbTest, InputErrors) {
  TempDir dir;
  const std::string missing = dir.File("missing.db");
  auto r = Perflaw("fit " + missing);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(missing));

  dir.Write("g.csv", "dataset,max_seq_len,layers,d_model,metric,value\n");
  BuildDb(dir.File("r.db"));
  auto both = Perflaw("fit " + dir.File("r.db") + " --csv " + dir.File("g.csv"));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
  auto none = Perflaw("fit --form scaling");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("DB or --csv FILE"), std::string::npos) << none.err;
}

TEST(LawDbTest, NoCompletedPointsIsAnErrorAndWritesNothing) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db, /*complete=*/false);
  auto r = Perflaw("fit " + db + " --form scaling");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no completed points"), std::string::npos) << r.err;
  auto n = Perflaw("sql " + db + " \"SELECT count(*) AS n FROM fits\" --format json");
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_EQ(json::parse(n.out)[0]["n"], 0);
}

TEST(LawDbTest, MixedProtocolsAreRefusedUnlessOneIsChosen) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db, true, /*other=*/3);
  auto r = Perflaw("fit " + db + " --form scaling --metric HR@10");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("full, sampled:100"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--protocol"), std::string::npos) << r.err;
  auto full = Perflaw("fit " + db + " --form scaling --metric HR@10 --protocol full " +
                      "--bootstrap 0 --format json");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(json::parse(full.out)[0]["n_points"], 13);
  auto none = Perflaw("fit " + db + " --form scaling --protocol sampled:5");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("present: full, sampled:100"), std::string::npos) << none.err;
}

TEST(LawDbTest, ReportReadsTheDb) {
  TempDir dir;
  const std::string db = dir.File("r.db");
  BuildDb(db);
  auto r = Perflaw("report " + db + " --form scaling --metric HR@10 --bootstrap 0 --out " +
                   dir.File("rep"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.File("rep/report.md")));
}

}  // namespace
}  // namespace perflaw::testing
