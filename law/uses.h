// What a fitted law is for: its optimum, predictions with intervals, the best configuration under
// a parameter budget, and an extrapolation check.
#pragma once

#include <string>
#include <vector>

#include "apen/status.h"
#include "law/data.h"
#include "law/fit.h"
#include "law/forms.h"

namespace perflaw::law {

// A search box over (layers, d_model), continuous.
struct Box {
  double n_lo = 0, n_hi = 0, d_lo = 0, d_hi = 0;
  bool IsValid(std::string* why) const;
};
// The observed range of layers and d_model in `rows`.
Box ObservedBox(const std::vector<Observation>& rows);

struct Estimate {
  double value = NAN;
  Interval interval;  // bootstrap percentile interval
  int undefined = 0;  // resamples where the quantity did not exist (e.g. no interior maximum)
};

// Closed-form optimum of one Performance Law axis: x* = p^(-1/a). It is an interior maximum iff
// w > 0 and a != 0 (for either sign of a); w < 0 makes it a minimum; w == 0 or a == 0 no extremum.
struct AxisOptimum {
  std::string kind = "none";  // "maximum", "minimum", "none"
  Estimate at;                // x* (interval over resamples where it is a maximum)
};

// Where an axis maximum lies against [lo, hi] (the searched range): "inside", "below" or "above";
// "" unless it is a maximum with a finite estimate. Outside, the "optimum" is an extrapolation of
// the fitted curve beyond the range it was searched (and, by default, observed) in.
std::string MaximumPlace(const AxisOptimum& a, double lo, double hi);

struct Optimum {
  bool has_closed_form = false;  // performance forms only
  AxisOptimum layers, d_model;
  bool higher_is_better = true;  // false for loss forms (chinchilla): then it is the argmin
  Box box;
  double dprime = NAN;  // D' the prediction was evaluated at (performance-data)
  Estimate best_layers, best_d_model, best_value;  // numerical arg-optimum inside `box`
};

// `dprime` is used by forms that take D' (ignored otherwise); `model` gives the hypothetical
// points' type, ffn multiplier and max_seq_len, which forms that count parameters (chinchilla's N)
// read (its layers and d_model are ignored).
StatusOr<Optimum> FindOptimum(const Form& form, const FitResult& fit, const Box& box, double dprime,
                              const ModelShape& model);

// Prediction at (layers, d_model[, D']) with its bootstrap interval; `model` as for FindOptimum.
StatusOr<Estimate> Predict(const Form& form, const FitResult& fit, double layers, double d_model,
                           double dprime, const ModelShape& model);

// Best (layers, d_model) inside `box` whose NonEmbeddingParams (law/params.h) is <= budget, for
// models of `model`'s type, ffn multiplier and max_seq_len (its layers and d_model are ignored).
struct BudgetChoice {
  double budget = 0;
  ModelShape model;  // as given
  Estimate layers, d_model, value, params_used;
};
StatusOr<BudgetChoice> BestUnderBudget(const Form& form, const FitResult& fit, const Box& box,
                                       double budget, const ModelShape& model, double dprime);

// Fits on the rows matching `train` and scores the fit on the others.
struct Extrapolation {
  std::string train_where;
  int n_train = 0, n_test = 0;
  FitResult fit;
  Metrics held_out;  // predictions of the subset fit on the rows outside it
};
StatusOr<Extrapolation> CheckExtrapolation(const Form& form, const std::vector<Observation>& rows,
                                           const RowFilter& train, const FitOptions& options);

}  // namespace perflaw::law
