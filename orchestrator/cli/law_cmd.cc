// perflaw fit / predict / report: the law commands. Input is a CSV (law/data.h) or a results
// database (orchestrator/store/law_db.h); both give the same std::vector<law::Observation>.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "apen/did_you_mean.h"
#include "law/data.h"
#include "law/pipeline.h"
#include "law/report.h"
#include "law/suggest.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/cli/table.h"
#include "orchestrator/store/law_db.h"

namespace perflaw::cli {
namespace {

using json = nlohmann::json;
using orchestrator::JsonNumber;

struct LawArgs {
  std::string csv;
  std::string db;  // results database (positional), the alternative to --csv
  orchestrator::LawDbOptions db_options;
  std::string protocol_used;  // of the rows read from db
  int64_t sweep_used = 0;     // the sweep the rows were read from (0: every sweep)
  std::string format = "table";
  std::string loss = "squared";
  std::string p_mode = "continuous";
  std::string resampling = "residuals";
  law::StudyOptions study;
  // predict
  double layers = 0, d_model = 0;
  // report
  std::string out;
  // suggest
  law::SuggestOptions suggest;
};

void AddStudyOptions(CLI::App* sub, LawArgs* a) {
  law::StudyOptions& s = a->study;
  sub->add_option("db", a->db, "results database to read the completed points of (or --csv)");
  sub->add_option("--csv", a->csv,
                  "CSV: dataset,max_seq_len,layers,d_model,metric,value[,tokens,apen]");
  sub->add_option("--split", a->db_options.split, "DB: metrics of this split (test | valid)")
      ->check(CLI::IsMember({"test", "valid"}))
      ->capture_default_str();
  sub->add_option("--protocol", a->db_options.protocol,
                  "DB: only metrics of this evaluation protocol (full, sampled:K)");
  sub->add_option("--sweep", a->db_options.sweep,
                  "DB: only the points of this sweep, by id or name (default: every sweep; see "
                  "perflaw sweeps)");
  sub->add_option("--form", s.form, "performance | performance-data | scaling | chinchilla")
      ->check(CLI::IsMember(law::FormNames()))
      ->capture_default_str();
  sub->add_option("--metric", s.metric, "fit only this metric (default: each metric separately)");
  sub->add_option("--where", s.where,
                  "fit only the rows matching e.g. \"dataset==ml-100k && layers<=4\" (keys and "
                  "operators as --train-where)");
  sub->add_option("--group-by", s.group_by,
                  "dataset,max_seq_len | dataset | max_seq_len | none (default: per form)");
  sub->add_option("--starts", s.fit.starts, "multi-start points")->capture_default_str();
  sub->add_option("--polish", s.fit.polish, "best starts refined with Ceres")
      ->capture_default_str();
  sub->add_option("--bootstrap", s.fit.bootstrap, "bootstrap resamples (0 = no intervals)")
      ->capture_default_str();
  sub->add_option("--resampling", a->resampling,
                  "bootstrap redraws: residuals (fixed grid, redrawn noise) | cases (points)")
      ->check(CLI::IsMember({"residuals", "cases"}))
      ->capture_default_str();
  sub->add_option("--seed", s.fit.seed, "bootstrap seed (>= 0)")
      // Checked before the conversion to an unsigned integer, which would wrap -1 to 2^64 - 1.
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v.find('-') == std::string::npos ? std::string()
                                                    : "must be an integer >= 0, got " + v;
          },
          ""))
      ->capture_default_str();
  sub->add_option("--level", s.fit.level, "interval level")->capture_default_str();
  sub->add_option("--threads", s.fit.threads, "threads for LOO and bootstrap (0 = all cores)")
      ->capture_default_str();
  sub->add_option("--loss", a->loss, "squared | huber")
      ->check(CLI::IsMember({"squared", "huber"}))
      ->capture_default_str();
  sub->add_option("--huber-delta", s.fit.huber_delta, "Huber threshold in metric units")
      ->capture_default_str();
  sub->add_option("--p-mode", a->p_mode,
                  "continuous | integer (grid over integer p, as the authors)")
      ->check(CLI::IsMember({"continuous", "integer"}))
      ->capture_default_str();
  sub->add_option("--p-max", s.fit.p_max, "largest p of the integer grid")->capture_default_str();
  sub->add_option("--ffn-mult", s.form_options.ffn_multiplier,
                  "model.ffn_multiplier in the parameter count, for every point (default: each "
                  "point's own; 1 in a CSV without the column)");
  sub->add_option("--quality", s.form_options.quality,
                  "performance-data's data-quality measure in D' = tokens*quality: apen (the "
                  "paper's ApEn) | transition (H(next item | previous item), bits; docs/data.md)")
      ->check(CLI::IsMember(law::QualityNames()))
      ->capture_default_str();
  sub->add_option(
      "--dprime", s.dprime,
      "D' = tokens*quality (chinchilla: D = tokens) for predictions; default group median");
}

