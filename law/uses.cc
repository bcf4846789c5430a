#include "law/uses.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace perflaw::law {
namespace {

// Indices of (w, a) per axis and p in the performance forms (see forms.cc).
constexpr int kW1 = 0, kA = 1, kW2 = 2, kB = 3;

std::string AxisKind(double w, double a) {
  if (w > 0 && a != 0) return "maximum";
  if (w < 0 && a != 0) return "minimum";
  return "none";
}

double AxisMaximum(double w, double a, double p) {
  return AxisKind(w, a) == "maximum" ? std::pow(p, -1.0 / a) : NAN;
}

// A hypothetical point: `model` gives the type, ffn multiplier and max_seq_len (chinchilla's N).
Observation Point(double layers, double d_model, double dprime, const ModelShape& model) {
  Observation x;
  x.model_type = model.type;
  x.ffn_multiplier = model.ffn_multiplier;
  x.max_seq_len = model.max_seq_len;
  x.layers = layers;
  x.d_model = d_model;
  x.tokens = dprime;            // D' = tokens * apen; chinchilla reads tokens as D
  x.apen = x.transition = 1.0;  // whichever quality the form reads
  return x;
}

using Objective = std::function<double(double)>;

// Maximizes f on [lo, hi] (log-spaced grid, then golden section around the best grid point).
double Maximize1D(const Objective& f, double lo, double hi, double* best_x) {
  constexpr int kGrid = 24;
  if (hi <= lo) {
    *best_x = lo;
    return f(lo);
  }
  double llo = std::log(lo), lhi = std::log(hi);
  auto at = [&](int i) { return std::exp(llo + (lhi - llo) * i / (kGrid - 1)); };
  int best = 0;
  double fbest = -INFINITY;
  for (int i = 0; i < kGrid; ++i) {
    double v = f(at(i));
    if (v > fbest) fbest = v, best = i;
  }
  double a = at(std::max(0, best - 1)), b = at(std::min(kGrid - 1, best + 1));
  const double g = 0.5 * (std::sqrt(5.0) - 1);
  double c = b - g * (b - a), d = a + g * (b - a), fc = f(c), fd = f(d);
  for (int it = 0; it < 40 && b - a > 1e-9 * b; ++it) {
    if (fc > fd)
      b = d, d = c, fd = fc, c = b - g * (b - a), fc = f(c);
    else
      a = c, c = d, fc = fd, d = a + g * (b - a), fd = f(d);
  }
  double x = fc > fd ? c : d, fx = std::max(fc, fd);
  if (fx >= fbest) {
    *best_x = x;
    return fx;
  }
  *best_x = at(best);
  return fbest;
}

struct Point2 {
  double n = NAN, d = NAN, value = NAN;
};

double Params(const ModelShape& model, double layers, double d_model) {
  ModelShape m = model;
  m.layers = layers;
  m.d_model = d_model;
  return NonEmbeddingParams(m);
}

// The largest x in [lo, hi] with used(x) <= budget, for used non-decreasing; lo - 1 when none.
double LargestWithin(const Objective& used, double lo, double hi, double budget) {
  if (used(lo) > budget) return lo - 1;
  if (used(hi) <= budget) return hi;
  for (int it = 0; it < 100 && hi - lo > 1e-12 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (used(mid) <= budget ? lo : hi) = mid;
  }
  return lo;
}

// Arg-optimum of the form over the box; layers and d_model capped by the budget (0 = no budget).
Point2 Optimize2D(const Form& form, const double* theta, const Box& box, double dprime, double sign,
                  double budget, const ModelShape& model) {
  auto eval = [&](double n, double d) {
    double v = form.Eval(theta, Point(n, d, dprime, model), nullptr);
    return std::isfinite(v) ? sign * v : -INFINITY;
  };
  auto d_cap = [&](double n) {
    if (budget <= 0) return box.d_hi;
    return LargestWithin([&](double d) { return Params(model, n, d); }, box.d_lo, box.d_hi, budget);
  };
  auto best_over_d = [&](double n, double* d_out) {
    double hi = d_cap(n);
    if (hi < box.d_lo) return -std::numeric_limits<double>::infinity();
    return Maximize1D([&](double d) { return eval(n, d); }, box.d_lo, hi, d_out);
  };
  double n_hi = box.n_hi;
  if (budget > 0)
    n_hi =
        LargestWithin([&](double n) { return Params(model, n, box.d_lo); }, box.n_lo, n_hi, budget);
  Point2 p;
  if (n_hi < box.n_lo) return p;
  double n_best;
  double v = Maximize1D(
      [&](double n) {
        double d;
        return best_over_d(n, &d);
      },
      box.n_lo, n_hi, &n_best);
  if (!std::isfinite(v)) return p;
  p.n = n_best;
  best_over_d(n_best, &p.d);
  p.value = sign * v;
  return p;
}

Estimate Summarize(const FitResult& fit, double value,
                   const std::function<double(const double*)>& f) {
  Estimate e;
  e.value = value;
  e.interval = BootstrapInterval(fit, f, &e.undefined);
  return e;
}

Status CheckFit(const FitResult& fit) {
  if (!fit.ran || fit.params.empty()) {
    return Status::FailedPrecondition("the fit did not produce parameters: " + fit.summary);
  }
  return Status::Ok();
}

Status CheckDprime(const Form& form, double dprime) {
  if (form.uses_dprime() && !(dprime > 0)) {
    return Status::InvalidArgument("form " + form.name() +
                                   " needs D' = tokens*apen > 0 (--dprime)");
  }
  return Status::Ok();
}

bool HigherIsBetter(const Form& form) { return form.name() != "chinchilla"; }

}  // namespace

