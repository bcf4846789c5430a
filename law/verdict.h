// The answer a group's fit gives a researcher, before any parameter: is the optimum identified by
// the data, what is the best configuration observed (and how sure), where the grid should grow,
// whether the law beats the log-linear baseline out of sample, and how many points were still
// improving when their epoch budget ended. docs/law.md, "Reading the verdict".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "law/data.h"
#include "law/fit.h"
#include "law/uses.h"

namespace perflaw::law {

struct VerdictOptions {
  // An optimum is identified only if, on each axis, its bootstrap interval hi / lo is at most this
  // (the data pin N* and d* within a factor; 4 allows e.g. [4, 16] layers, not [1, 64]).
  double max_interval_ratio = 4.0;
  // ... and at most this share of the resamples lacks the maximum (fits where the term turned
  // over).
  double max_undefined_share = 0.1;
  bool IsValid(std::string* why) const;
};

// The best observed configuration: the (layers, d_model) cell with the best mean value.
struct BestObserved {
  double layers = NAN, d_model = NAN, value = NAN;
  // Standard error of `value`: over the cell's repeated runs (seeds) when it has several, else the
  // binomial bound sqrt(v (1 - v) / users) for a per-user rate (HR, NDCG, MRR: exact for HR, an
  // upper bound for the others) when the number of evaluated users is known; NaN when neither.
  double standard_error = NAN;
  std::string standard_error_kind;  // "seeds", "binomial", "binomial bound" or "" (unknown)
  int runs = 0;                     // rows averaged into the cell
};

// An axis whose best value sits at the edge of the grid: the grid does not bracket an optimum
// there.
struct Edge {
  std::string axis;       // "layers" or "d_model"
  std::string direction;  // "above" (extend the axis above its largest value) or "below"
  double grid_min = NAN, grid_max = NAN;
  double next_value = NAN;  // the next value past the edge, on the axis's own spacing
};

// One axis of the optimum: pinned by the data (a maximum inside the grid whose interval is narrow
// enough), or why not.
struct AxisVerdict {
  std::string axis;  // "layers" or "d_model"
  bool identified = false;
  std::string problem;  // why not ("" when identified)
};

struct VerdictOptimum {
  // Closed-form N*, d* (value NaN, JSON null, on an axis the data do not pin) and the law's best
  // value inside the grid.
  Estimate layers, d_model, value;
};

struct LawVsBaseline {
  double law_loo_rmse = NAN, baseline_loo_rmse = NAN;
  std::string use;  // "law", "baseline" or "" (not compared: no LOO for one of them)
};

// Starts as "not run"; `summary` is the verdict in words.
struct Verdict {
  bool ran = false;
  bool identified = false;
  std::vector<std::string> reasons;  // why not identified (empty when identified)
  BestObserved best_observed;
  // Identified when the fit itself is sound (converged, no parameter on a bound, intervals) and
  // at least one axis is pinned; an axis that is not is named in `axes` with its problem.
  std::vector<AxisVerdict> axes;          // layers, d_model (empty when the fit never got there)
  std::optional<VerdictOptimum> optimum;  // only when identified and inside the grid
  std::vector<Edge> at_edge;
  std::optional<LawVsBaseline> law_vs_baseline;  // when a baseline was fitted
  int points = 0;
  // Points whose best validation epoch was their last (still improving when the epoch budget
  // ended) and points that stopped improving before it; both 0 when unknown (e.g. a CSV without
  // best_epoch and epochs).
  int still_improving_points = 0;
  int converged_points = 0;
  std::vector<std::string> next;  // what to run next, in words
  std::string summary = "not run";
};

// What the verdict is made from: one group's fit and its rows.
struct VerdictInput {
  std::string form;  // the fitted form's name
  const std::vector<Observation>* rows = nullptr;
  const FitResult* fit = nullptr;
  const Optimum* optimum = nullptr;  // its higher_is_better gives the metric's direction
  std::vector<bool> param_at_bound;  // parameter j sits on an optimizer bound
  std::vector<std::string> param_names;
  const FitResult* baseline = nullptr;  // the scaling baseline on the same rows (nullptr: none)
  // Names the metric and how it was measured, for the summary: "HR@10 (test split, sampled:100),
  // ml-100k, L 50".
  std::string label;
  // Reasons known before the fit's own (a small-grid fallback): they come first, and a form
  // without an optimum is then not repeated as a reason.
  std::vector<std::string> prior_reasons;
};

Verdict MakeVerdict(const VerdictInput& in, const VerdictOptions& options);

// Why the verdict does not pin `axis` ("layers" or "d_model"): "" when it does or never judged it.
std::string UnpinnedAxisProblem(const Verdict& v, const std::string& axis);

}  // namespace perflaw::law
