#include "law/suggest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "law/uses.h"

namespace perflaw::law {
namespace {

std::string G(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// The proposals so far, and what may not be proposed: the group's own points.
class Proposals {
 public:
  Proposals(const std::vector<Observation>& rows, int budget) : budget_(budget) {
    for (const Observation& r : rows) taken_.insert({r.layers, r.d_model});
  }
  bool Full() const { return static_cast<int>(points_.size()) >= budget_; }
  bool Taken(double layers, double d_model) const { return taken_.count({layers, d_model}) > 0; }
  // Adds the point unless it is stored, already proposed, not a valid size, or the budget is spent.
  bool Add(double layers, double d_model, const std::string& rule, const std::string& reason) {
    if (Full() || !(layers >= 1) || !(d_model >= 1) || Taken(layers, d_model)) return false;
    taken_.insert({layers, d_model});
    points_.push_back({layers, d_model, rule, reason});
    return true;
  }
  std::vector<Suggestion> Take() { return std::move(points_); }

 private:
  int budget_;
  std::set<std::pair<double, double>> taken_;
  std::vector<Suggestion> points_;
};

double RoundDModel(double d, int multiple) {
  return std::max<double>(multiple, multiple * std::round(d / multiple));
}

// The grid's neighbours of `value` on a sorted axis: the value itself, then the one below and the
// one above where they exist.
std::vector<double> AroundInGrid(const std::vector<double>& axis, double value) {
  std::vector<double> out = {value};
  auto it = std::lower_bound(axis.begin(), axis.end(), value);
  if (it != axis.begin()) out.push_back(*std::prev(it));
  if (it != axis.end() && std::next(it) != axis.end()) out.push_back(*std::next(it));
  return out;
}

void Extend(const GroupFit& g, const SuggestOptions& o, Proposals* p) {
  const BestObserved& best = g.verdict.best_observed;
  for (const Edge& e : g.verdict.at_edge) {
    const bool layers = e.axis == "layers";
    const double next = layers ? e.next_value : RoundDModel(e.next_value, o.d_model_multiple);
    const std::vector<double> other =
        AroundInGrid(DistinctValues(g.rows, layers ? &Observation::d_model : &Observation::layers),
                     layers ? best.d_model : best.layers);
    const std::string reason = "extend " + e.axis + " " + e.direction + " " +
                               G(e.direction == "above" ? e.grid_max : e.grid_min) +
                               ": the best observed " + e.axis + " (" +
                               G(layers ? best.layers : best.d_model) + ") is the grid's " +
                               (e.direction == "above" ? "largest" : "smallest");
    for (double v : other) p->Add(layers ? next : v, layers ? v : next, "extend", reason);
  }
}

// `n` values geometric across [lo, hi], integers (d_model: multiples of `multiple`), distinct.
std::vector<double> Candidates(double lo, double hi, int n, int multiple) {
  std::set<double> out;
  for (int i = 0; i < n; ++i) {
    const double x = n == 1 ? std::sqrt(lo * hi) : lo * std::pow(hi / lo, i / (n - 1.0));
    out.insert(multiple > 1 ? RoundDModel(x, multiple) : std::max(1.0, std::round(x)));
  }
  return {out.begin(), out.end()};
}

struct Scored {
  double layers, d_model, width;
};

void Shrink(const GroupFit& g, const Form& form, const SuggestOptions& o, Proposals* p) {
  if (!g.verdict.identified || !g.verdict.optimum) return;
  const VerdictOptimum& opt = *g.verdict.optimum;
  const Box grid = ObservedBox(g.rows);
  // A pinned axis: across its interval; an axis that is not: across the grid.
  auto range = [](const Estimate& e, double lo, double hi) {
    return std::isfinite(e.value) ? std::make_pair(e.interval.lo, e.interval.hi)
                                  : std::make_pair(lo, hi);
  };
  auto [n_lo, n_hi] = range(opt.layers, grid.n_lo, grid.n_hi);
  auto [d_lo, d_hi] = range(opt.d_model, grid.d_lo, grid.d_hi);
  std::vector<Scored> scored;
  for (double n : Candidates(n_lo, n_hi, o.candidates_per_axis, 1))
    for (double d : Candidates(d_lo, d_hi, o.candidates_per_axis, o.d_model_multiple)) {
      if (p->Taken(n, d)) continue;
      StatusOr<Estimate> e = Predict(form, g.fit, n, d, g.dprime, g.model);
      if (e.ok() && e->interval.valid()) scored.push_back({n, d, e->interval.hi - e->interval.lo});
    }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const Scored& a, const Scored& b) { return a.width > b.width; });
  // Widest first; a first pass spreads the points (no layers or d_model value twice), a second
  // fills what is left of the budget.
  std::set<double> used_layers, used_d;
  for (bool spread : {true, false})
    for (const Scored& s : scored) {
      if (spread && (used_layers.count(s.layers) || used_d.count(s.d_model))) continue;
      if (p->Add(s.layers, s.d_model, "shrink",
                 "near the optimum, where the bootstrap fits disagree most (prediction interval " +
                     G(s.width) + " wide): pins the optimum's interval")) {
        used_layers.insert(s.layers);
        used_d.insert(s.d_model);
      }
    }
}

void Bracket(const GroupFit& g, const SuggestOptions& o, Proposals* p) {
  const BestObserved& best = g.verdict.best_observed;
  for (const char* axis : {"layers", "d_model"}) {
    const bool layers = std::string(axis) == "layers";
    const bool at_edge = std::any_of(g.verdict.at_edge.begin(), g.verdict.at_edge.end(),
                                     [&](const Edge& e) { return e.axis == axis; });
    const bool pinned = g.verdict.identified && UnpinnedAxisProblem(g.verdict, axis).empty();
    if (at_edge || pinned) continue;
    const double at = layers ? best.layers : best.d_model;
    for (double v : AroundInGrid(
             DistinctValues(g.rows, layers ? &Observation::layers : &Observation::d_model), at)) {
      if (v == at) continue;
      const double mid = layers ? std::round(std::sqrt(v * at))
                                : RoundDModel(std::sqrt(v * at), o.d_model_multiple);
      p->Add(layers ? mid : best.layers, layers ? best.d_model : mid, "bracket",
             std::string("between the best observed ") + axis + " (" + G(at) + ") and its grid " +
                 "neighbour " + G(v) + ": the data do not pin " + axis + " yet");
    }
  }
}

}  // namespace

bool SuggestOptions::IsValid(std::string* why) const {
  if (budget < 1) {
    *why = "budget must be >= 1 point, got " + std::to_string(budget);
    return false;
  }
  if (candidates_per_axis < 2) {
    *why = "candidates_per_axis must be >= 2, got " + std::to_string(candidates_per_axis);
    return false;
  }
  if (d_model_multiple < 1) {
    *why = "d_model_multiple must be >= 1, got " + std::to_string(d_model_multiple);
    return false;
  }
  return true;
}

GroupSuggestions Suggest(const GroupFit& group, const Form& form, const SuggestOptions& options) {
  GroupSuggestions out;
  out.key = group.key;
  out.ran = true;
  Proposals p(group.rows, options.budget);
  Extend(group, options, &p);
  Shrink(group, form, options, &p);
  Bracket(group, options, &p);
  out.points = p.Take();
  if (static_cast<int>(out.points.size()) >= options.budget)
    out.note = "";
  else if (out.points.empty())
    out.note = "no new point found by the rules (every candidate is already stored)";
  else
    out.note = "fewer points than the budget: the rules found no more";
  return out;
}

}  // namespace perflaw::law
