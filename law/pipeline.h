// From observations to per-group fits and their uses: what `perflaw fit/predict/report` run.
// Input is a vector of observations (CSV today, the results database later).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "apen/status.h"
#include "law/data.h"
#include "law/fit.h"
#include "law/forms.h"
#include "law/uses.h"
#include "law/verdict.h"

namespace perflaw::law {

struct StudyOptions {
  std::string form = "performance";
  std::string metric;    // only rows with this metric; empty = every metric (each its own group)
  std::string group_by;  // empty = the form's default (see Form::default_group_by)
  FormOptions form_options;
  FitOptions fit;
  // Only the rows matching this RowFilter expression (law/data.h) are fitted; empty = every row.
  std::string where;
  std::string train_where;  // extrapolation check; empty = none
  double budget = 0;        // best configuration under this many non-embedding parameters; 0 = none
  // Search box for the numerical optimum and the budget; 0 = the group's observed range.
  double layers_lo = 0, layers_hi = 0, d_model_lo = 0, d_model_hi = 0;
  double dprime = 0;  // D' for performance-data optima; 0 = the group's median D'
  VerdictOptions verdict;
  // Fit the log-linear baseline (form scaling, no bootstrap) beside a performance form, for the
  // verdict's out-of-sample comparison.
  bool compare_baseline = true;
  // A group the performance form cannot pin (at most as many points as parameters, or too few
  // distinct layers or d_model values) is fitted with the scaling form instead, and says so.
  bool small_grid_fallback = true;
  // How the metric was measured, for the verdict's words: "test split, sampled:100" (may be empty).
  std::string measured;
  bool IsValid(std::string* why) const;
};

struct GroupFit {
  GroupKey key;
  std::vector<Observation> rows;
  // The form fitted to this group: the study's, or the scaling form after a small-grid fallback.
  std::string form, formula;
  std::vector<std::string> param_names;
  std::vector<double> param_lower, param_upper;  // the optimizer's hard bounds, per parameter
  std::string fallback;  // why this group was fitted with the scaling form ("" when it was not)
  FitResult fit;
  std::optional<FitResult> baseline;  // the scaling form on the same rows (compare_baseline)
  Verdict verdict;
  double dprime = NAN;  // D' used for the optimum and budget (performance-data)
  // The group's one model type, ffn multiplier (unless overridden) and max_seq_len: the shape of
  // its hypothetical points (chinchilla's N, the budget's parameter count). When its points differ
  // in them, `mixed_models` names the first that differs from the first point and `model` is the
  // first point's.
  ModelShape model;
  std::string mixed_models;
  Optimum optimum;
  std::optional<BudgetChoice> budget;
  std::optional<Extrapolation> extrapolation;
  // Why the --train-where check was not made for this group (all its rows on one side), if so.
  std::string extrapolation_skipped;
};

// "lower" or "upper" when `value` of parameter `j` sits on that hard bound of the optimizer (the
// data did not pin it: the fit is degenerate in that parameter), else "".
std::string AtBound(const GroupFit& group, size_t j, double value);

struct Study {
  std::string form;  // as asked; a group may have fallen back to the scaling form (GroupFit::form)
  std::string formula;
  std::string group_by;
  FormOptions form_options;
  std::vector<std::string> param_names;
  std::vector<GroupFit> groups;
};

// Fits every group. Errors name the group ("metric=HR@10 dataset=x max_seq_len=50: ...").
StatusOr<Study> RunStudy(const std::vector<Observation>& rows, const StudyOptions& options);

// Median of tokens * quality (law/forms.h QualityValue; or of tokens alone) over rows; NaN when
// missing.
double MedianDprime(const std::vector<Observation>& rows, bool times_quality = true,
                    const std::string& quality = "apen");

}  // namespace perflaw::law