// A row of a results database without the measure the data-aware form reads: say where it comes
// from and how to store it (a database or stats from before the measure existed).
Status CheckQualityStored(const LawArgs& a, const std::vector<law::Observation>& rows,
                          const std::map<std::string, std::string>& paths) {
  if (a.study.form != "performance-data") return Status::Ok();
  const std::string& q = a.study.form_options.quality;
  for (const law::Observation& r : rows) {
    if (std::isfinite(r.tokens) && std::isfinite(law::QualityValue(r, q))) continue;
    const auto path = paths.find(r.dataset);
    const std::string p = path == paths.end() ? r.dataset : path->second;
    const std::string l = law::FormatNumber(r.max_seq_len);
    return Status::FailedPrecondition(
        r.origin + ": form performance-data with --quality " + q + " needs the dataset's " +
        (q == "apen" ? "tokens and ApEn" : "tokens and transition entropy") + ", which " + a.db +
        "'s dataset_stats does not hold (once) for data.path " + p + " at max_seq_len " + l +
        "; store them with `perflaw data stats " + p + " --max-seq-len " + l + " --db " + a.db +
        "` and the sweep's preprocessing flags (perflaw run stores them from schema version 3 on)");
  }
  return Status::Ok();
}

void AddFitExtras(CLI::App* sub, LawArgs* a) {
  law::StudyOptions& s = a->study;
  sub->add_option("--train-where", s.train_where,
                  "extrapolation check: fit on rows matching e.g. \"layers<=16\", score the rest");
  sub->add_option("--budget", s.budget,
                  "best (layers, d_model) under this many non-embedding parameters");
  sub->add_option("--layers-min", s.layers_lo, "search box for the optimum (default: observed)");
  sub->add_option("--layers-max", s.layers_hi, "search box for the optimum (default: observed)");
  sub->add_option("--d-model-min", s.d_model_lo, "search box for the optimum (default: observed)");
  sub->add_option("--d-model-max", s.d_model_hi, "search box for the optimum (default: observed)");
}

Status Prepare(LawArgs* a, std::vector<law::Observation>* rows) {
  a->study.fit.loss = a->loss == "huber" ? law::Loss::kHuber : law::Loss::kSquared;
  a->study.fit.p_mode = a->p_mode == "integer" ? law::PMode::kIntegerGrid : law::PMode::kContinuous;
  a->study.fit.resampling =
      a->resampling == "cases" ? law::Resampling::kCases : law::Resampling::kResiduals;
  std::string why;
  if (!a->study.IsValid(&why)) return Status::InvalidArgument("option: " + why);
  if (a->db.empty() == a->csv.empty())
    return Status::InvalidArgument(
        a->db.empty() ? "give the input: a results database DB or --csv FILE"
                      : "give either a results database DB or --csv FILE, not both");
  if (!a->db.empty()) {
    a->db_options.metric = a->study.metric;
    StatusOr<orchestrator::LawDbInput> in = orchestrator::ReadObservations(a->db, a->db_options);
    if (!in.ok()) return in.status();
    a->protocol_used = in->protocol;
    a->sweep_used = in->sweep;
    a->study.measured =
        a->db_options.split + " split, " + in->protocol +
        (in->eval_seeds.empty() ? "" : ", eval seed " + in->eval_seeds) +
        (in->sweep        ? ", sweep " + std::to_string(in->sweep)
         : in->sweeps > 1 ? ", all " + std::to_string(in->sweeps) + " sweeps (--sweep for one)"
                          : "");
    *rows = std::move(in->rows);
    return CheckQualityStored(*a, *rows, in->dataset_paths);
  }
  if (!a->db_options.protocol.empty() || a->db_options.split != "test" ||
      !a->db_options.sweep.empty())
    return Status::InvalidArgument(
        "--split, --protocol and --sweep select from a results database, not --csv");
  StatusOr<std::vector<law::Observation>> read = law::ReadCsv(a->csv);
  if (!read.ok()) return read.status();
  *rows = std::move(read).value();
  return Status::Ok();
}

// ---- output ----

json Est(const law::Estimate& e) {
  return {{"value", JsonNumber(e.value)},
          {"interval", {JsonNumber(e.interval.lo), JsonNumber(e.interval.hi)}},
          {"undefined_in_resamples", e.undefined}};
}

json Scores(const law::Metrics& m, const std::string& prefix, json j) {
  j[prefix + "r2"] = JsonNumber(m.r2);
  j[prefix + "rmse"] = JsonNumber(m.rmse);
  j[prefix + "mae"] = JsonNumber(m.mae);
  j[prefix + "mape_percent"] = JsonNumber(m.mape);
  return j;
}

json VerdictJson(const law::Verdict& v) {
  const law::BestObserved& b = v.best_observed;
  json edges = json::array();
  for (const law::Edge& e : v.at_edge)
    edges.push_back({{"axis", e.axis},
                     {"direction", e.direction},
                     {"grid_range", {JsonNumber(e.grid_min), JsonNumber(e.grid_max)}}});
  json j = {{"identified", v.identified},
            {"reasons", v.reasons},
            {"summary", v.summary},
            {"next", v.next},
            {"best_observed",
             {{"layers", JsonNumber(b.layers)},
              {"d_model", JsonNumber(b.d_model)},
              {"value", JsonNumber(b.value)},
              {"standard_error", JsonNumber(b.standard_error)},
              {"standard_error_kind",
               b.standard_error_kind.empty() ? json(nullptr) : json(b.standard_error_kind)},
              {"runs", b.runs}}},
            {"optimum", nullptr},
            {"at_edge", edges},
            {"law_vs_baseline", nullptr},
            {"points", v.points},
            {"converged_points", v.converged_points},
            {"still_improving_points", v.still_improving_points}};
  json axes = json::object();
  for (const law::AxisVerdict& a : v.axes)
    axes[a.axis] = {{"identified", a.identified},
                    {"problem", a.problem.empty() ? json(nullptr) : json(a.problem)}};
  j["axes"] = axes;
  auto axis = [](const law::Estimate& e) {
    return std::isfinite(e.value) ? Est(e) : json(nullptr);  // null: not pinned (see axes)
  };
  if (v.optimum)
    j["optimum"] = {{"layers", axis(v.optimum->layers)},
                    {"d_model", axis(v.optimum->d_model)},
                    {"value", Est(v.optimum->value)}};
  if (v.law_vs_baseline)
    j["law_vs_baseline"] = {
        {"law_loo_rmse", JsonNumber(v.law_vs_baseline->law_loo_rmse)},
        {"baseline_loo_rmse", JsonNumber(v.law_vs_baseline->baseline_loo_rmse)},
        {"use", v.law_vs_baseline->use.empty() ? json(nullptr) : json(v.law_vs_baseline->use)}};
  return j;
}

