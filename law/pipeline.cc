#include "law/pipeline.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "law/params.h"

namespace perflaw::law {
namespace {

std::vector<Observation> SelectMetric(const std::vector<Observation>& rows,
                                      const std::string& metric) {
  if (metric.empty()) return rows;
  std::vector<Observation> out;
  for (const Observation& r : rows) {
    if (r.metric == metric) out.push_back(r);
  }
  return out;
}

std::string MetricList(const std::vector<Observation>& rows) {
  std::set<std::string> names;
  for (const Observation& r : rows) names.insert(r.metric);
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Whether two shapes have the same parameter count at every (layers, d_model): the same type, and
// equal counts where the formulas (linear in layers, quadratic in d) are pinned. So a sasrec group
// over several max_seq_len is one model (only hstu's count reads L; hstu has no ffn multiplier).
bool SameParamCount(const ModelShape& a, const ModelShape& b) {
  if (a.type != b.type) return false;
  for (double layers : {1.0, 2.0})
    for (double d : {16.0, 64.0, 100.0}) {
      ModelShape x = a, y = b;
      x.layers = y.layers = layers;
      x.d_model = y.d_model = d;
      const double nx = NonEmbeddingParams(x), ny = NonEmbeddingParams(y);
      if (nx != ny && !(std::isnan(nx) && std::isnan(ny))) return false;
    }
  return true;
}

// GroupFit::model and mixed_models from the group's rows.
void SetGroupModel(const FormOptions& o, GroupFit* g) {
  g->model = ShapeOf(g->rows.front(), o);
  for (const Observation& r : g->rows) {
    if (!SameParamCount(ShapeOf(r, o), g->model)) {
      g->mixed_models = r.origin;
      return;
    }
  }
}

// What a parameter count of this group's hypothetical points cannot be: one number per (layers,
// d_model) when its points are models whose counts differ.
Status NeedOneModel(const GroupFit& g, const std::string& what) {
  if (g.mixed_models.empty()) return Status::Ok();
  return Status::FailedPrecondition(
      what +
      ": the group's points are models whose parameter counts differ (model type, "
      "ffn_multiplier, or hstu's max_seq_len; " +
      g.mixed_models +
      "), so N is not one number per (layers, d_model); fit one model type at a time, group by "
      "max_seq_len or give --ffn-mult");
}

Box SearchBox(const StudyOptions& o, const std::vector<Observation>& rows) {
  Box b = ObservedBox(rows);
  if (o.layers_lo > 0) b.n_lo = o.layers_lo;
  if (o.layers_hi > 0) b.n_hi = o.layers_hi;
  if (o.d_model_lo > 0) b.d_lo = o.d_model_lo;
  if (o.d_model_hi > 0) b.d_hi = o.d_model_hi;
  return b;
}

void SetForm(const Form& form, GroupFit* g) {
  g->form = form.name();
  g->formula = form.formula();
  g->param_names.clear();
  g->param_lower.clear();
  g->param_upper.clear();
  for (const ParamSpec& p : form.params()) {
    g->param_names.push_back(p.name);
    g->param_lower.push_back(p.lower);
    g->param_upper.push_back(p.upper);
  }
}

// Why the performance form cannot pin this group's parameters ("" when it can): too few points
// for its parameters, or too few distinct layers or d_model values.
std::string SmallGrid(const Form& form, const std::vector<Observation>& rows) {
  if (rows.size() <= form.num_params())
    return "the " + form.name() + " form has " + std::to_string(form.num_params()) +
           " parameters and needs at least " + std::to_string(form.num_params() + 1) +
           " points; this group has " + std::to_string(rows.size());
  Status data = form.CheckData(rows);
  return data.ok() ? "" : data.message();
}

// The log-linear baseline on the same rows, without bootstrap: its LOO error is what the verdict
// compares the law with.
std::optional<FitResult> FitBaseline(const std::vector<Observation>& rows, const StudyOptions& o) {
  StatusOr<std::unique_ptr<Form>> scaling = MakeForm("scaling", o.form_options);
  if (!scaling.ok()) return std::nullopt;
  FitOptions f = o.fit;
  f.bootstrap = 0;
  StatusOr<FitResult> fit = Fit(**scaling, rows, f);
  if (!fit.ok() || fit->params.empty()) return std::nullopt;
  return std::move(fit).value();
}

std::string MeasureLabel(const GroupKey& key, const std::string& measured) {
  std::string s = key.metric;
  if (!measured.empty()) s += " (" + measured + ")";
  if (!key.dataset.empty()) s += ", " + key.dataset;
  if (!key.max_seq_len.empty()) s += ", L " + key.max_seq_len;
  return s;
}

void MakeGroupVerdict(const StudyOptions& o, GroupFit* g) {
  VerdictInput in;
  in.form = g->form;
  in.rows = &g->rows;
  in.fit = &g->fit;
  in.optimum = &g->optimum;
  for (size_t j = 0; j < g->fit.params.size(); ++j)
    in.param_at_bound.push_back(!AtBound(*g, j, g->fit.params[j]).empty());
  in.param_names = g->param_names;
  in.baseline = g->baseline ? &*g->baseline : nullptr;
  in.label = MeasureLabel(g->key, o.measured);
  if (!g->fallback.empty())
    in.prior_reasons.push_back("a grid too small for the performance form (" + g->fallback +
                               "): the scaling baseline was fitted instead, and it has no optimum");
  g->verdict = MakeVerdict(in, o.verdict);
}

Status FitGroup(const Form& asked, const StudyOptions& o, GroupFit* g) {
  const Form* form = &asked;
  std::unique_ptr<Form> scaling;
  if (o.small_grid_fallback && asked.name() == "performance") {
    g->fallback = SmallGrid(asked, g->rows);
    if (!g->fallback.empty()) {
      StatusOr<std::unique_ptr<Form>> made = MakeForm("scaling", o.form_options);
      if (!made.ok()) return made.status();
      scaling = std::move(made).value();
      form = scaling.get();
      // A grid the baseline cannot fit either keeps the performance form's error.
      if (!SmallGrid(*scaling, g->rows).empty()) {
        g->fallback.clear();
        form = &asked;
      }
    }
  }
  SetForm(*form, g);
  StatusOr<FitResult> fit = Fit(*form, g->rows, o.fit);
  if (!fit.ok()) return fit.status();
  g->fit = std::move(fit).value();
  if (o.compare_baseline && form->p_index() >= 0) g->baseline = FitBaseline(g->rows, o);
  if (g->fit.params.empty()) {  // failed fit: reported by its summary and the verdict
    MakeGroupVerdict(o, g);
    return Status::Ok();
  }
  const Form& form_ref = *form;
  // Chinchilla reads D = tokens; performance-data D' = tokens * quality; the others ignore it.
  const bool chinchilla = form_ref.name() == "chinchilla";
  g->dprime = o.dprime > 0 ? o.dprime : MedianDprime(g->rows, !chinchilla, o.form_options.quality);
  if (!form_ref.uses_dprime() && !chinchilla) g->dprime = NAN;
  Box box = SearchBox(o, g->rows);
  SetGroupModel(o.form_options, g);
  if (form_ref.counts_params())
    PERFLAW_RETURN_IF_ERROR(NeedOneModel(*g, "form " + form_ref.name()));
  StatusOr<Optimum> opt = FindOptimum(form_ref, g->fit, box, g->dprime, g->model);
  if (!opt.ok()) return opt.status();
  g->optimum = std::move(opt).value();
  MakeGroupVerdict(o, g);
  if (o.budget > 0) {
    PERFLAW_RETURN_IF_ERROR(NeedOneModel(*g, "--budget"));
    StatusOr<BudgetChoice> c =
        BestUnderBudget(form_ref, g->fit, box, o.budget, g->model, g->dprime);
    if (!c.ok()) return c.status();
    g->budget = std::move(c).value();
  }
  if (!o.train_where.empty()) {
    StatusOr<RowFilter> filter = RowFilter::Parse(o.train_where);
    if (!filter.ok()) return filter.status();
    const auto in = std::count_if(g->rows.begin(), g->rows.end(),
                                  [&](const Observation& r) { return filter->Matches(r); });
    if (in == 0 || in == static_cast<long>(g->rows.size())) {
      // Other groups may still be checked (e.g. one grouped by an L the expression does not split).
      g->extrapolation_skipped = "'" + o.train_where + "' selects " + std::to_string(in) + " of " +
                                 std::to_string(g->rows.size()) + " points of this group";
      return Status::Ok();
    }
    StatusOr<Extrapolation> e = CheckExtrapolation(form_ref, g->rows, *filter, o.fit);
    if (!e.ok()) return e.status();
    g->extrapolation = std::move(e).value();
  }
  return Status::Ok();
}

// A --train-where that splits no group is a mistake in the expression, not a result.
Status CheckSomeGroupSplit(const Study& study, const StudyOptions& options) {
  if (options.train_where.empty()) return Status::Ok();
  for (const GroupFit& g : study.groups) {
    if (g.extrapolation || g.extrapolation_skipped.empty()) return Status::Ok();
  }
  return Status::FailedPrecondition(
      "--train-where '" + options.train_where + "' leaves no group with points on both sides (" +
      study.groups.front().key.Label() + ": " + study.groups.front().extrapolation_skipped + ")");
}

}  // namespace

std::string AtBound(const GroupFit& group, size_t j, double value) {
  if (j >= group.param_lower.size() || !std::isfinite(value)) return "";
  auto on = [value](double bound) {
    return std::abs(bound) < 1e299 && std::abs(value - bound) <= 1e-9 * std::abs(bound);
  };
  if (on(group.param_lower[j])) return "lower";
  if (on(group.param_upper[j])) return "upper";
  return "";
}

bool StudyOptions::IsValid(std::string* why) const {
  if (!form_options.IsValid(why) || !fit.IsValid(why) || !verdict.IsValid(why)) return false;
  if (budget < 0) {
    *why = "budget must be >= 0 (0 = none), got " + FormatNumber(budget);
    return false;
  }
  if (layers_lo < 0 || layers_hi < 0 || d_model_lo < 0 || d_model_hi < 0) {
    *why = "search bounds must be > 0 (0 = the observed range)";
    return false;
  }
  if (dprime < 0) {
    *why = "dprime must be > 0 (0 = the group's median), got " + FormatNumber(dprime);
    return false;
  }
  return true;
}

double MedianDprime(const std::vector<Observation>& rows, bool times_quality,
                    const std::string& quality) {
  std::vector<double> v;
  for (const Observation& r : rows) {
    double q = times_quality ? QualityValue(r, quality) : 1.0;
    if (std::isfinite(r.tokens) && std::isfinite(q)) v.push_back(r.tokens * q);
  }
  return v.empty() ? NAN : Percentile(v, 0.5);
}

namespace {

// Drops the rows that do not match `where` (empty: keeps all); keeping none is an error.
Status KeepMatching(const std::string& where, std::vector<Observation>* rows) {
  if (where.empty()) return Status::Ok();
  StatusOr<RowFilter> filter = RowFilter::Parse(where, "--where");
  if (!filter.ok()) return filter.status();
  const size_t before = rows->size();
  rows->erase(std::remove_if(rows->begin(), rows->end(),
                             [&](const Observation& r) { return !filter->Matches(r); }),
              rows->end());
  if (rows->empty())
    return Status::InvalidArgument("--where '" + where + "' keeps none of the " +
                                   std::to_string(before) + " rows");
  return Status::Ok();
}

}  // namespace

StatusOr<Study> RunStudy(const std::vector<Observation>& rows, const StudyOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  StatusOr<std::unique_ptr<Form>> form = MakeForm(options.form, options.form_options);
  if (!form.ok()) return form.status();
  StatusOr<GroupBy> by =
      GroupBy::Parse(options.group_by.empty() ? (*form)->default_group_by() : options.group_by);
  if (!by.ok()) return by.status();
  if (!options.train_where.empty())
    PERFLAW_RETURN_IF_ERROR(RowFilter::Parse(options.train_where).status());
  std::vector<Observation> selected = SelectMetric(rows, options.metric);
  if (selected.empty()) {
    return Status::InvalidArgument("no rows with metric '" + options.metric +
                                   "'; metrics present: " + MetricList(rows));
  }
  PERFLAW_RETURN_IF_ERROR(KeepMatching(options.where, &selected));
  Study study;
  study.form = (*form)->name();
  study.formula = (*form)->formula();
  study.group_by = by->ToString();
  study.form_options = options.form_options;
  for (const ParamSpec& s : (*form)->params()) study.param_names.push_back(s.name);
  for (auto& [key, group_rows] : GroupRows(selected, *by)) {
    GroupFit g;
    g.key = key;
    g.rows = group_rows;
    Status st = FitGroup(**form, options, &g);
    if (!st.ok()) {
      return Status(st.IsUserError() ? Status::FailedPrecondition(key.Label() + ": " + st.message())
                                     : Status::Internal(key.Label() + ": " + st.message()));
    }
    study.groups.push_back(std::move(g));
  }
  PERFLAW_RETURN_IF_ERROR(CheckSomeGroupSplit(study, options));
  return study;
}

}  // namespace perflaw::law
