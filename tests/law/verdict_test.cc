// The verdict: identified interior optima with intervals, grids that do not bracket the optimum,
// degenerate and small fits, the baseline comparison, standard errors and under-training.
#include "law/verdict.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "law/pipeline.h"
#include "tests/law/known_law.h"

namespace perflaw::law {
namespace {

// The verdict on `fit` of `rows` with optimum `opt` (default: none), labelled "HR@10".
Verdict Judge(const std::vector<Observation>& rows, const FitResult& fit, const Optimum& opt = {},
              const std::string& form = "performance", const FitResult* baseline = nullptr) {
  VerdictInput in;
  in.form = form;
  in.rows = &rows;
  in.fit = &fit;
  in.optimum = &opt;
  in.baseline = baseline;
  in.label = "HR@10";
  return MakeVerdict(in, VerdictOptions());
}

StudyOptions Options() {
  StudyOptions so;
  so.fit.starts = 300;
  so.fit.bootstrap = 200;
  so.measured = "test split, sampled:100, eval seed 0";
  return so;
}

TEST(VerdictTest, AnInteriorOptimumIsIdentifiedWithItsInterval) {
  const std::vector<double> truth = Law(8, 60);
  auto rows = Grid(truth, {2, 4, 6, 8, 12, 16, 24}, {20, 30, 45, 60, 80, 110, 150}, 0.001, 7);
  auto study = RunStudy(rows, Options());
  ASSERT_TRUE(study.ok()) << study.status().message();
  const Verdict& v = study->groups[0].verdict;
  ASSERT_TRUE(v.ran);
  EXPECT_TRUE(v.identified) << v.summary;
  ASSERT_TRUE(v.optimum.has_value()) << v.summary;
  // Near the truth, inside its own interval; how often the interval covers the truth is measured
  // over 200 replicates by scripts/bench/law.sh, not here.
  for (auto [e, truth] :
       {std::make_pair(v.optimum->layers, 8.0), std::make_pair(v.optimum->d_model, 60.0)}) {
    EXPECT_NEAR(e.value, truth, 0.05 * truth);
    EXPECT_LE(e.interval.lo, e.value);
    EXPECT_GE(e.interval.hi, e.value);
    EXPECT_LT(e.interval.hi / e.interval.lo, 1.2);
  }
  EXPECT_TRUE(v.at_edge.empty());
  ASSERT_TRUE(v.law_vs_baseline.has_value());
  EXPECT_EQ(v.law_vs_baseline->use, "law");  // the truth is the law, not log-linear
  EXPECT_NE(v.summary.find("law identified; optimum "), std::string::npos) << v.summary;
  EXPECT_NE(v.summary.find("HR@10 (test split, sampled:100, eval seed 0), synthetic, L 50"),
            std::string::npos)
      << v.summary;
}

TEST(VerdictTest, AnAxisBeyondTheGridIsNotPinnedAndSaysWhereToExtend) {
  const std::vector<double> truth = Law(64, 60);  // N* far above the grid's 8 layers
  auto rows = Grid(truth, {1, 2, 4, 8}, {20, 30, 45, 60, 80, 110}, 0.001, 8);
  auto study = RunStudy(rows, Options());
  ASSERT_TRUE(study.ok()) << study.status().message();
  const Verdict& v = study->groups[0].verdict;
  // d_model is pinned inside the grid: an answer on that axis, and only there.
  EXPECT_TRUE(v.identified) << v.summary;
  ASSERT_TRUE(v.optimum.has_value());
  EXPECT_TRUE(std::isnan(v.optimum->layers.value));
  EXPECT_NEAR(v.optimum->d_model.value, 60, 6);
  ASSERT_EQ(v.axes.size(), 2u);
  EXPECT_FALSE(v.axes[0].identified);
  EXPECT_EQ(v.axes[0].axis, "layers");
  EXPECT_FALSE(v.axes[0].problem.empty());
  EXPECT_TRUE(v.axes[1].identified);
  EXPECT_EQ(UnpinnedAxisProblem(v, "layers"), v.axes[0].problem);
  EXPECT_EQ(UnpinnedAxisProblem(v, "d_model"), "");
  EXPECT_NE(v.summary.find("law identified in d_model; optimum d "), std::string::npos)
      << v.summary;
  EXPECT_NE(v.summary.find("layers not pinned: "), std::string::npos) << v.summary;
  ASSERT_EQ(v.at_edge.size(), 1u) << v.summary;
  EXPECT_EQ(v.at_edge[0].axis, "layers");
  EXPECT_EQ(v.at_edge[0].direction, "above");
  EXPECT_EQ(v.best_observed.layers, 8);
  ASSERT_FALSE(v.next.empty());
  // 1, 2, 4, 8 is geometric: the next value is 16.
  EXPECT_NE(v.next[0].find("extend layers above 8 (e.g. 16)"), std::string::npos) << v.next[0];
}

TEST(VerdictTest, NoAxisPinnedIsNotIdentified) {
  const std::vector<double> truth = Law(64, 400);  // both optima far above the grid
  auto rows = Grid(truth, {1, 2, 4, 8}, {20, 30, 45, 60}, 0.001, 8);
  auto study = RunStudy(rows, Options());
  ASSERT_TRUE(study.ok()) << study.status().message();
  const Verdict& v = study->groups[0].verdict;
  EXPECT_FALSE(v.identified) << v.summary;
  EXPECT_FALSE(v.optimum.has_value());
  EXPECT_FALSE(v.reasons.empty());
  EXPECT_EQ(v.at_edge.size(), 2u) << v.summary;
  EXPECT_NE(v.summary.find("optimum not identified"), std::string::npos) << v.summary;
}

TEST(VerdictTest, AFailedOrDegenerateFitHasNoOptimum) {
  auto rows = Grid(Law(8, 60), {2, 4, 8}, {20, 40, 80}, 0.0, 9);
  FitResult failed;
  failed.ran = true;
  failed.summary = "did not converge";
  Verdict v = Judge(rows, failed);
  EXPECT_FALSE(v.identified);
  EXPECT_FALSE(v.optimum.has_value());
  EXPECT_NE(v.summary.find("the fit failed"), std::string::npos) << v.summary;

  // A parameter on its optimizer bound: the data did not pin it.
  FitResult on_bound;
  on_bound.ran = on_bound.converged = true;
  on_bound.params = Law(8, 60);
  on_bound.bootstrap_params.assign(10, on_bound.params);
  auto form = std::move(MakeForm("performance")).value();
  auto opt = FindOptimum(*form, on_bound, ObservedBox(rows), NAN, {});
  ASSERT_TRUE(opt.ok());
  VerdictInput in;
  in.form = "performance";
  in.rows = &rows;
  in.fit = &on_bound;
  in.optimum = &*opt;
  in.param_names = {"w1", "a", "w2", "b", "p", "c"};
  in.param_at_bound = {false, false, false, false, true, false};
  v = MakeVerdict(in, VerdictOptions());
  EXPECT_FALSE(v.identified);
  EXPECT_NE(v.summary.find("p sits on its optimizer bound"), std::string::npos) << v.summary;
}

TEST(VerdictTest, ASmallGridFallsBackToTheBaselineAndSaysWhy) {
  auto rows = Grid(Law(8, 60), {1, 2}, {16, 32}, 0.001, 10);  // 4 points
  auto study = RunStudy(rows, Options());
  ASSERT_TRUE(study.ok()) << study.status().message();
  const GroupFit& g = study->groups[0];
  EXPECT_EQ(g.form, "scaling");
  EXPECT_NE(g.fallback.find("needs at least 7 points; this group has 4"), std::string::npos)
      << g.fallback;
  EXPECT_FALSE(g.verdict.identified);
  EXPECT_NE(g.verdict.summary.find("a grid too small for the performance form"), std::string::npos)
      << g.verdict.summary;
  EXPECT_EQ(g.verdict.summary.find("has no interior optimum (fit --form"), std::string::npos);

  StudyOptions strict = Options();
  strict.small_grid_fallback = false;
  auto refused = RunStudy(rows, strict);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsUserError());
}

TEST(VerdictTest, TheBaselineIsRecommendedWhenItPredictsBetter) {
  auto rows = Grid(Law(8, 60), {2, 4, 8}, {20, 40, 80}, 0.0, 11);
  FitResult law, baseline;
  law.ran = baseline.ran = true;
  law.loo.rmse = 0.03;
  baseline.loo.rmse = 0.01;
  Verdict v = Judge(rows, law, Optimum(), "scaling", &baseline);
  ASSERT_TRUE(v.law_vs_baseline.has_value());
  EXPECT_EQ(v.law_vs_baseline->use, "baseline");
  EXPECT_NE(v.summary.find("The log-linear baseline beats the law in leave-one-out (RMSE: law "
                           "0.03, baseline 0.01): use the baseline for predictions."),
            std::string::npos)
      << v.summary;
}

TEST(VerdictTest, StandardErrorsComeFromSeedsOrTheBinomialBound) {
  FitResult fit;
  auto rows = Grid(Law(8, 60), {2, 4}, {20, 40}, 0.0, 12);
  Verdict v = Judge(rows, fit);
  const double best = v.best_observed.value;
  EXPECT_EQ(v.best_observed.standard_error_kind, "binomial");
  EXPECT_NEAR(v.best_observed.standard_error, std::sqrt(best * (1 - best) / 10000), 1e-12);

  auto seeded = Grid(Law(8, 60), {2, 4}, {20, 40}, 0.01, 13, /*seeds=*/3);
  v = Judge(seeded, fit);
  EXPECT_EQ(v.best_observed.standard_error_kind, "seeds");
  EXPECT_EQ(v.best_observed.runs, 3);
  EXPECT_GT(v.best_observed.standard_error, 0);
}

TEST(VerdictTest, PointsStillImprovingAtTheirLastEpochAreCountedAndNamed) {
  auto rows = Grid(Law(8, 60), {2, 4, 8}, {20, 40, 80}, 0.0, 14);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].epochs = 20;
    rows[i].best_epoch = i < 6 ? 20 : 12;
  }
  FitResult fit;
  Verdict v = Judge(rows, fit);
  EXPECT_EQ(v.still_improving_points, 6);
  EXPECT_EQ(v.converged_points, 3);
  EXPECT_NE(v.summary.find("6 of 9 points were still improving at their last epoch: the law "
                           "describes this epoch budget, not the models' capacity."),
            std::string::npos)
      << v.summary;
  bool told = false;
  for (const std::string& n : v.next) told |= n.find("train.patience") != std::string::npos;
  EXPECT_TRUE(told);
}

TEST(VerdictTest, OptionsValidateThemselves) {
  std::string why;
  VerdictOptions o;
  EXPECT_TRUE(o.IsValid(&why));
  o.max_interval_ratio = 1.0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_NE(why.find("max_interval_ratio"), std::string::npos);
  o = VerdictOptions();
  o.max_undefined_share = 1.0;
  EXPECT_FALSE(o.IsValid(&why));
}

}  // namespace
}  // namespace perflaw::law