// "lower"/"upper" when parameter j's bootstrap interval reaches that optimizer bound: resamples
// the data could not pin ("" otherwise).
std::string IntervalAtBound(const law::GroupFit& g, size_t j, const law::Interval& iv) {
  if (!law::AtBound(g, j, iv.lo).empty()) return law::AtBound(g, j, iv.lo);
  return law::AtBound(g, j, iv.hi);
}

json GroupJson(const law::Study& s, const law::GroupFit& g) {
  json keys = {{"metric", g.key.metric}};
  if (!g.key.dataset.empty()) keys["dataset"] = g.key.dataset;
  if (!g.key.max_seq_len.empty()) keys["max_seq_len"] = std::stod(g.key.max_seq_len);
  json params = json::object();
  for (size_t j = 0; j < g.fit.params.size(); ++j) {
    law::Interval iv =
        j < g.fit.param_intervals.size() ? g.fit.param_intervals[j] : law::Interval();
    params[g.param_names[j]] = {{"value", JsonNumber(g.fit.params[j])},
                                {"interval", {JsonNumber(iv.lo), JsonNumber(iv.hi)}}};
    const std::string bound = law::AtBound(g, j, g.fit.params[j]);
    if (!bound.empty()) params[g.param_names[j]]["at_bound"] = bound;
    const std::string reach = IntervalAtBound(g, j, iv);
    if (!reach.empty()) params[g.param_names[j]]["interval_at_bound"] = reach;
  }
  json j = {{"keys", keys},
            {"verdict", VerdictJson(g.verdict)},
            {"form", g.form},
            {"formula", g.formula},
            {"n_points", g.rows.size()},
            {"converged", g.fit.converged},
            {"summary", g.fit.summary},
            {"params", params},
            {"interval_level", g.fit.level},
            {"bootstrap_resamples", g.fit.bootstrap_params.size()},
            {"bootstrap_resampling", law::ResamplingName(g.fit.resampling)},
            {"bootstrap_failed", g.fit.bootstrap_failed},
            {"loo_refits_not_converged", g.fit.loo_failed}};
  if (!g.fallback.empty()) j["fallback"] = {{"asked_form", s.form}, {"why", g.fallback}};
  if (s.form == "performance-data") j["quality"] = s.form_options.quality;
  j = Scores(g.fit.in_sample, "", j);
  j = Scores(g.fit.loo, "loo_", j);
  const law::Optimum& o = g.optimum;
  json opt = {
      {"search_box", {{"layers", {o.box.n_lo, o.box.n_hi}}, {"d_model", {o.box.d_lo, o.box.d_hi}}}},
      {"kind", o.higher_is_better ? "argmax" : "argmin"},
      {"layers", Est(o.best_layers)},
      {"d_model", Est(o.best_d_model)},
      {"value", Est(o.best_value)}};
  if (std::isfinite(g.dprime)) opt["dprime"] = g.dprime;
  if (o.has_closed_form) {
    opt["closed_form"] = {{"n_star", {{"kind", o.layers.kind}, {"estimate", Est(o.layers.at)}}},
                          {"d_star", {{"kind", o.d_model.kind}, {"estimate", Est(o.d_model.at)}}}};
  }
  j["optimum"] = opt;
  if (g.budget) {
    j["budget"] = {{"non_embedding_params", g.budget->budget},
                   {"model_type", g.budget->model.type},
                   {"ffn_multiplier", g.budget->model.ffn_multiplier},
                   {"layers", Est(g.budget->layers)},
                   {"d_model", Est(g.budget->d_model)},
                   {"value", Est(g.budget->value)},
                   {"params_used", Est(g.budget->params_used)}};
  }
  if (g.extrapolation) {
    const law::Extrapolation& e = *g.extrapolation;
    json subset = json::object();
    for (size_t k = 0; k < e.fit.params.size() && k < g.param_names.size(); ++k)
      subset[g.param_names[k]] = JsonNumber(e.fit.params[k]);
    j["extrapolation"] = Scores(e.held_out, "held_out_",
                                {{"train_where", e.train_where},
                                 {"n_train", e.n_train},
                                 {"n_held_out", e.n_test},
                                 {"train_r2", JsonNumber(e.fit.in_sample.r2)},
                                 {"train_converged", e.fit.converged},
                                 {"train_params", subset}});
  } else if (!g.extrapolation_skipped.empty()) {
    j["extrapolation"] = {{"skipped", g.extrapolation_skipped}};
  }
  return j;
}

