// perflaw curves (and the curves of perflaw report) through the real executable on a real results
// database: the files written, the still-improving mark, --sweep and --where, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orchestrator/store/results_db.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using orchestrator::ResultsDb;

CommandResult Perflaw(const std::string& args) { return RunCommand(Bin("perflaw") + " " + args); }

std::string Read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json Epoch(int epoch, double valid_ndcg10) {
  worker::EpochRecord e;
  e.epoch = epoch;
  e.steps = 10 * epoch;
  e.train_loss = 5.0 / epoch;
  e.valid.split = "valid";
  e.valid.protocol = "full";
  e.valid.users = 100;
  e.valid.hr = {{10, 2 * valid_ndcg10}};
  e.valid.ndcg = {{10, valid_ndcg10}};
  e.valid.mrr = valid_ndcg10 / 2;
  return worker::EpochRecordToJson(e);
}

const std::vector<double> kImproving = {0.10, 0.20, 0.30};  // best at the last epoch
const std::vector<double> kPeaked = {0.10, 0.30, 0.20};

struct P {
  std::string id, data;
  int layers, d;
  std::vector<double> valid;  // valid NDCG@10 per epoch of the attempt that completes
  bool complete = true;
};

// Sweep "grid": six points on a.inter, (1, 2, 4) layers x (16, 32); a1 still improving. a2's first
// attempt failed after epochs that were still improving (0.9 at its last): only its second attempt,
// which peaked, may show. Sweep "extra": three points on b.inter; b1 still improving, b3 running.
void Populate(const std::string& path) {
  auto db = ResultsDb::OpenForWriting(path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ResultsDb& w = **db;
  const std::vector<P> grid = {
      {"a1", "a.inter", 1, 16, kImproving}, {"a2", "a.inter", 2, 16, kPeaked},
      {"a3", "a.inter", 4, 16, kPeaked},    {"a4", "a.inter", 1, 32, kPeaked},
      {"a5", "a.inter", 2, 32, kPeaked},    {"a6", "a.inter", 4, 32, kPeaked}};
  const std::vector<P> extra = {{"b1", "b.inter", 2, 64, kImproving},
                                {"b2", "b.inter", 4, 64, kPeaked},
                                {"b3", "b.inter", 8, 64, {0.1, 0.2}, false}};
  for (const auto& [name, points] : {std::pair{"grid", grid}, std::pair{"extra", extra}}) {
    int64_t sweep = *w.RecordSweep(std::string("name: ") + name + "\n", name);
    std::vector<orchestrator::NewPoint> news;
    for (const P& p : points)
      news.push_back({p.id, StoredConfig(p.data, p.layers, p.d).dump(), 1.0});
    ASSERT_TRUE(w.AddPoints(sweep, news).ok());
    for (const P& p : points) {
      if (p.id == "a2") {
        int64_t failed = *w.StartAttempt(p.id, 0, {"localhost"}, {1});
        for (int e = 1; e <= 3; ++e)
          ASSERT_TRUE(w.RecordEpochMetrics(p.id, failed, Epoch(e, e == 3 ? 0.9 : 0.1 * e)).ok());
        ASSERT_TRUE(
            w.FailAttempt(p.id, failed, orchestrator::FailureReason::kFailed, "boom", 3).ok());
      }
      StatusOr<int64_t> a = w.StartAttempt(p.id, 0, {"localhost"}, {1});
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      for (size_t e = 0; e < p.valid.size(); ++e)
        ASSERT_TRUE(w.RecordEpochMetrics(p.id, *a, Epoch(e + 1, p.valid[e])).ok());
      const double ndcg = 0.1 + 0.02 * std::log2(p.layers) + 0.03 * std::log2(p.d / 16.0);
      if (p.complete) {
        ASSERT_TRUE(w.CompletePoint(p.id, *a, StoredResult(ndcg)).ok());
      }
    }
  }
}

class CurvesCliTest : public PopulatedDbTest {
 protected:
  CurvesCliTest() : PopulatedDbTest("results.db", Populate) {}
  std::string Out(const std::string& name = "curves") const { return dir_.File(name); }
};

TEST_F(CurvesCliTest, WritesPngAndSvgPerGroupAndMarksPointsStillImproving) {
  auto r = Perflaw("curves " + db_ + " --out " + Out());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // One figure per dataset (the points differ only in size within each).
  for (const char* g : {"curves_g01", "curves_g02"}) {
    for (const char* ext : {".png", ".svg", ".dat", ".gp"}) {
      const fs::path f = fs::path(Out()) / (std::string(g) + ext);
      EXPECT_TRUE(fs::exists(f)) << f;
      EXPECT_NE(r.out.find("wrote " + f.string() + "\n"), std::string::npos) << r.out;
    }
    EXPECT_EQ(Read(fs::path(Out()) / (std::string(g) + ".png")).substr(1, 3), "PNG");
  }
  EXPECT_FALSE(fs::exists(fs::path(Out()) / "curves_g03.svg"));
  EXPECT_NE(r.out.find("2 figure(s) of 9 point(s): train loss and valid NDCG@10 (full protocol)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("3 still improving at their last epoch"), std::string::npos) << r.out;

  const std::string a = Read(fs::path(Out()) / "curves_g01.svg");
  EXPECT_NE(a.find("data.path=a.inter"), std::string::npos);
  EXPECT_NE(a.find("valid NDCG@10 per epoch (valid split, full protocol)"), std::string::npos);
  EXPECT_NE(a.find("train loss per epoch"), std::string::npos);
  EXPECT_NE(a.find("L1 d16 (still improving)"), std::string::npos);
  EXPECT_NE(a.find("still improving (best valid NDCG@10 at the last epoch)"), std::string::npos);
  for (const char* label : {"L2 d16", "L4 d16", "L1 d32", "L2 d32", "L4 d32"}) {
    EXPECT_NE(a.find(label), std::string::npos) << label;
    EXPECT_EQ(a.find(std::string(label) + " (still improving)"), std::string::npos) << label;
  }
  EXPECT_EQ(a.find("d64"), std::string::npos);
  // a2's failed attempt (0.9 at its last epoch) is not drawn; its completed one is.
  const std::string dat = Read(fs::path(Out()) / "curves_g01.dat");
  EXPECT_EQ(dat.find("0.9"), std::string::npos) << dat;
  EXPECT_NE(
      dat.find("valid NDCG@10 per epoch (valid split, full protocol): L2 d16\n1 0.1\n2 0.3\n3 "
               "0.2\n"),
      std::string::npos)
      << dat;

  const std::string b = Read(fs::path(Out()) / "curves_g02.svg");
  EXPECT_NE(b.find("data.path=b.inter"), std::string::npos);
  EXPECT_NE(b.find("L2 d64 (still improving)"), std::string::npos);
  EXPECT_NE(b.find("L8 d64 [RUNNING] (still improving)"), std::string::npos);
  EXPECT_NE(b.find("L4 d64"), std::string::npos);
  EXPECT_EQ(b.find("L4 d64 (still improving)"), std::string::npos);
  // Nothing but the figures is left in --out (the rendering directory is gone).
  int files = 0;
  for (const auto& e : fs::directory_iterator(Out())) files += e.is_regular_file() ? 1 : 100;
  EXPECT_EQ(files, 8);
}

TEST_F(CurvesCliTest, SweepAndWhereSelectThePoints) {
  auto r = Perflaw("curves " + db_ + " --sweep extra --out " + Out());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(Out()) / "curves_g02.svg"));
  std::string svg = Read(fs::path(Out()) / "curves_g01.svg");
  EXPECT_NE(svg.find("L2 d64 (still improving)"), std::string::npos);
  EXPECT_EQ(svg.find("L1 d16"), std::string::npos);
  EXPECT_NE(r.out.find("1 figure(s) of 3 point(s)"), std::string::npos) << r.out;

  auto w = Perflaw("curves " + db_ + " --sweep grid --where model.layers=2 --where " +
                   "'test.ndcg@10>0.11' --out " + Out("w"));
  ASSERT_EQ(w.exit_code, 0) << w.err;
  svg = Read(fs::path(Out("w")) / "curves_g01.svg");
  EXPECT_NE(svg.find("L2 d16"), std::string::npos);
  EXPECT_NE(svg.find("L2 d32"), std::string::npos);
  EXPECT_EQ(svg.find("L1 d16"), std::string::npos);
  EXPECT_EQ(svg.find("L4 d"), std::string::npos);
  EXPECT_NE(w.out.find("1 figure(s) of 2 point(s)"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("0 still improving"), std::string::npos) << w.out;

  auto hr = Perflaw("curves " + db_ + " --sweep grid --metric hr@10 --out " + Out("hr"));
  ASSERT_EQ(hr.exit_code, 0) << hr.err;
  EXPECT_NE(Read(fs::path(Out("hr")) / "curves_g01.svg").find("valid HR@10 per epoch"),
            std::string::npos);
}

TEST_F(CurvesCliTest, BadInputIsExit2WithOneLineAndWritesNothing) {
  dir_.Write("file", "not a directory");
  struct Bad {
    std::string args, expect;
  };
  const std::vector<Bad> bad = {
      {db_ + " --metric recall@10", "--metric recall@10: expected HR@K, NDCG@K or MRR"},
      {db_ + " --metric NDCG@0", "--metric NDCG@0"},
      {db_ + " --metric HR@50",
       "--metric HR@50: the selected points have no valid HR@50 per "
       "epoch (measured per epoch in " +
           db_ + ": HR@10, MRR, NDCG@10)"},
      {dir_.File("missing.db"), "no such results database"},
      {db_ + " --where model.layers=99", "--where model.layers=99: selects no point in " + db_},
      {db_ + " --where nope=1", "--where nope=1: no stored point has the configuration key nope"},
      {db_ + " --sweep nope", "--sweep nope: no such sweep"},
      {db_ + " --protocol sampled:100", "--protocol sampled:100"},
  };
  for (const Bad& b : bad) {
    auto r = Perflaw("curves " + b.args + " --out " + Out());
    EXPECT_EQ(r.exit_code, 2) << b.args << "\n" << r.err;
    EXPECT_NE(r.err.find(b.expect), std::string::npos) << b.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(Out())) << b.args;
  }
  EXPECT_FALSE(fs::exists(dir_.File("missing.db")));
  auto file = Perflaw("curves " + db_ + " --out " + dir_.File("file"));
  EXPECT_EQ(file.exit_code, 2);
  EXPECT_NE(file.err.find("--out " + dir_.File("file") + ": exists and is not a directory"),
            std::string::npos)
      << file.err;
  EXPECT_EQ(Read(dir_.File("file")), "not a directory");
}

TEST_F(CurvesCliTest, ReportIncludesTheCurvesOfItsPoints) {
  auto r =
      Perflaw("report " + db_ + " --sweep grid --form scaling --metric NDCG@10 --bootstrap 0 " +
              "--out " + Out("rep"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path rep(Out("rep"));
  EXPECT_TRUE(fs::exists(rep / "curves_g01.png"));
  EXPECT_TRUE(fs::exists(rep / "curves_g01.svg"));
  EXPECT_FALSE(fs::exists(rep / "curves_g02.svg"));  // sweep extra's points are not the report's
  const std::string md = Read(rep / "report.md");
  EXPECT_NE(md.find("## Training curves"), std::string::npos) << md;
  EXPECT_NE(md.find("![curves_g01.png](curves_g01.png)"), std::string::npos) << md;
  EXPECT_NE(md.find("valid NDCG@10 (full protocol) per epoch of the 6 completed points"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("1 of 6 points were still improving at their last epoch"), std::string::npos)
      << md;
  EXPECT_NE(md.find("still improving at their last epoch (best validation value at the last epoch; "
                    "ringed in the figures): L1 d16 (point a1)."),
            std::string::npos)
      << md;
}

}  // namespace
}  // namespace perflaw::testing
