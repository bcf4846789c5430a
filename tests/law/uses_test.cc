// Uses of a fitted law: optimum, prediction, budget, extrapolation; and the full study pipeline.
#include "law/uses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "law/pipeline.h"
#include "tests/law/known_law.h"

namespace perflaw::law {
namespace {

std::unique_ptr<Form> Performance() { return std::move(MakeForm("performance")).value(); }

// A fit result carrying given parameters and (optionally) bootstrap samples.
FitResult Fitted(const std::vector<double>& theta, std::vector<std::vector<double>> samples = {}) {
  FitResult f;
  f.ran = true;
  f.converged = true;
  f.params = theta;
  f.bootstrap_params = std::move(samples);
  return f;
}

const std::vector<double> kTruth = {0.05, -1.0, 0.08, -2.0 / 3.0, 16.0, 0.3};

TEST(UsesTest, ClosedFormAndNumericalOptimumAgree) {
  auto form = Performance();
  auto o = FindOptimum(*form, Fitted(kTruth), Box{4, 32, 25, 100}, NAN, {});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_TRUE(o->has_closed_form);
  EXPECT_EQ(o->layers.kind, "maximum");
  EXPECT_NEAR(o->layers.at.value, 16.0, 1e-9);   // 16^(1/1)
  EXPECT_NEAR(o->d_model.at.value, 64.0, 1e-9);  // 16^(3/2)
  EXPECT_NEAR(o->best_layers.value, 16.0, 1e-4);
  EXPECT_NEAR(o->best_d_model.value, 64.0, 1e-3);
}

TEST(UsesTest, PositiveExponentStillHasAMaximum) {
  // d/dN of w(-N^-a/p - a ln N) = (w a / N)(N^-a / p - 1): a maximum at p^(-1/a) for w > 0.
  auto form = Performance();
  std::vector<double> t = {0.05, 1.0, 0.08, 0.5, 0.1, 0.3};
  auto o = FindOptimum(*form, Fitted(t), Box{1, 100, 1, 1000}, NAN, {});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->layers.kind, "maximum");
  EXPECT_NEAR(o->layers.at.value, 10.0, 1e-9);
  EXPECT_NEAR(o->best_layers.value, 10.0, 1e-3);
  EXPECT_NEAR(o->d_model.at.value, 100.0, 1e-9);
}

TEST(UsesTest, NegativeWeightHasNoInteriorMaximum) {
  auto form = Performance();
  std::vector<double> t = kTruth;
  t[0] = -0.05;
  auto o = FindOptimum(*form, Fitted(t, {t, t}), Box{4, 32, 25, 100}, NAN, {});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->layers.kind, "minimum");
  EXPECT_TRUE(std::isnan(o->layers.at.value));
  EXPECT_EQ(o->layers.at.undefined, 2);
  // The numerical search then lands on a boundary of the box.
  EXPECT_TRUE(std::fabs(o->best_layers.value - 4) < 1e-3 ||
              std::fabs(o->best_layers.value - 32) < 1e-3);
}

TEST(UsesTest, IntervalsComeFromTheSamples) {
  auto form = Performance();
  std::vector<std::vector<double>> samples;
  for (double p : {9.0, 16.0, 25.0}) {
    auto t = kTruth;
    t[4] = p;
    samples.push_back(t);
  }
  FitResult f = Fitted(kTruth, samples);
  f.level = 0.5;
  f.tail = 0.25;  // quartiles of {9, 16, 25} = 12.5, 20.5
  auto o = FindOptimum(*form, f, Box{4, 32, 25, 100}, NAN, {});
  ASSERT_TRUE(o.ok());
  EXPECT_NEAR(o->layers.at.interval.lo, 12.5, 1e-9);
  EXPECT_NEAR(o->layers.at.interval.hi, 20.5, 1e-9);
  auto p = Predict(*form, f, 8, 50, NAN, {});
  ASSERT_TRUE(p.ok());
  EXPECT_LE(p->interval.lo, p->value + 1e-12);
  EXPECT_GE(p->interval.hi, p->value - 1e-12);
}

