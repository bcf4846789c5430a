// Sweep expansion: the grid, include/exclude, several datasets, points added by adaptive rounds.
#include <gtest/gtest.h>

#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

TEST(SweepExpand, CartesianProduct) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16, 32]\n  "
                       "data.max_seq_len: [5, 10]\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 12u);
  EXPECT_EQ(s->grid_points, 12u);
  EXPECT_EQ(Ids(*s).size(), 12u);
  EXPECT_EQ(s->axis_names,
            (std::vector<std::string>{"model.layers", "model.d_model", "data.max_seq_len"}));
  const GridPoint& first = s->points.front();
  EXPECT_EQ(first.axes.at("model.layers"), "1");
  EXPECT_EQ(first.axes.at("model.d_model"), "8");
  EXPECT_EQ(first.axes.at("data.max_seq_len"), "5");
  EXPECT_EQ(CanonicalJson(first.config)["model"]["layers"], 1);
  EXPECT_EQ(CanonicalJson(first.config)["train"]["epochs"], 2);  // fixed settings reach every point
  EXPECT_EQ(CanonicalJson(first.config)["data"]["format"], "binary");
  EXPECT_EQ(first.id.size(), 32u);
  // The last axis varies fastest.
  EXPECT_EQ(s->points[1].axes.at("data.max_seq_len"), "10");
  EXPECT_EQ(s->points[1].axes.at("model.d_model"), "8");
}

TEST(SweepExpand, NoGridIsOnePoint) {
  StatusOr<Sweep> s = Parse(SynthSweep(""));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 1u);
  EXPECT_TRUE(s->points[0].axes.empty());
}

TEST(SweepExpand, AGridLargerThanMaxPointsIsRefusedWithItsCount) {
  // 1,000 x 1,000 is counted, not expanded (policy.max_points, default 100,000).
  std::string layers, dims;
  for (int i = 1; i <= 1000; ++i) {
    layers += (i > 1 ? ", " : "") + std::to_string(i);
    dims += (i > 1 ? ", " : "") + std::to_string(8 * i);
  }
  const std::string huge =
      "grid:\n  model.layers: [" + layers + "]\n  model.d_model: [" + dims + "]\n";
  const std::string error = ErrorOf(SynthSweep(huge));
  EXPECT_NE(error.find("s.yaml:7:3: the grid makes 1000000 points (1000 model.layers x 1000 "
                       "model.d_model), more than policy.max_points (100000)"),
            std::string::npos)
      << error;
  // The limit is the user's: a small grid over a smaller limit, include counted.
  EXPECT_NE(ErrorOf(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n",
                               "include:\n  - {model.layers: 4}\npolicy: {max_points: 3}\n"))
                .find("makes 4 points (3 model.layers, plus include), more than policy.max_points "
                      "(3)"),
            std::string::npos);
  EXPECT_TRUE(
      Parse(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n", "policy: {max_points: 3}\n")).ok());
  EXPECT_NE(ErrorOf(SynthSweep("policy: {max_points: 0}\n")).find("policy.max_points must be >= 1"),
            std::string::npos);
}

TEST(SweepExpand, IncludeExcludeAndDuplicates) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n",
                       "include:\n"
                       "  - {model.layers: 4, model.d_model: 32}\n"
                       "  - {model.layers: 1, model.d_model: 8}\n"  // already in the grid
                       "  - {train.lr: 0.01}\n"
                       "exclude:\n"
                       "  - {model.layers: 2, model.d_model: 16}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->grid_points, 4u);
  EXPECT_EQ(s->included_points, 3u);
  EXPECT_EQ(s->excluded_points, 1u);
  EXPECT_EQ(s->duplicate_points, 1u);
  ASSERT_EQ(s->points.size(), 5u);  // 4 + 3 - 1 - 1
  for (const auto& p : s->points)
    EXPECT_FALSE(CanonicalJson(p.config)["model"]["layers"] == 2 &&
                 CanonicalJson(p.config)["model"]["d_model"] == 16);
  const GridPoint& big = s->points[3];
  EXPECT_EQ(CanonicalJson(big.config)["model"]["layers"], 4);
  EXPECT_EQ(CanonicalJson(big.config)["model"]["d_model"], 32);
  // An include point takes the fixed (default) value of keys it does not set.
  const GridPoint& lr = s->points[4];
  EXPECT_EQ(CanonicalJson(lr.config)["train"]["lr"], 0.01);
  EXPECT_EQ(lr.axes.at("model.layers"), "2");  // worker default
  EXPECT_EQ(lr.axes.at("train.lr"), "0.01");
}