std::string F(double v, int digits = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

std::string FI(const law::Estimate& e) {
  std::string s = F(e.value);
  if (e.interval.valid()) s += " [" + F(e.interval.lo) + ", " + F(e.interval.hi) + "]";
  return s;
}

std::string ScoreLine(const law::Metrics& m) {
  return "R2 " + F(m.r2) + "  RMSE " + F(m.rmse) + "  MAE " + F(m.mae) + "  MAPE " + F(m.mape) +
         "%";
}

// What --dprime means for the form: chinchilla reads it as D (tokens).
std::string DataLabel(const std::string& form, const law::FormOptions& options) {
  return form == "chinchilla" ? "D (tokens)" : "D' (tokens*" + options.quality + ")";
}

// What the data-aware form's quality measure is, in words.
std::string QualityWords(const std::string& quality) {
  return quality == "transition"
             ? "transition = H(next item | previous item) over the dataset's consecutive pairs, "
               "bits, Miller-Madow corrected (docs/data.md)"
             : "apen = mean ApEn(m=2, r=0.2) of users' sequences, nats (the paper's measure; on "
               "data without repeated items a function of sequence length only, docs/data.md)";
}

void PrintOptimum(const std::string& form, const law::FormOptions& options, const law::GroupFit& g,
                  std::ostream& out) {
  const law::Optimum& o = g.optimum;
  const std::string& metric = g.key.metric;
  if (o.has_closed_form) {
    auto axis = [&](const std::string& label, const law::AxisOptimum& a, const char* name,
                    double lo, double hi) {
      out << "  optimum " << label << ": ";
      const std::string place = law::MaximumPlace(a, lo, hi);
      const std::string unpinned = law::UnpinnedAxisProblem(g.verdict, name);
      if (!unpinned.empty())
        out << "not pinned by the data (" << unpinned << ")";
      else if (place == "inside")
        out << FI(a.at) << " (interior maximum of " << metric << ")";
      else if (!place.empty())
        out << FI(a.at) << " (maximum of " << metric << " " << place << " the searched " << name
            << " range [" << F(lo) << ", " << F(hi) << "]: an extrapolation of the curve)";
      else if (a.kind == "maximum")
        out << FI(a.at) << " (maximum of " << metric << ")";
      else
        out << "none (this term has " << (a.kind == "none" ? "no extremum" : "a minimum") << ")";
      if (a.at.undefined) out << "; undefined in " << a.at.undefined << " resamples";
      out << "\n";
    };
    axis("N* = p^(-1/a) layers", o.layers, "layers", o.box.n_lo, o.box.n_hi);
    axis("d* = p^(-1/b) d_model", o.d_model, "d_model", o.box.d_lo, o.box.d_hi);
  }
  out << "  numerical " << (o.higher_is_better ? "argmax" : "argmin") << " of " << metric
      << " in layers [" << F(o.box.n_lo) << ", " << F(o.box.n_hi) << "] x d_model ["
      << F(o.box.d_lo) << ", " << F(o.box.d_hi) << "]";
  if (std::isfinite(g.dprime)) out << " at " << DataLabel(form, options) << " " << F(g.dprime);
  out << ": layers " << FI(o.best_layers) << ", d_model " << FI(o.best_d_model) << ", " << metric
      << " " << FI(o.best_value) << "\n";
}

// The best configuration under a parameter budget: inside the observed box, so shown whether or not
// the optimum is identified.
void PrintBudget(const law::GroupFit& g, std::ostream& out) {
  const std::string& metric = g.key.metric;
  if (g.budget) {
    const law::BudgetChoice& b = *g.budget;
    out << "  best under " << F(b.budget) << " non-embedding params (" << b.model.type
        << ", ffn_multiplier " << F(b.model.ffn_multiplier) << "): layers " << FI(b.layers)
        << ", d_model " << FI(b.d_model) << ", " << metric << " " << FI(b.value) << ", params used "
        << FI(b.params_used) << "\n";
  }
}

void PrintVerdict(const law::Verdict& v, std::ostream& out) {
  out << "  verdict: " << v.summary << "\n";
  for (const std::string& n : v.next) out << "  next: " << n << "\n";
}

void PrintTable(const law::Study& s, std::ostream& out) {
  out << "form " << s.form << ": " << s.formula << "\n";
  if (s.form == "performance-data")
    out << "data quality: " << QualityWords(s.form_options.quality) << "\n";
  for (const law::GroupFit& g : s.groups) {
    const law::FitResult& f = g.fit;
    out << "\n== " << g.key.Label() << " | form " << g.form << " | " << g.rows.size()
        << " points\n";
    PrintVerdict(g.verdict, out);
    if (!g.fallback.empty())
      out << "  fitted with the scaling form instead of " << s.form << ": " << g.fallback << "\n";
    out << "  fit: " << f.summary << " (" << f.starts << " starts, " << f.polished << " refined)\n";
    if (f.params.empty()) continue;
    out << "  parameter        value    " << F(100 * f.level, 3) << "% interval (bootstrap, "
        << f.bootstrap_params.size() << " resamples of " << law::ResamplingName(f.resampling)
        << ")\n";
    for (size_t j = 0; j < f.params.size(); ++j) {
      char line[160];
      law::Interval iv = j < f.param_intervals.size() ? f.param_intervals[j] : law::Interval();
      std::snprintf(line, sizeof(line), "  %-9s %12.6g    %s", g.param_names[j].c_str(),
                    f.params[j],
                    iv.valid() ? ("[" + F(iv.lo) + ", " + F(iv.hi) + "]").c_str() : "n/a");
      out << line;
      const std::string bound = law::AtBound(g, j, f.params[j]);
      if (!bound.empty()) out << "    at its " << bound << " bound: not identified by the data";
      const std::string reach = IntervalAtBound(g, j, iv);
      if (bound.empty() && !reach.empty()) out << "    interval reaches its " << reach << " bound";
      out << "\n";
    }
    out << "  in-sample " << g.key.metric << " (" << f.in_sample.n
        << " points): " << ScoreLine(f.in_sample) << "\n";
    out << "  leave-one-out " << g.key.metric << ":      " << ScoreLine(f.loo) << "\n";
    if (g.verdict.identified)
      PrintOptimum(g.form, s.form_options, g, out);
    else
      out << "  optimum: not shown: not identified (the verdict above says why)\n";
    PrintBudget(g, out);
    if (g.extrapolation) {
      const law::Extrapolation& e = *g.extrapolation;
      out << "  extrapolation: fit on '" << e.train_where << "' (" << e.n_train
          << " points, in-sample R2 " << F(e.fit.in_sample.r2) << "), held-out " << e.n_test
          << " points: " << ScoreLine(e.held_out) << "\n";
      out << "    the subset fit: " << e.fit.summary << ";";
      for (size_t k = 0; k < e.fit.params.size() && k < g.param_names.size(); ++k)
        out << " " << g.param_names[k] << " " << F(e.fit.params[k]);
      out << "\n";
    } else if (!g.extrapolation_skipped.empty()) {
      out << "  extrapolation: not checked: " << g.extrapolation_skipped << "\n";
    }
  }
}

Status FailedGroups(const law::Study& s) {
  int failed = 0;
  for (const law::GroupFit& g : s.groups) failed += g.fit.params.empty();
  if (failed == 0) return Status::Ok();
  return Status::Internal(std::to_string(failed) + " group fit(s) failed; see their summaries");
}

// The options that change a fit's numbers (not --threads: results do not depend on it), with the
// data-quality measure where the form reads one (other forms' stored options stay as they were).
json FitOptionsJson(const LawArgs& a) {
  const law::FitOptions& f = a.study.fit;
  json j = {{"starts", f.starts},
            {"polish", f.polish},
            {"bootstrap", f.bootstrap},
            {"resampling", a.resampling},
            {"seed", f.seed},
            {"level", f.level},
            {"loss", a.loss},
            {"huber_delta", f.huber_delta},
            {"p_mode", a.p_mode},
            {"p_max", f.p_max},
            {"ffn_mult", std::isnan(a.study.form_options.ffn_multiplier)
                             ? json(nullptr)  // each point's own
                             : json(a.study.form_options.ffn_multiplier)}};
  if (a.study.form == "performance-data") j["quality"] = a.study.form_options.quality;
  return j;
}

// The data selection a stored fit used, so that it can be redone.
json Selection(const LawArgs& a, const law::Study& s) {
  return {{"db", a.db},
          {"split", a.db_options.split},
          {"protocol", a.protocol_used},
          {"sweep", a.sweep_used ? json(a.sweep_used) : json(nullptr)},
          {"metric", a.study.metric.empty() ? json(nullptr) : json(a.study.metric)},
          {"group_by", s.group_by},
          {"where", a.study.where.empty() ? json(nullptr) : json(a.study.where)},
          {"points", "state = COMPLETED"},
          {"options", FitOptionsJson(a)}};
}

// Stores each fitted group in the database's fits table (opened for writing only now).
Status StoreFits(const LawArgs& a, const law::Study& s, std::ostream& out) {
  std::vector<orchestrator::FitRecord> records;
  for (const law::GroupFit& g : s.groups) {
    if (g.fit.params.empty()) continue;  // failed: nothing to store
    json j = GroupJson(s, g);
    orchestrator::FitRecord f;
    f.form = s.form;
    f.metric = g.key.metric;
    f.group_keys = j["keys"];
    f.selection = Selection(a, s);
    // The stored fit is on all the group's rows; a --train-where check rides along, by its name.
    if (j.contains("extrapolation")) f.selection["extrapolation_check"] = j["extrapolation"];
    f.params = j["params"];
    f.n_points = static_cast<int64_t>(g.rows.size());
    f.converged = g.fit.converged;
    f.r2 = g.fit.in_sample.r2;
    f.rmse = g.fit.in_sample.rmse;
    f.loo_rmse = g.fit.loo.rmse;
    f.loo_r2 = g.fit.loo.r2;
    f.optimum = j["optimum"];
    records.push_back(std::move(f));
  }
  if (records.empty()) return Status::Ok();
  StatusOr<std::vector<orchestrator::StoredFit>> stored = orchestrator::StoreFits(a.db, records);
  if (!stored.ok()) return stored.status();
  if (a.format == "json") return Status::Ok();
  std::vector<std::string> written, existed;
  for (const orchestrator::StoredFit& f : *stored)
    (f.existed ? existed : written).push_back(std::to_string(f.id));
  if (!written.empty())
    out << "\nstored " << written.size() << " fit(s) in " << a.db << " (fits ids "
        << JoinWords(written) << ")\n";
  if (!existed.empty())
    out << "\n"
        << existed.size() << " fit(s) identical to ones stored in " << a.db << " (fits ids "
        << JoinWords(existed) << "): not stored again\n";
  return Status::Ok();
}

// ---- commands ----
Status RunFit(LawArgs* a) {
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(a, &rows));
  StatusOr<law::Study> study = law::RunStudy(rows, a->study);
  if (!study.ok()) return study.status();
  if (a->format == "json") {
    json groups = json::array();
    for (const law::GroupFit& g : study->groups) groups.push_back(GroupJson(*study, g));
    std::cout << groups.dump(2) << std::endl;
  } else {
    PrintTable(*study, std::cout);
  }
  if (!a->db.empty()) PERFLAW_RETURN_IF_ERROR(StoreFits(*a, *study, std::cout));
  return FailedGroups(*study);
}

