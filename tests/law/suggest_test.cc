// Suggesting the next points: extend a grid whose best value sits at an edge, shrink an identified
// optimum's interval, bracket an axis the data do not pin, never repeat a stored point.
#include "law/suggest.h"

#include <gtest/gtest.h>

#include <set>

#include "law/pipeline.h"
#include "tests/law/known_law.h"

namespace perflaw::law {
namespace {

StudyOptions Options() {
  StudyOptions so;
  so.fit.starts = 300;
  so.fit.bootstrap = 200;
  return so;
}

// The suggestions for the one group of `rows`.
GroupSuggestions SuggestFor(const std::vector<Observation>& rows, int budget, GroupFit* group) {
  auto study = RunStudy(rows, Options());
  EXPECT_TRUE(study.ok()) << study.status().message();
  *group = study->groups.at(0);
  auto form = std::move(MakeForm(group->form)).value();
  SuggestOptions o;
  o.budget = budget;
  return Suggest(*group, *form, o);
}

void ExpectNoStoredPoint(const std::vector<Observation>& rows, const GroupSuggestions& s) {
  std::set<std::pair<double, double>> stored, proposed;
  for (const Observation& r : rows) stored.insert({r.layers, r.d_model});
  for (const Suggestion& p : s.points) {
    EXPECT_EQ(stored.count({p.layers, p.d_model}), 0u) << p.layers << " x " << p.d_model;
    EXPECT_TRUE(proposed.insert({p.layers, p.d_model}).second) << "repeated " << p.layers;
    EXPECT_FALSE(p.reason.empty());
  }
}

TEST(SuggestTest, AnArgmaxAtTheDModelEdgeProposesLargerDModel) {
  const std::vector<double> truth = Law(8, 400);  // d* far above the grid's 80
  auto rows = Grid(truth, {2, 4, 8, 12, 16}, {20, 40, 60, 80}, 0.001, 3);
  GroupFit g;
  GroupSuggestions s = SuggestFor(rows, 4, &g);
  ASSERT_TRUE(s.ran);
  ASSERT_FALSE(s.points.empty()) << s.note;
  EXPECT_EQ(s.points[0].rule, "extend") << s.points[0].reason;
  EXPECT_GT(s.points[0].d_model, 80);
  EXPECT_EQ(static_cast<int>(s.points[0].d_model) % 8, 0);  // heads must divide it
  EXPECT_NE(s.points[0].reason.find("extend d_model above 80"), std::string::npos)
      << s.points[0].reason;
  ExpectNoStoredPoint(rows, s);
}

TEST(SuggestTest, AnIdentifiedOptimumGetsPointsInsideItsInterval) {
  const std::vector<double> truth = Law(8, 60);
  auto rows = Grid(truth, {2, 4, 8, 16, 24}, {20, 40, 60, 100, 150}, 0.003, 5);
  GroupFit g;
  GroupSuggestions s = SuggestFor(rows, 3, &g);
  ASSERT_TRUE(g.verdict.identified) << g.verdict.summary;
  ASSERT_TRUE(g.verdict.at_edge.empty()) << g.verdict.summary;
  ASSERT_EQ(s.points.size(), 3u) << s.note;
  const VerdictOptimum& o = *g.verdict.optimum;
  for (const Suggestion& p : s.points) {
    EXPECT_EQ(p.rule, "shrink");
    EXPECT_GE(p.layers, std::floor(o.layers.interval.lo));
    EXPECT_LE(p.layers, std::ceil(o.layers.interval.hi));
    EXPECT_GE(p.d_model, o.d_model.interval.lo - 8);  // d_model rounds to a multiple of 8
    EXPECT_LE(p.d_model, o.d_model.interval.hi + 8);
  }
  ExpectNoStoredPoint(rows, s);
}

TEST(SuggestTest, NeverRepeatsAStoredPointEvenWithALargeBudget) {
  auto rows = Grid(Law(8, 60), {1, 2, 4, 8, 16}, {8, 16, 32, 64, 128}, 0.01, 9);
  GroupFit g;
  GroupSuggestions s = SuggestFor(rows, 60, &g);
  EXPECT_GT(s.points.size(), 0u) << g.verdict.summary;
  EXPECT_LT(s.points.size(), 60u);
  EXPECT_EQ(s.note, "fewer points than the budget: the rules found no more");
  ExpectNoStoredPoint(rows, s);
}

TEST(SuggestTest, AnAxisNeitherPinnedNorAtAnEdgeIsBracketed) {
  // A metric flat along layers but for one cell: the best layers is inside the grid, not pinned.
  std::vector<double> flat_in_layers = Law(4, 400);
  flat_in_layers[0] = 0.0005;  // w1: the layers term is far below the noise
  auto rows = Grid(flat_in_layers, {1, 2, 4, 8, 16}, {16, 32, 64}, 0.004, 11);
  for (Observation& r : rows) r.value += (r.layers == 4 && r.d_model == 64 ? 0.02 : 0.0);
  GroupFit g;
  GroupSuggestions s = SuggestFor(rows, 8, &g);
  ASSERT_EQ(g.verdict.best_observed.layers, 4) << g.verdict.summary;
  ASSERT_TRUE(UnpinnedAxisProblem(g.verdict, "layers").size() || !g.verdict.identified)
      << g.verdict.summary;
  bool bracketed = false;
  for (const Suggestion& p : s.points)
    bracketed |= p.rule == "bracket" && (p.layers == 3 || p.layers == 6);  // sqrt(2*4), sqrt(4*8)
  EXPECT_TRUE(bracketed) << g.verdict.summary;
  ExpectNoStoredPoint(rows, s);
}

TEST(SuggestTest, OptionsAreValidated) {
  SuggestOptions o;
  std::string why;
  EXPECT_TRUE(o.IsValid(&why));
  o.budget = 0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(why.rfind("budget", 0), 0u) << why;
  o = SuggestOptions();
  o.candidates_per_axis = 1;
  EXPECT_FALSE(o.IsValid(&why));
  o = SuggestOptions();
  o.d_model_multiple = 0;
  EXPECT_FALSE(o.IsValid(&why));
}

}  // namespace
}  // namespace perflaw::law