TEST(SweepExpand, ExcludeAppliesToPartialMatches) {
  StatusOr<Sweep> s = Parse(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n  seed: [0, 1]\n",
                                       "exclude:\n  - {model.layers: 3}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 4u);
}

TEST(SweepExpand, SeveralDatasetsAreAnAxis) {
  TempDir dir;
  dir.Write("a.txt", SasrecText(20));
  dir.Write("b.txt", SasrecText(30, 5));
  std::string text =
      "name: two\n"
      "datasets:\n"
      "  - {path: a.txt}\n"
      "  - {name: bee, path: b.txt, max_seq_len: 4}\n"
      "eval: {protocol: full, ks: [10]}\n"
      "grid: {model.layers: [1, 2]}\n"
      "exclude: [{dataset: bee, model.layers: 2}]\n";
  StatusOr<Sweep> s = Parse(text, dir.path().string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->datasets.size(), 2u);
  EXPECT_EQ(s->datasets[0].name, "a");
  EXPECT_EQ(s->datasets[1].name, "bee");
  ASSERT_EQ(s->points.size(), 3u);
  EXPECT_EQ(s->axis_names.front(), "dataset");
  EXPECT_EQ(s->points[0].axes.at("dataset"), "a");
  EXPECT_EQ(s->points[2].dataset, "bee");
  EXPECT_EQ(CanonicalJson(s->points[2].config)["data"]["max_seq_len"], 4);  // per-dataset data keys
  EXPECT_EQ(CanonicalJson(s->points[0].config)["data"]["max_seq_len"], 50);  // worker default
  EXPECT_EQ(CanonicalJson(s->points[0].config)["data"]["path"], (dir.path() / "a.txt").string());
}

TEST(SweepExpand, AdaptiveDefaultsAndExtraPointsMatchAnIncludeEntry) {
  const std::string grid = "grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n";
  StatusOr<Sweep> s = Parse(SynthSweep(grid, "policy: {adaptive: {rounds: 3}}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const AdaptivePolicy& a = s->policy.adaptive;
  EXPECT_TRUE(a.enabled());
  EXPECT_EQ(a.metric, "HR@10");      // law.metrics[0]
  EXPECT_EQ(a.form, "performance");  // the first form with an optimum
  EXPECT_EQ(a.points_per_round, 4u);
  EXPECT_EQ(a.budget(), 12u);
  EXPECT_EQ(a.stop_when, "identified");

  // An added point is the point an include: entry would make; a point the sweep has is not added.
  StatusOr<std::vector<GridPoint>> extra =
      ExpandExtraPoints(*s, {{"", {{"model.layers", 4}, {"model.d_model", 64}}},
                             {"", {{"model.layers", 2}, {"model.d_model", 16}}}});
  ASSERT_TRUE(extra.ok()) << extra.status().ToString();
  ASSERT_EQ(extra->size(), 1u);
  StatusOr<Sweep> written = Parse(SynthSweep(
      grid,
      "include:\n  - {model.layers: 4, model.d_model: 64}\npolicy: {adaptive: {rounds: 3}}\n"));
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(extra->front().id, written->points.back().id);
  EXPECT_EQ(CanonicalJson(extra->front().config), CanonicalJson(written->points.back().config));
  EXPECT_DOUBLE_EQ(extra->front().cost, written->points.back().cost);
  // A value the point parser rejects is an error naming the added entry.
  StatusOr<std::vector<GridPoint>> bad =
      ExpandExtraPoints(*s, {{"", {{"model.layers", 0}, {"model.d_model", 64}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("added include entries"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