// A ranking metric's prediction (or interval) outside [0, 1]: the fitted curves extrapolate to
// values the metric cannot take. Said, not clipped.
bool OutsideRateRange(const std::string& metric, const law::Estimate& p) {
  const bool rate =
      metric.rfind("HR@", 0) == 0 || metric.rfind("NDCG@", 0) == 0 || metric.rfind("MRR", 0) == 0;
  auto out = [](double v) { return std::isfinite(v) && (v < 0 || v > 1); };
  return rate &&
         (out(p.value) || (p.interval.valid() && (out(p.interval.lo) || out(p.interval.hi))));
}

// How far a query lies outside the range the group was fitted on, per axis: null inside, else the
// fitted range and the factor beyond its nearer end (48 layers against [1, 16]: 3).
json Extrapolation(const law::GroupFit& g, double layers, double d_model) {
  const law::Box box = law::ObservedBox(g.rows);
  json out = json::object();
  auto axis = [&](const char* name, double v, double lo, double hi) {
    if (v >= lo && v <= hi) return;
    out[name] = {{"value", v}, {"fitted_range", {lo, hi}}, {"factor", v > hi ? v / hi : lo / v}};
  };
  axis("layers", layers, box.n_lo, box.n_hi);
  axis("d_model", d_model, box.d_lo, box.d_hi);
  return out.empty() ? json(nullptr) : out;
}