bool Box::IsValid(std::string* why) const {
  if (!(n_lo > 0 && n_hi >= n_lo && d_lo > 0 && d_hi >= d_lo)) {
    *why =
        "search box needs 0 < layers_lo <= layers_hi and 0 < d_model_lo <= d_model_hi, got "
        "layers [" +
        FormatNumber(n_lo) + ", " + FormatNumber(n_hi) + "], d_model [" + FormatNumber(d_lo) +
        ", " + FormatNumber(d_hi) + "]";
    return false;
  }
  return true;
}

Box ObservedBox(const std::vector<Observation>& rows) {
  Box b{INFINITY, -INFINITY, INFINITY, -INFINITY};
  for (const Observation& r : rows) {
    b.n_lo = std::min(b.n_lo, r.layers);
    b.n_hi = std::max(b.n_hi, r.layers);
    b.d_lo = std::min(b.d_lo, r.d_model);
    b.d_hi = std::max(b.d_hi, r.d_model);
  }
  return b;
}

StatusOr<Optimum> FindOptimum(const Form& form, const FitResult& fit, const Box& box, double dprime,
                              const ModelShape& model) {
  PERFLAW_RETURN_IF_ERROR(CheckFit(fit));
  std::string why;
  if (!box.IsValid(&why)) return Status::InvalidArgument(why);
  PERFLAW_RETURN_IF_ERROR(CheckDprime(form, dprime));
  Optimum o;
  o.box = box;
  o.dprime = dprime;
  o.higher_is_better = HigherIsBetter(form);
  const double* t = fit.params.data();
  if (form.p_index() >= 0) {
    const int pi = form.p_index();
    o.has_closed_form = true;
    o.layers.kind = AxisKind(t[kW1], t[kA]);
    o.d_model.kind = AxisKind(t[kW2], t[kB]);
    o.layers.at = Summarize(fit, AxisMaximum(t[kW1], t[kA], t[pi]),
                            [pi](const double* s) { return AxisMaximum(s[kW1], s[kA], s[pi]); });
    o.d_model.at = Summarize(fit, AxisMaximum(t[kW2], t[kB], t[pi]),
                             [pi](const double* s) { return AxisMaximum(s[kW2], s[kB], s[pi]); });
  }
  const double sign = o.higher_is_better ? 1.0 : -1.0;
  auto opt = [&](const double* s) { return Optimize2D(form, s, box, dprime, sign, 0, model); };
  Point2 best = opt(t);
  // One 2-D search per resample, reused for the three quantities.
  std::vector<Point2> per_sample;
  for (const auto& s : fit.bootstrap_params) per_sample.push_back(opt(s.data()));
  auto from_samples = [&](double value, double Point2::*field) {
    Estimate e;
    e.value = value;
    std::vector<double> v;
    for (const Point2& p : per_sample) {
      if (std::isfinite(p.*field))
        v.push_back(p.*field);
      else
        ++e.undefined;
    }
    e.interval = PercentileInterval(std::move(v), fit);
    return e;
  };
  o.best_layers = from_samples(best.n, &Point2::n);
  o.best_d_model = from_samples(best.d, &Point2::d);
  o.best_value = from_samples(best.value, &Point2::value);
  return o;
}