TEST(UsesTest, MaximumPlaceSaysWhetherTheOptimumIsInsideTheSearchedRange) {
  AxisOptimum a;
  a.kind = "maximum";
  a.at.value = 16;
  EXPECT_EQ(MaximumPlace(a, 4, 32), "inside");
  EXPECT_EQ(MaximumPlace(a, 4, 12), "above");
  EXPECT_EQ(MaximumPlace(a, 20, 40), "below");
  a.at.value = NAN;
  EXPECT_EQ(MaximumPlace(a, 4, 32), "");
  a.at.value = 16;
  a.kind = "minimum";
  EXPECT_EQ(MaximumPlace(a, 4, 32), "");
}

TEST(UsesTest, AtBoundFlagsParametersTheOptimizerLeftOnAHardBound) {
  GroupFit s;
  s.param_lower = {1e-8, -1e300, 0};
  s.param_upper = {1e300, 5, 1e300};
  EXPECT_EQ(AtBound(s, 0, 1e-8), "lower");
  EXPECT_EQ(AtBound(s, 0, 1.05e-8), "");  // near a tiny bound is not on it
  EXPECT_EQ(AtBound(s, 1, 5), "upper");
  EXPECT_EQ(AtBound(s, 1, 4.9), "");
  EXPECT_EQ(AtBound(s, 1, -1e200), "");  // no lower bound to be on
  EXPECT_EQ(AtBound(s, 2, 0), "lower");
  EXPECT_EQ(AtBound(s, 2, 1e-12), "");
  EXPECT_EQ(AtBound(s, 3, 0), "");  // no such parameter
}

TEST(UsesTest, PredictMatchesTheFormula) {
  auto form = Performance();
  auto p = Predict(*form, Fitted(kTruth), 8, 50, NAN, {});
  ASSERT_TRUE(p.ok());
  const double expect = 0.05 * (-8.0 / 16 + std::log(8.0)) +
                        0.08 * (-std::pow(50.0, 2.0 / 3.0) / 16 + 2.0 / 3.0 * std::log(50.0)) + 0.3;
  EXPECT_NEAR(p->value, expect, 1e-12);
  EXPECT_FALSE(p->interval.valid());
  EXPECT_FALSE(Predict(*form, Fitted(kTruth), 0, 50, NAN, {}).ok());
  auto data_form = std::move(MakeForm("performance-data")).value();
  EXPECT_FALSE(Predict(*data_form, Fitted(std::vector<double>(8, 0.1)), 8, 50, NAN, {}).ok());
  EXPECT_FALSE(Predict(*form, FitResult(), 8, 50, NAN, {}).ok());
}

TEST(UsesTest, BudgetChoiceIsTheBestFeasiblePoint) {
  auto form = Performance();
  const double budget = 200000;
  ModelShape ffn;  // sasrec, ffn_multiplier 4
  ffn.ffn_multiplier = 4;
  auto params = [&](double n, double d) {
    ModelShape m = ffn;
    m.layers = n;
    m.d_model = d;
    return NonEmbeddingParams(m);
  };
  auto c = BestUnderBudget(*form, Fitted(kTruth), Box{4, 32, 25, 100}, budget, ffn, NAN);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_LE(params(c->layers.value, c->d_model.value), budget * (1 + 1e-9));
  EXPECT_DOUBLE_EQ(c->params_used.value, params(c->layers.value, c->d_model.value));
  // Brute force on a fine grid of feasible points never beats it.
  double best = -1e9;
  for (double n = 4; n <= 32; n += 0.05) {
    for (double d = 25; d <= 100; d += 0.1) {
      if (params(n, d) > budget) break;
      Observation x;
      x.layers = n;
      x.d_model = d;
      best = std::max(best, form->Eval(kTruth.data(), x, nullptr));
    }
  }
  EXPECT_GE(c->value.value, best - 1e-6);
  EXPECT_FALSE(BestUnderBudget(*form, Fitted(kTruth), Box{4, 32, 25, 100}, 10, ffn, NAN).ok());
  EXPECT_FALSE(BestUnderBudget(*form, Fitted(kTruth), Box{4, 32, 25, 100}, -1, ffn, NAN).ok());
}