std::string ExtrapolationWords(const json& e) {
  std::string s;
  for (const char* name : {"layers", "d_model"}) {
    if (!e.is_object() || !e.contains(name)) continue;
    const json& a = e[name];
    const double v = a["value"], lo = a["fitted_range"][0], hi = a["fitted_range"][1];
    s += (s.empty() ? "" : "; ") + std::string(name) + " " + F(v) + " is " + F(a["factor"]) + "x " +
         (v > hi ? "above the largest" : "below the smallest") + " fitted (" + F(v > hi ? hi : lo) +
         ")";
  }
  return s;
}

Status RunPredict(LawArgs* a) {
  for (const auto& [name, v] : {std::pair{"--layers", a->layers}, {"--d-model", a->d_model}})
    if (!(v > 0 && std::isfinite(v)))
      return Status::InvalidArgument(std::string(name) + " must be a finite number > 0, got " +
                                     law::FormatNumber(v));
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(a, &rows));
  a->study.fit.loo = false;           // predict prints no LOO scores
  a->study.compare_baseline = false;  // nor the verdict's LOO comparison
  StatusOr<law::Study> study = law::RunStudy(rows, a->study);
  if (!study.ok()) return study.status();
  PERFLAW_RETURN_IF_ERROR(FailedGroups(*study));
  json out = json::array();
  for (const law::GroupFit& g : study->groups) {
    // The group's own form: a small grid may have been fitted with the scaling form instead.
    StatusOr<std::unique_ptr<law::Form>> form = law::MakeForm(g.form, study->form_options);
    if (!form.ok()) return form.status();
    StatusOr<law::Estimate> p =
        law::Predict(**form, g.fit, a->layers, a->d_model, g.dprime, g.model);
    if (!p.ok()) return p.status();
    if (a->format == "json") {
      json j = {{"keys", GroupJson(*study, g)["keys"]},
                {"form", g.form},
                {"layers", a->layers},
                {"d_model", a->d_model},
                {"predicted", Est(*p)},
                {"interval_level", g.fit.level}};
      if (std::isfinite(g.dprime)) j["dprime"] = g.dprime;
      if (!g.fallback.empty()) j["fallback"] = {{"asked_form", study->form}, {"why", g.fallback}};
      j["outside_metric_range"] = OutsideRateRange(g.key.metric, *p);
      j["extrapolation"] = Extrapolation(g, a->layers, a->d_model);
      j["identified"] = g.verdict.identified;
      out.push_back(j);
      continue;
    }
    std::cout << g.key.Label() << " | form " << g.form << ": predicted " << g.key.metric
              << " at layers " << F(a->layers) << ", d_model " << F(a->d_model);
    if (std::isfinite(g.dprime))
      std::cout << ", " << DataLabel(g.form, study->form_options) << " " << F(g.dprime);
    std::cout << " = " << F(p->value) << "  (" << F(100 * g.fit.level, 3) << "% bootstrap interval "
              << (p->interval.valid() ? "[" + F(p->interval.lo) + ", " + F(p->interval.hi) + "]"
                                      : std::string("n/a"))
              << ")";
    if (OutsideRateRange(g.key.metric, *p))
      std::cout << "; beyond [0, 1], the range of " << g.key.metric
                << ": the fitted curves extrapolate there";
    std::cout << "\n";
    const std::string far = ExtrapolationWords(Extrapolation(g, a->layers, a->d_model));
    if (!far.empty())
      std::cout << "  warning: an extrapolation: " << far
                << "; the law is only checked inside the grid it was fitted on\n";
    if (!g.fallback.empty())
      std::cout << "  note: fitted with the scaling form instead of " << study->form << ": "
                << g.fallback << "\n";
    if (!g.verdict.identified)
      std::cout << "  note: this group's optimum is not identified (perflaw fit says why)\n";
  }
  if (a->format == "json") std::cout << out.dump(2) << std::endl;
  return Status::Ok();
}