StatusOr<Estimate> Predict(const Form& form, const FitResult& fit, double layers, double d_model,
                           double dprime, const ModelShape& model) {
  PERFLAW_RETURN_IF_ERROR(CheckFit(fit));
  if (!(layers > 0) || !(d_model > 0)) {
    return Status::InvalidArgument("--layers and --d-model must be > 0, got " +
                                   FormatNumber(layers) + " and " + FormatNumber(d_model));
  }
  PERFLAW_RETURN_IF_ERROR(CheckDprime(form, dprime));
  if (form.name() == "chinchilla" && !(dprime > 0)) {
    return Status::InvalidArgument("form chinchilla needs D = tokens > 0 (--dprime gives D)");
  }
  Observation x = Point(layers, d_model, dprime, model);
  return Summarize(fit, form.Eval(fit.params.data(), x, nullptr),
                   [&](const double* s) { return form.Eval(s, x, nullptr); });
}

StatusOr<BudgetChoice> BestUnderBudget(const Form& form, const FitResult& fit, const Box& box,
                                       double budget, const ModelShape& model, double dprime) {
  PERFLAW_RETURN_IF_ERROR(CheckFit(fit));
  std::string why;
  if (!box.IsValid(&why)) return Status::InvalidArgument(why);
  if (!(budget > 0))
    return Status::InvalidArgument("--budget must be > 0, got " + FormatNumber(budget));
  if (!(model.ffn_multiplier > 0)) {
    return Status::InvalidArgument("--ffn-mult must be > 0, got " +
                                   FormatNumber(model.ffn_multiplier));
  }
  if (!KnownModelType(model.type))
    return Status::InvalidArgument("--budget: no parameter count for model type '" + model.type +
                                   "'");
  PERFLAW_RETURN_IF_ERROR(CheckDprime(form, dprime));
  const double smallest = Params(model, box.n_lo, box.d_lo);
  if (smallest > budget) {
    return Status::FailedPrecondition("--budget " + FormatNumber(budget) +
                                      " is below the smallest model in the box (" +
                                      FormatNumber(smallest) + " parameters)");
  }
  const double sign = HigherIsBetter(form) ? 1.0 : -1.0;
  auto opt = [&](const double* s) { return Optimize2D(form, s, box, dprime, sign, budget, model); };
  Point2 best = opt(fit.params.data());
  BudgetChoice c;
  c.budget = budget;
  c.model = model;
  std::vector<Point2> samples;
  for (const auto& s : fit.bootstrap_params) samples.push_back(opt(s.data()));
  auto est = [&](double value, const std::function<double(const Point2&)>& get) {
    Estimate e;
    e.value = value;
    std::vector<double> v;
    for (const Point2& p : samples) {
      double x = get(p);
      if (std::isfinite(x))
        v.push_back(x);
      else
        ++e.undefined;
    }
    e.interval = PercentileInterval(std::move(v), fit);
    return e;
  };
  auto used = [&](const Point2& p) { return Params(model, p.n, p.d); };
  c.layers = est(best.n, [](const Point2& p) { return p.n; });
  c.d_model = est(best.d, [](const Point2& p) { return p.d; });
  c.value = est(best.value, [](const Point2& p) { return p.value; });
  c.params_used = est(used(best), used);
  return c;
}

StatusOr<Extrapolation> CheckExtrapolation(const Form& form, const std::vector<Observation>& rows,
                                           const RowFilter& train, const FitOptions& options) {
  std::vector<Observation> in, out;
  for (const Observation& r : rows) (train.Matches(r) ? in : out).push_back(r);
  if (in.empty() || out.empty()) {
    return Status::FailedPrecondition(
        "--train-where '" + train.expression() + "' selects " + std::to_string(in.size()) + " of " +
        std::to_string(rows.size()) + " points; need some points on both sides");
  }
  StatusOr<FitResult> fit = Fit(form, in, options);
  if (!fit.ok()) {
    return Status(Status::FailedPrecondition("fit on --train-where '" + train.expression() +
                                             "' subset: " + fit.status().message()));
  }
  Extrapolation e;
  e.train_where = train.expression();
  e.n_train = static_cast<int>(in.size());
  e.n_test = static_cast<int>(out.size());
  e.fit = std::move(fit).value();
  std::vector<double> obs, pred;
  for (const Observation& r : out) {
    obs.push_back(r.value);
    pred.push_back(e.fit.params.empty() ? NAN : form.Eval(e.fit.params.data(), r, nullptr));
  }
  e.held_out = Score(obs, pred);
  return e;
}

std::string MaximumPlace(const AxisOptimum& a, double lo, double hi) {
  if (a.kind != "maximum" || !std::isfinite(a.at.value)) return "";
  if (a.at.value < lo) return "below";
  if (a.at.value > hi) return "above";
  return "inside";
}

}  // namespace perflaw::law