std::vector<Observation> Grid(const std::vector<double>& theta, double noise, uint32_t seed) {
  auto form = Performance();
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0, noise);
  std::vector<Observation> rows;
  for (double n : {4, 8, 12, 16, 24, 32}) {
    for (double d : {25, 50, 75, 100}) {
      Observation o = SyntheticCell(n, d);
      o.dataset = "s";
      o.value = form->Eval(theta.data(), o, nullptr) + g(rng);
      rows.push_back(o);
    }
  }
  return rows;
}

TEST(UsesTest, ExtrapolationScoresTheHeldOutRows) {
  auto form = Performance();
  FitOptions o;
  o.bootstrap = 0;
  o.loo = false;
  auto e = CheckExtrapolation(*form, Grid(kTruth, 0, 1), *RowFilter::Parse("layers<=16"), o);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->n_train, 16);
  EXPECT_EQ(e->n_test, 8);
  EXPECT_LT(e->held_out.rmse, 1e-6);  // noise-free: the subset fit recovers the law
  auto none = CheckExtrapolation(*form, Grid(kTruth, 0, 1), *RowFilter::Parse("layers>100"), o);
  EXPECT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsUserError());
}

TEST(UsesTest, StudyGroupsAndLabelsErrors) {
  auto rows = Grid(kTruth, 0.002, 3);
  auto other = Grid(kTruth, 0.002, 4);
  for (auto& r : other) r.max_seq_len = 100;
  rows.insert(rows.end(), other.begin(), other.end());
  StudyOptions so;
  so.fit.bootstrap = 50;
  so.fit.starts = 200;
  so.budget = 1e5;
  so.train_where = "layers<=16";
  auto study = RunStudy(rows, so);
  ASSERT_TRUE(study.ok()) << study.status().message();
  ASSERT_EQ(study->groups.size(), 2u);
  EXPECT_EQ(study->groups[1].key.Label(), "metric=HR@10 dataset=s max_seq_len=100");
  EXPECT_TRUE(study->groups[0].budget.has_value());
  EXPECT_TRUE(study->groups[0].extrapolation.has_value());
  EXPECT_GT(study->groups[0].fit.loo.r2, 0.5);

  so.metric = "NDCG@10";
  auto missing = RunStudy(rows, so);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("metrics present: HR@10"), std::string::npos);

  // --where keeps the L=100 group only; a filter that keeps nothing, or does not parse, is refused.
  so.metric = "";
  so.where = "max_seq_len==100";
  auto where = RunStudy(rows, so);
  ASSERT_TRUE(where.ok()) << where.status().message();
  ASSERT_EQ(where->groups.size(), 1u);
  EXPECT_EQ(where->groups[0].key.Label(), "metric=HR@10 dataset=s max_seq_len=100");
  EXPECT_EQ(where->groups[0].rows.size(), other.size());
  so.where = "layers>1000";
  auto nothing = RunStudy(rows, so);
  ASSERT_FALSE(nothing.ok());
  EXPECT_TRUE(nothing.status().IsUserError());
  EXPECT_EQ(nothing.status().message(),
            "--where 'layers>1000' keeps none of the " + std::to_string(rows.size()) + " rows");
  so.where = "depth<3";
  auto unknown = RunStudy(rows, so);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "--where: unknown column 'depth' in 'depth<3'");
  so.where.clear();

  so.train_where.clear();
  rows.resize(30);  // the L=100 group keeps 6 points: fewer than 7
  auto few = RunStudy(rows, so);
  ASSERT_TRUE(few.ok()) << few.status().message();  // that group falls back to the baseline
  EXPECT_EQ(few->groups[0].form, "performance");
  EXPECT_EQ(few->groups[1].form, "scaling");
  EXPECT_FALSE(few->groups[1].verdict.identified);
  so.small_grid_fallback = false;
  auto refused = RunStudy(rows, so);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsUserError());
  EXPECT_NE(refused.status().message().find("max_seq_len=100: form performance has 6 parameters"),
            std::string::npos)
      << refused.status().message();
}