// The report's training curves (a results database only; `perflaw curves` on its completed points
// and --sweep, for its --metric or NDCG@10): figures in --out and the section of report.md that
// shows them. A selection that has no per-epoch metrics is said there, not an error.
StatusOr<std::string> ReportCurves(const LawArgs& a, size_t* files) {
  if (a.db.empty()) return std::string();
  CurvesRequest r;
  r.db = a.db;
  r.sweep = a.db_options.sweep;
  if (!a.study.metric.empty()) r.metric = a.study.metric;
  r.protocol = a.db_options.protocol;
  r.out = a.out;
  r.completed_only = true;
  StatusOr<CurvesOutput> c = WriteCurves(r);
  std::ostringstream md;
  md << "\n## Training curves\n\n";
  if (!c.ok()) {
    if (!c.status().IsUserError()) return c.status();
    md << "Not drawn: " << c.status().message() << ".\n";
    return md.str();
  }
  *files = c->files.size();
  md << "Train loss and " << c->metric_label << " per epoch of the " << c->points
     << " completed points (the epochs of the attempt that completed each), one figure per group "
        "of points that differ only in model size (layers, d_model) and seed. "
     << c->still_improving.size() << " of " << c->points
     << " points were still improving at their last epoch (best validation value at the last "
        "epoch; ringed in the figures)"
     << (c->still_improving.empty() ? "" : ": " + JoinWords(c->still_improving)) << ".\n\n";
  for (const std::string& image : c->images) md << "![" << image << "](" << image << ")\n\n";
  return md.str();
}

Status RunReport(LawArgs* a) {
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(a, &rows));
  law::ReportOptions ro;
  ro.out_dir = a->out;
  std::string why;
  if (!ro.IsValid(&why)) return Status::InvalidArgument(why);
  StatusOr<law::Study> study = law::RunStudy(rows, a->study);
  if (!study.ok()) return study.status();
  size_t curve_files = 0;
  StatusOr<std::string> curves = ReportCurves(*a, &curve_files);
  if (!curves.ok()) return curves.status();
  ro.appendix_markdown = *curves;
  StatusOr<std::vector<std::string>> written = law::WriteReport(*study, ro);
  if (!written.ok()) return written.status();
  std::cout << "wrote " << written->size() + curve_files << " files to " << a->out
            << " (report.md, PNG and SVG plots" << (curve_files ? " with the training curves" : "")
            << ", their data and gnuplot scripts)\n";
  return FailedGroups(*study);
}

}  // namespace

Status FitLawFromDb(const std::string& db, const std::string& form, const std::string& metric,
                    const std::string& group_by, std::ostream& out,
                    std::vector<std::string>* verdicts) {
  LawArgs a;
  a.db = db;
  a.study.form = form;
  a.study.metric = metric;
  a.study.group_by = group_by;
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(&a, &rows));
  StatusOr<law::Study> study = law::RunStudy(rows, a.study);
  if (!study.ok()) return study.status();
  PrintTable(*study, out);
  if (verdicts)
    for (const law::GroupFit& g : study->groups) {
      verdicts->push_back(g.verdict.summary);
      for (const std::string& n : g.verdict.next) verdicts->push_back("  next: " + n);
    }
  PERFLAW_RETURN_IF_ERROR(StoreFits(a, *study, out));
  return FailedGroups(*study);
}

StatusOr<std::vector<GroupAdvice>> AdviseFromDb(const std::string& db, const std::string& form,
                                                const std::string& metric,
                                                const std::string& group_by,
                                                const law::SuggestOptions& suggest,
                                                const law::VerdictOptions& verdict) {
  LawArgs a;
  a.db = db;
  a.study.form = form;
  a.study.metric = metric;
  a.study.group_by = group_by;
  a.study.verdict = verdict;
  std::string why;
  if (!suggest.IsValid(&why)) return Status::InvalidArgument("suggest: " + why);
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(&a, &rows));
  StatusOr<law::Study> study = law::RunStudy(rows, a.study);
  if (!study.ok()) return study.status();
  std::vector<GroupAdvice> advice;
  for (const law::GroupFit& g : study->groups) {
    GroupAdvice& out = advice.emplace_back();
    out.key = g.key;
    out.verdict = g.verdict;
    if (g.fit.params.empty()) {
      out.fit_error = g.fit.summary;
      continue;
    }
    StatusOr<std::unique_ptr<law::Form>> made = law::MakeForm(g.form, study->form_options);
    if (!made.ok()) return made.status();
    out.suggestions = law::Suggest(g, **made, suggest);
  }
  return advice;
}

// ---- suggest ----
json SuggestionsJson(const law::GroupFit& g, const law::GroupSuggestions& s) {
  json points = json::array();
  for (const law::Suggestion& p : s.points)
    points.push_back(
        {{"layers", p.layers}, {"d_model", p.d_model}, {"rule", p.rule}, {"reason", p.reason}});
  json keys = {{"metric", g.key.metric}};
  if (!g.key.dataset.empty()) keys["dataset"] = g.key.dataset;
  if (!g.key.max_seq_len.empty()) keys["max_seq_len"] = std::stoll(g.key.max_seq_len);
  return {{"keys", keys},
          {"group", g.key.Label()},
          {"identified", g.verdict.identified},
          {"verdict", g.verdict.summary},
          {"points", points},
          {"note", s.note.empty() ? json(nullptr) : json(s.note)}};
}

