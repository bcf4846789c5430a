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

namespace perflaw::law {

struct StudyOptions {
  std::string form = "performance";
  std::string metric;    // only rows with this metric; empty = every metric (each its own group)
  std::string group_by;  // empty = the form's default (see Form::default_group_by)
  FormOptions form_options;
  FitOptions fit;
  std::string train_where;  // extrapolation check; empty = none
  double budget = 0;        // best configuration under this many non-embedding parameters; 0 = none
  // Search box for the numerical optimum and the budget; 0 = the group's observed range.
  double layers_lo = 0, layers_hi = 0, d_model_lo = 0, d_model_hi = 0;
  double dprime = 0;  // D' for performance-data optima; 0 = the group's median D'
  bool IsValid(std::string* why) const;
};

struct GroupFit {
  GroupKey key;
  std::vector<Observation> rows;
  FitResult fit;
  double dprime = NAN;  // D' used for the optimum and budget (performance-data)
  Optimum optimum;
  std::optional<BudgetChoice> budget;
  std::optional<Extrapolation> extrapolation;
  // Why the --train-where check was not made for this group (all its rows on one side), if so.
  std::string extrapolation_skipped;
};

// "lower" or "upper" when `value` of parameter `j` sits on that hard bound of the optimizer (the
// data did not pin it: the fit is degenerate in that parameter), else "".
struct Study;
std::string AtBound(const Study& study, size_t j, double value);

struct Study {
  std::string form;
  std::string formula;
  std::string group_by;
  FormOptions form_options;
  std::vector<std::string> param_names;
  std::vector<double> param_lower, param_upper;  // the optimizer's hard bounds, per parameter
  std::vector<GroupFit> groups;
};

// Fits every group. Errors name the group ("metric=HR@10 dataset=x max_seq_len=50: ...").
StatusOr<Study> RunStudy(const std::vector<Observation>& rows, const StudyOptions& options);

// Median of tokens * apen (or of tokens alone) over rows; NaN when missing.
double MedianDprime(const std::vector<Observation>& rows, bool times_apen = true);

}  // namespace perflaw::law
