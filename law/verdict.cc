#include "law/verdict.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace perflaw::law {
namespace {

std::string G(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::string WithInterval(const Estimate& e) {
  std::string s = G(e.value);
  if (e.interval.valid()) s += " [" + G(e.interval.lo) + ", " + G(e.interval.hi) + "]";
  return s;
}

// Per-user rates, whose standard error has the binomial bound.
bool IsRate(const std::string& metric) {
  return metric.rfind("HR@", 0) == 0 || metric.rfind("NDCG@", 0) == 0 ||
         metric.rfind("MRR", 0) == 0;
}

struct Cell {
  std::vector<double> values;
  double users = NAN;
};

BestObserved FindBestObserved(const std::vector<Observation>& rows, bool higher_is_better) {
  std::map<std::pair<double, double>, Cell> cells;
  for (const Observation& r : rows) {
    Cell& c = cells[{r.layers, r.d_model}];
    c.values.push_back(r.value);
    if (std::isfinite(r.users)) c.users = r.users;
  }
  BestObserved best;
  for (const auto& [at, cell] : cells) {
    double mean = 0;
    for (double v : cell.values) mean += v;
    mean /= static_cast<double>(cell.values.size());
    const bool better = higher_is_better ? mean > best.value : mean < best.value;
    if (!std::isfinite(best.value) || better) {
      best.layers = at.first;
      best.d_model = at.second;
      best.value = mean;
      best.runs = static_cast<int>(cell.values.size());
      best.standard_error = NAN;
      best.standard_error_kind.clear();
      if (cell.values.size() > 1) {
        double ss = 0;
        for (double v : cell.values) ss += (v - mean) * (v - mean);
        const double n = static_cast<double>(cell.values.size());
        best.standard_error = std::sqrt(ss / (n - 1) / n);
        best.standard_error_kind = "seeds";
      } else if (IsRate(rows.front().metric) && std::isfinite(cell.users) && cell.users > 0 &&
                 mean >= 0 && mean <= 1) {
        best.standard_error = std::sqrt(mean * (1 - mean) / cell.users);
        best.standard_error_kind =
            rows.front().metric.rfind("HR@", 0) == 0 ? "binomial" : "binomial bound";
      }
    }
  }
  return best;
}

// The next grid value past the edge, on the axis's own spacing: geometric when the grid is (equal
// ratios), else the last step. Integers, since both axes are counts.
double NextValue(const std::vector<double>& v, bool above) {
  const size_t n = v.size();
  bool geometric = n >= 2 && v[0] > 0;
  for (size_t i = 2; geometric && i < n; ++i)
    geometric = std::abs(v[i] / v[i - 1] - v[1] / v[0]) < 0.01 * (v[1] / v[0]);
  double next;
  if (above) {
    next = geometric ? v[n - 1] * (v[n - 1] / v[n - 2]) : v[n - 1] + (v[n - 1] - v[n - 2]);
  } else {
    next = geometric ? v[0] / (v[1] / v[0]) : v[0] - (v[1] - v[0]);
  }
  return std::max(1.0, std::round(next));
}

void FindEdges(const std::vector<Observation>& rows, const BestObserved& best, Verdict* v) {
  for (auto [axis, field, at] : {std::make_tuple("layers", &Observation::layers, best.layers),
                                 std::make_tuple("d_model", &Observation::d_model, best.d_model)}) {
    const std::vector<double> values = DistinctValues(rows, field);
    if (values.size() < 2) {
      v->reasons.push_back(std::string("the grid has one ") + axis + " value (" +
                           G(values.front()) + "): it cannot place an optimum in " + axis);
      continue;
    }
    const bool top = at == values.back(), bottom = at == values.front();
    if (!top && !bottom) continue;
    if (bottom && values.front() <= 1) continue;  // nothing below one layer or one dimension
    Edge e{axis, top ? "above" : "below", values.front(), values.back(), NextValue(values, top)};
    v->at_edge.push_back(e);
    v->next.push_back("extend " + e.axis + " " + e.direction + " " +
                      G(top ? values.back() : values.front()) + " (e.g. " + G(e.next_value) +
                      "): the best observed " + e.axis + " is the grid's " +
                      (top ? "largest" : "smallest"));
  }
}

// Why the closed-form optimum is not identified on one axis ("" when it is).
std::string AxisProblem(const char* label, const AxisOptimum& a, double lo, double hi,
                        const VerdictOptions& o, int resamples) {
  const std::string name = label;
  if (a.kind != "maximum")
    return name + " has " + (a.kind == "none" ? "no extremum" : "a minimum, not a maximum");
  const std::string place = MaximumPlace(a, lo, hi);
  if (place == "above" || place == "below")
    return name + " = " + G(a.at.value) + " lies " + place + " the grid's range [" + G(lo) + ", " +
           G(hi) + "]: an extrapolation, not an optimum";
  if (!a.at.interval.valid()) return name + " has no bootstrap interval";
  if (!(a.at.interval.lo > 0) || a.at.interval.hi / a.at.interval.lo > o.max_interval_ratio)
    return name + " interval [" + G(a.at.interval.lo) + ", " + G(a.at.interval.hi) +
           "] spans more than a factor " + G(o.max_interval_ratio);
  if (resamples > 0 && a.at.undefined > o.max_undefined_share * resamples)
    return name + " is not a maximum in " + std::to_string(a.at.undefined) + " of " +
           std::to_string(resamples) + " resamples";
  return "";
}

void CheckIdentified(const std::string& form, const std::vector<Observation>& rows,
                     const FitResult& fit, const Optimum& opt, const std::vector<bool>& at_bound,
                     const std::vector<std::string>& names, const VerdictOptions& o, Verdict* v) {
  if (!opt.has_closed_form) {
    v->reasons.push_back("the " + form + " form has no interior optimum (fit --form performance)");
    return;
  }
  // The fit's summary starts with its own "did not converge".
  if (!fit.converged)
    v->reasons.push_back(fit.summary.rfind("did not converge", 0) == 0
                             ? "the fit " + fit.summary
                             : "the fit did not converge: " + fit.summary);
  for (size_t j = 0; j < at_bound.size() && j < names.size(); ++j)
    if (at_bound[j]) v->reasons.push_back(names[j] + " sits on its optimizer bound");
  const int resamples = static_cast<int>(fit.bootstrap_params.size());
  if (resamples == 0) v->reasons.push_back("no bootstrap: the optimum has no interval");
  // Inside the grid that was observed (not the search box: beyond the data it is an extrapolation).
  const Box grid = ObservedBox(rows);
  for (auto [axis, label, at, lo, hi] :
       {std::make_tuple("layers", "N*", &opt.layers, grid.n_lo, grid.n_hi),
        std::make_tuple("d_model", "d*", &opt.d_model, grid.d_lo, grid.d_hi)}) {
    AxisVerdict a{axis, false, AxisProblem(label, *at, lo, hi, o, resamples)};
    a.identified = a.problem.empty();
    v->axes.push_back(a);
  }
  const bool fit_sound = v->reasons.empty();
  const bool any_axis = std::any_of(v->axes.begin(), v->axes.end(),
                                    [](const AxisVerdict& a) { return a.identified; });
  // A sound fit with one axis pinned is an answer on that axis; otherwise every problem counts.
  if (fit_sound && any_axis) return;
  for (const AxisVerdict& a : v->axes)
    if (!a.identified) v->reasons.push_back(a.problem);
}

void CompareWithBaseline(const FitResult& fit, const FitResult* baseline, Verdict* v) {
  if (!baseline) return;
  LawVsBaseline c;
  c.law_loo_rmse = fit.loo.rmse;
  c.baseline_loo_rmse = baseline->loo.rmse;
  if (std::isfinite(c.law_loo_rmse) && std::isfinite(c.baseline_loo_rmse))
    c.use = c.law_loo_rmse < c.baseline_loo_rmse ? "law" : "baseline";
  v->law_vs_baseline = c;
}

void CountTraining(const std::vector<Observation>& rows, Verdict* v) {
  for (const Observation& r : rows) {
    if (!std::isfinite(r.best_epoch) || !std::isfinite(r.epochs)) continue;
    if (r.best_epoch >= r.epochs)
      ++v->still_improving_points;
    else
      ++v->converged_points;
  }
}

std::string Summarize(const Verdict& v, const std::string& label) {
  std::string s = label + ": ";
  const BestObserved& b = v.best_observed;
  std::string best =
      "the best observed is " + G(b.layers) + " layers x d " + G(b.d_model) + " (" + G(b.value);
  if (std::isfinite(b.standard_error)) best += " +- " + G(b.standard_error);
  best += b.runs > 1 ? ", mean of " + std::to_string(b.runs) + " runs)" : ")";
  if (v.identified && v.optimum) {
    std::string unpinned;
    for (const AxisVerdict& a : v.axes)
      if (!a.identified) unpinned += "; " + a.axis + " not pinned: " + a.problem;
    if (unpinned.empty()) {
      s += "law identified; optimum " + WithInterval(v.optimum->layers) + " layers x d " +
           WithInterval(v.optimum->d_model);
    } else {
      const bool layers = std::isfinite(v.optimum->layers.value);
      s += std::string("law identified in ") + (layers ? "layers" : "d_model") + "; optimum " +
           (layers ? WithInterval(v.optimum->layers) + " layers"
                   : "d " + WithInterval(v.optimum->d_model)) +
           unpinned;
    }
    s += (unpinned.empty() ? ", predicted " : "; predicted best in the grid ") +
         WithInterval(v.optimum->value) + "; " + best;
  } else {
    s += "optimum not identified: ";
    for (size_t i = 0; i < v.reasons.size(); ++i) s += (i ? "; " : "") + v.reasons[i];
    s += ". " + std::string(1, static_cast<char>(std::toupper(best[0]))) + best.substr(1);
  }
  if (!v.at_edge.empty()) {
    s += ", at the edge of ";
    for (size_t i = 0; i < v.at_edge.size(); ++i)
      s += (i ? " and " : "") + v.at_edge[i].axis + " (extend " + v.at_edge[i].direction + ")";
  }
  s += ".";
  if (v.law_vs_baseline && !v.law_vs_baseline->use.empty()) {
    const LawVsBaseline& c = *v.law_vs_baseline;
    s += c.use == "law" ? " The law beats the log-linear baseline in leave-one-out"
                        : " The log-linear baseline beats the law in leave-one-out";
    s += " (RMSE: law " + G(c.law_loo_rmse) + ", baseline " + G(c.baseline_loo_rmse) +
         "): use the " + c.use + " for predictions.";
  }
  const int known = v.still_improving_points + v.converged_points;
  if (v.still_improving_points > 0)
    s += " " + std::to_string(v.still_improving_points) + " of " + std::to_string(known) +
         " points were still improving at their last epoch: the law describes this epoch budget, "
         "not the models' capacity.";
  return s;
}

}  // namespace

bool VerdictOptions::IsValid(std::string* why) const {
  if (!(max_interval_ratio > 1.0)) {
    *why = "verdict max_interval_ratio must be > 1, got " + FormatNumber(max_interval_ratio);
    return false;
  }
  if (!(max_undefined_share >= 0.0 && max_undefined_share < 1.0)) {
    *why =
        "verdict max_undefined_share must be in [0, 1), got " + FormatNumber(max_undefined_share);
    return false;
  }
  return true;
}

std::string UnpinnedAxisProblem(const Verdict& v, const std::string& axis) {
  for (const AxisVerdict& a : v.axes)
    if (a.axis == axis && !a.identified) return a.problem;
  return "";
}

Verdict MakeVerdict(const VerdictInput& in, const VerdictOptions& options) {
  Verdict v;
  v.ran = true;
  const std::vector<Observation>& rows = *in.rows;
  const FitResult& fit = *in.fit;
  v.points = static_cast<int>(rows.size());
  v.reasons = in.prior_reasons;
  if (rows.empty()) {
    v.reasons.push_back("no points");
    v.summary = in.label + ": no points";
    return v;
  }
  v.best_observed = FindBestObserved(rows, in.optimum->higher_is_better);
  FindEdges(rows, v.best_observed, &v);
  if (fit.params.empty()) {
    v.reasons.push_back("the fit failed: " + fit.summary);
  } else if (!(in.prior_reasons.size() && !in.optimum->has_closed_form)) {
    CheckIdentified(in.form, rows, fit, *in.optimum, in.param_at_bound, in.param_names, options,
                    &v);
  }
  v.identified = v.reasons.empty();
  if (v.identified) {
    VerdictOptimum o{in.optimum->layers.at, in.optimum->d_model.at, in.optimum->best_value};
    for (const AxisVerdict& a : v.axes)
      if (!a.identified) (a.axis == "layers" ? o.layers : o.d_model) = Estimate();
    v.optimum = o;
  }
  CompareWithBaseline(fit, in.baseline, &v);
  CountTraining(rows, &v);
  if (v.still_improving_points * 2 > v.still_improving_points + v.converged_points)
    v.next.push_back(
        "train to convergence: most points were still improving at their last epoch; set "
        "train.patience (e.g. 3) and raise train.epochs so that points stop by patience");
  if (!v.identified && v.at_edge.empty() && !fit.params.empty() && in.optimum->has_closed_form)
    v.next.push_back(
        "add points between the grid's values, or seeds, where the fitted curve peaks: the data "
        "do not pin the optimum yet");
  v.summary = Summarize(v, in.label);
  return v;
}

}  // namespace perflaw::law