// A sweep fragment: one `include` entry per distinct point over all groups (metrics share
// points), with the group's dataset and max_seq_len so that it lands in the right group.
void PrintSuggestionsYaml(const std::vector<json>& groups, std::ostream& out) {
  out << "# perflaw suggest: the next points; merge into the sweep's include: list, then\n"
      << "# `perflaw run` trains only these (every stored point is reused).\n"
      << "include:\n";
  std::set<std::string> seen;
  for (const json& g : groups)
    for (const json& p : g["points"]) {
      std::ostringstream entry;
      if (g["keys"].contains("dataset"))
        entry << "dataset: " << g["keys"]["dataset"].get<std::string>() << ", ";
      entry << "model.layers: " << p["layers"].get<double>()
            << ", model.d_model: " << p["d_model"].get<double>();
      if (g["keys"].contains("max_seq_len"))
        entry << ", data.max_seq_len: " << g["keys"]["max_seq_len"].get<double>();
      if (!seen.insert(entry.str()).second) continue;
      out << "  - {" << entry.str() << "}  # " << p["rule"].get<std::string>() << ", "
          << g["keys"]["metric"].get<std::string>() << "\n";
    }
}

void PrintSuggestionsTable(const std::vector<json>& groups, std::ostream& out) {
  for (const json& g : groups) {
    out << "== " << g["group"].get<std::string>() << ": " << g["points"].size()
        << " point(s) to train next\n"
        << "  verdict: " << g["verdict"].get<std::string>() << "\n";
    for (const json& p : g["points"])
      out << "  layers " << p["layers"].get<double>() << " x d_model " << p["d_model"].get<double>()
          << "  [" << p["rule"].get<std::string>() << "] " << p["reason"].get<std::string>()
          << "\n";
    if (!g["note"].is_null()) out << "  note: " << g["note"].get<std::string>() << "\n";
  }
}

Status RunSuggest(LawArgs* a) {
  std::string why;
  if (a->suggest.budget < 1)
    return Status::InvalidArgument("--new-points must be >= 1, got " +
                                   std::to_string(a->suggest.budget));
  if (!a->suggest.IsValid(&why)) return Status::InvalidArgument("option: " + why);
  std::vector<law::Observation> rows;
  PERFLAW_RETURN_IF_ERROR(Prepare(a, &rows));
  StatusOr<law::Study> study = law::RunStudy(rows, a->study);
  if (!study.ok()) return study.status();
  std::vector<json> groups;
  for (const law::GroupFit& g : study->groups) {
    if (g.fit.params.empty()) continue;  // failed: FailedGroups says so below
    StatusOr<std::unique_ptr<law::Form>> form = law::MakeForm(g.form, study->form_options);
    if (!form.ok()) return form.status();
    groups.push_back(SuggestionsJson(g, law::Suggest(g, **form, a->suggest)));
  }
  if (a->format == "json")
    std::cout << json(groups).dump(2) << std::endl;
  else if (a->format == "yaml")
    PrintSuggestionsYaml(groups, std::cout);
  else
    PrintSuggestionsTable(groups, std::cout);
  return FailedGroups(*study);
}

void RegisterLawCommands(CLI::App& app, Action* action) {
  auto fit_args = std::make_shared<LawArgs>();
  CLI::App* fit =
      app.add_subcommand("fit", "fit a law per group and report fit quality and optima");
  AddStudyOptions(fit, fit_args.get());
  AddFitExtras(fit, fit_args.get());
  fit->add_option("--format", fit_args->format, "table | json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  fit->callback([action, fit_args] { *action = [fit_args] { return RunFit(fit_args.get()); }; });

  auto predict_args = std::make_shared<LawArgs>();
  CLI::App* predict =
      app.add_subcommand("predict", "predict the metric at (layers, d_model[, D'])");
  AddStudyOptions(predict, predict_args.get());
  predict->add_option("--layers", predict_args->layers, "transformer layers N")->required();
  predict->add_option("--d-model", predict_args->d_model, "embedding dimension d")->required();
  predict->add_option("--format", predict_args->format, "table | json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  predict->callback([action, predict_args] {
    *action = [predict_args] { return RunPredict(predict_args.get()); };
  });

  auto suggest_args = std::make_shared<LawArgs>();
  CLI::App* suggest = app.add_subcommand(
      "suggest", "the next (layers, d_model) points to train, per group, and why (docs/law.md)");
  AddStudyOptions(suggest, suggest_args.get());
  // --budget is fit's parameter budget; suggest's count of points is --new-points (old name
  // hidden).
  suggest->add_option("--new-points", suggest_args->suggest.budget, "new points per group, at most")
      ->capture_default_str();
  suggest->add_option("--budget", suggest_args->suggest.budget)->group("");
  suggest->add_option("--format", suggest_args->format, "table | json | yaml (a sweep fragment)")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();
  suggest->callback([action, suggest_args] {
    *action = [suggest_args] { return RunSuggest(suggest_args.get()); };
  });

  auto report_args = std::make_shared<LawArgs>();
  CLI::App* report = app.add_subcommand("report", "fit, then write plots and report.md to --out");
  AddStudyOptions(report, report_args.get());
  AddFitExtras(report, report_args.get());
  report->add_option("--out", report_args->out, "output directory")->required();
  report->callback(
      [action, report_args] { *action = [report_args] { return RunReport(report_args.get()); }; });
}

}  // namespace perflaw::cli