// Chinchilla counts parameters: its optimum and predictions are for models of the group's own type,
// ffn multiplier and max_seq_len (not a default sasrec), and a group that mixes them has no one N
// per (layers, d_model) and is refused with a message naming the point.
TEST(UsesTest, ChinchillaPredictsForTheGroupsOwnModels) {
  const std::vector<double> truth = {1.5, 400, 0.4, 900, 0.35};  // E, A, alpha, B, beta
  auto form = MakeForm("chinchilla", FormOptions());
  ASSERT_TRUE(form.ok());
  std::vector<Observation> rows;
  for (double n : {1, 2, 4, 8})
    for (double d : {32, 64, 128})
      for (double tokens : {1e5, 1e6, 1e7}) {
        Observation o = SyntheticCell(n, d);
        o.dataset = "s";
        o.model_type = "hstu";
        o.max_seq_len = 200;  // hstu's relative position bias: 2 L - 1 parameters per layer
        o.tokens = tokens;
        o.value = (*form)->Eval(truth.data(), o, nullptr);
        o.origin = "row " + std::to_string(rows.size() + 1);
        rows.push_back(o);
      }
  StudyOptions so;
  so.form = "chinchilla";
  so.fit.bootstrap = 0;
  so.fit.loo = false;
  so.fit.starts = 200;
  so.dprime = 1e6;
  auto study = RunStudy(rows, so);
  ASSERT_TRUE(study.ok()) << study.status().message();
  const GroupFit& g = study->groups.at(0);
  EXPECT_EQ(g.model.type, "hstu");
  EXPECT_EQ(g.model.max_seq_len, 200);
  EXPECT_TRUE(g.mixed_models.empty());
  Observation x = SyntheticCell(3, 96);
  x.model_type = "hstu";
  x.max_seq_len = 200;
  x.tokens = 1e6;
  auto p = Predict(**form, g.fit, 3, 96, 1e6, g.model);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_NEAR(p->value, (*form)->Eval(truth.data(), x, nullptr), 1e-6);
  // A default (sasrec) shape counts other parameters: a different, wrong prediction.
  auto sasrec = Predict(**form, g.fit, 3, 96, 1e6, ModelShape());
  ASSERT_TRUE(sasrec.ok());
  EXPECT_GT(std::abs(sasrec->value - p->value), 1e-3);
  // The loss is lowest at the box's largest model, as the truth says.
  EXPECT_NEAR(g.optimum.best_layers.value, 8, 1e-6);
  EXPECT_NEAR(g.optimum.best_d_model.value, 128, 1e-6);

  rows.back().max_seq_len = 50;  // hstu's count reads L: two models in one group
  auto mixed = RunStudy(rows, so);
  ASSERT_FALSE(mixed.ok());
  EXPECT_TRUE(mixed.status().IsUserError());
  EXPECT_NE(mixed.status().message().find("form chinchilla: the group's points are models whose "
                                          "parameter counts differ (model type, ffn_multiplier, "
                                          "or hstu's max_seq_len; row 36)"),
            std::string::npos)
      << mixed.status().message();

  // sasrec's count does not read L: a sasrec group over two max_seq_len is one model.
  for (Observation& r : rows) {
    r.model_type = "sasrec";
    r.value = (*form)->Eval(truth.data(), r, nullptr);
  }
  auto sasrec_two_l = RunStudy(rows, so);
  ASSERT_TRUE(sasrec_two_l.ok()) << sasrec_two_l.status().message();
  EXPECT_TRUE(sasrec_two_l->groups.at(0).mixed_models.empty());
}

}  // namespace
}  // namespace perflaw::law
