// The shipped configs and `perflaw sweep check`.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

// ---- Shipped configs and the command ----

StatusOr<Sweep> ShippedConfig(const std::string& name) {
  return LoadSweep(std::string(PERFLAW_SOURCE_DIR) + "/configs/" + name, NoCache());
}

TEST(SweepConfigs, QuickstartHasASmallSyntheticGrid) {
  StatusOr<Sweep> s = ShippedConfig("quickstart.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GE(s->points.size(), 12u);
  ASSERT_EQ(s->datasets.size(), 1u);
  EXPECT_TRUE(s->datasets[0].synthetic);
  EXPECT_GE(s->resources.workers, 2u);
}

TEST(SweepConfigs, StudyCpuLoadsTheSharedDatasets) {
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  StatusOr<Sweep> s = ShippedConfig("study-cpu.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->datasets.size(), 2u);
  EXPECT_GT(s->points.size(), 12u);
}

// docs/results.md's study: three datasets, the user-fraction axis on ml-100k only, two seeds
// there and on wikipedia, amazon-video's smaller grid with one seed.
TEST(SweepConfigs, StudyConvergenceHasItsDataAxisOnMl100kOnly) {
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  StatusOr<Sweep> s = ShippedConfig("study-convergence.yaml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->datasets.size(), 3u);
  std::map<std::string, std::set<double>> fractions;
  std::map<std::string, int> points;
  for (const GridPoint& p : s->points) {
    const std::string name = std::filesystem::path(p.config.data.path).stem().string();
    fractions[name].insert(p.config.data.user_fraction);
    ++points[name];
  }
  EXPECT_EQ(fractions["ml-100k"], (std::set<double>{0.25, 0.5, 1.0}));
  EXPECT_EQ(fractions["wikipedia"], (std::set<double>{1.0}));
  EXPECT_EQ(fractions["amazon-video"], (std::set<double>{1.0}));
  EXPECT_EQ(points,
            (std::map<std::string, int>{{"ml-100k", 96}, {"wikipedia", 32}, {"amazon-video", 9}}));
}

// Its follow-up: ml-100k's full grid with pre-LN and warm-up, into the same database.
TEST(SweepConfigs, StudyConvergencePrelnIsTheMl100kGridWithPreLnAndWarmup) {
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  const std::string dir = std::string(PERFLAW_SOURCE_DIR) + "/configs/";
  StatusOr<Sweep> s = LoadSweep(dir + "study-convergence-preln.yaml", NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  StatusOr<Sweep> parent = LoadSweep(dir + "study-convergence.yaml", NoCache());
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  EXPECT_EQ(s->points.size(), 32u);
  EXPECT_EQ(s->db_path, parent->db_path);
  for (const GridPoint& p : s->points) {
    EXPECT_EQ(p.config.model.norm, worker::NormPlacement::kPre);
    EXPECT_EQ(p.config.train.warmup, 48u);
    EXPECT_EQ(p.config.data.user_fraction, 1.0);
  }
}

TEST(SweepCheckCommand, ListsPointsAndFailsWithExitTwo) {
  TempDir dir;
  dir.Write("ok.yaml", SynthSweep("grid:\n  model.layers: [1, 2]\n  seed: [0, 1]\n"));
  auto r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("ok.yaml"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 points"), std::string::npos) << r.out;
  StatusOr<Sweep> s = LoadSweep(dir.File("ok.yaml"), NoCache());
  ASSERT_TRUE(s.ok());
  for (const auto& p : s->points) EXPECT_NE(r.out.find(p.id.substr(0, 12)), std::string::npos);

  r = RunCommand(Bin("perflaw") + " sweep check --format json " + dir.File("ok.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["points"].size(), 4u);
  EXPECT_EQ(j["points"][0]["id"], s->points[0].id);

  dir.Write("bad.yaml", SynthSweep("grid:\n  model.layers: []\n"));
  r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("bad.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: " + dir.File("bad.yaml") +
                       ":7:17: grid.model.layers is empty: an axis needs at least one value\n");
  EXPECT_TRUE(r.out.empty());
}

// A grid the law's forms cannot identify is said before anything runs (table and JSON), and a grid
// that can be fitted gets no warning.
TEST(SweepCheckCommand, WarnsWhenTheLawCannotBeIdentified) {
  TempDir dir;
  dir.Write("small.yaml", SynthSweep("grid:\n  model.layers: [1, 2]\n  seed: [0, 1]\n"));
  auto r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("small.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warning: law form performance cannot be identified: 4 points (needs 7), "
                       "2 layers values (needs 3), 1 d_model values (needs 3); perflaw fit will "
                       "fit the scaling baseline instead"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("warning: law form scaling cannot be identified: 1 d_model values (needs "
                       "2); perflaw fit will stop for this form"),
            std::string::npos)
      << r.out;
  r = RunCommand(Bin("perflaw") + " sweep check --format json " + dir.File("small.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["law_warnings"].size(), 2u);

  dir.Write("grid.yaml",
            SynthSweep("grid:\n  model.layers: [1, 2, 3]\n  model.d_model: [8, 16, 32]\n"));
  r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("grid.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("warning:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
