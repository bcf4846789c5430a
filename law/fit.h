// The fitting engine: bounded (robust) least squares on Ceres, deterministic multi-start,
// leave-one-out cross-validation and a seeded, thread-count-independent bootstrap.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "apen/status.h"
#include "law/data.h"
#include "law/forms.h"

namespace perflaw::law {

enum class Loss { kSquared, kHuber };
enum class PMode { kContinuous, kIntegerGrid };
// What a bootstrap resample redraws. A sweep's grid is designed, not sampled, so by default the
// points stay fixed and only their noise is redrawn (from the fit's leverage-adjusted residuals);
// kCases redraws the points themselves (docs/law.md compares the two).
enum class Resampling { kResiduals, kCases };

struct FitOptions {
  int starts = 1000;  // multi-start points (Halton sequence over the nonlinear parameters)
  int polish = 32;    // best screened starts refined with Ceres (polish / 8 per p in integer mode)
  Loss loss = Loss::kSquared;
  double huber_delta =
      0.01;  // Huber threshold, in units of the metric (residuals beyond it count linearly)
  int bootstrap = 1000;  // resamples; 0 disables intervals
  Resampling resampling = Resampling::kResiduals;
  int bootstrap_screen =
      32;               // best full-data starts re-screened on each resample (see docs/law.md)
  double level = 0.95;  // central interval level
  uint64_t seed = 1;
  bool loo = true;  // leave-one-out cross-validation
  int threads = 0;  // bootstrap/LOO threads; 0 = hardware concurrency. Results do not depend on it.
  int max_iterations = 200;        // per Ceres solve
  double tolerance = 1e-15;        // Ceres function and gradient tolerance of the full-data fit
  double refit_tolerance = 1e-10;  // the same for LOO and bootstrap refits
  PMode p_mode = PMode::kContinuous;
  int p_min = 1;  // integer grid for p (authors' practice), p_mode == kIntegerGrid only
  int p_max = 100;
  int p_window = 2;  // bootstrap/LOO refits in integer mode try p_hat +- p_window
  bool IsValid(std::string* why) const;
};

struct Interval {
  double lo = NAN, hi = NAN;
  bool valid() const { return std::isfinite(lo) && std::isfinite(hi); }
};

struct Metrics {
  int n = 0;
  double r2 = NAN, rmse = NAN, mae = NAN, mape = NAN;  // mape in percent; NaN if some value is 0
};

// Starts as "not run"; `summary` says how the fit ended.
struct FitResult {
  bool ran = false;
  bool converged = false;
  std::string summary = "not run";
  std::string form;
  std::vector<std::string> param_names;
  std::vector<double> params;
  std::vector<Interval>
      param_intervals;  // bootstrap percentile intervals (empty without bootstrap)
  double cost = NAN;    // final Ceres cost: 1/2 sum rho(r^2)
  Metrics in_sample;
  Metrics loo;         // leave-one-out: each point predicted by a fit without it
  int loo_failed = 0;  // LOO refits that did not converge (still used)
  std::vector<std::vector<double>> bootstrap_params;  // one row per resample that ran
  int bootstrap_failed = 0;                           // resamples whose refit failed (excluded)
  double level = 0.95;
  // Probability in each tail of the percentile intervals: not (1 - level) / 2 but the normal tail
  // at Student's t quantile with n - k degrees of freedom, since the noise level is estimated from
  // n - k residual degrees of freedom (docs/law.md).
  double tail = 0.025;
  Resampling resampling = Resampling::kResiduals;  // how the bootstrap redrew
  int starts = 0, polished = 0;
};

// "residuals" or "cases".
const char* ResamplingName(Resampling r);

// Fits `form` to `rows` (assumed one group). Errors: too few points (need more than the number of
// parameters), constant value, form-specific data problems. A fit that ran but did not converge is
// returned OK with converged == false and the reason in summary.
StatusOr<FitResult> Fit(const Form& form, const std::vector<Observation>& rows,
                        const FitOptions& options);

// Metrics of predictions against observed values.
Metrics Score(const std::vector<double>& observed, const std::vector<double>& predicted);

// Percentile interval of f(theta) over the bootstrap samples (invalid without samples). NaN values
// of f (e.g. no interior optimum in that resample) are dropped; `dropped` counts them if given.
Interval BootstrapInterval(const FitResult& fit, const std::function<double(const double*)>& f,
                           int* dropped = nullptr);

// The percentile (0..1) of a sample, linear interpolation between order statistics.
double Percentile(std::vector<double> values, double q);

// The fit's interval of a bootstrap sample of some quantity: percentiles tail and 1 - tail
// (invalid when empty).
Interval PercentileInterval(std::vector<double> values, const FitResult& fit);

// Tail probability of a central `level` interval whose normal quantile is Student's t quantile
// with `dof` degrees of freedom: 1 - Phi(t_{(1 + level) / 2, dof}). dof >= 1.
double StudentCalibratedTail(double level, int dof);

}  // namespace perflaw::law
