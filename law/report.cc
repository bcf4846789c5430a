#include "law/report.h"

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "apen/text.h"

extern char** environ;

namespace perflaw::law {
namespace {

namespace fs = std::filesystem;

// A gnuplot single-quoted string: only the quote itself needs escaping (doubled).
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The report's numbers: 4 significant digits unless asked otherwise, "n/a" for NaN/Inf.
std::string Num(double v, int digits = 4) { return apen::SignificantNum(v, digits); }

std::string WithInterval(double v, const Interval& iv, int digits = 4) {
  std::string s = Num(v, digits);
  if (iv.valid()) s += " [" + Num(iv.lo, digits) + ", " + Num(iv.hi, digits) + "]";
  return s;
}

// One (dataset, max_seq_len) slice of a group: the unit of the surface and curve plots.
struct Panel {
  std::string dataset;
  double max_seq_len = 0;
  std::vector<Observation> rows;
};

std::vector<Panel> Panels(const std::vector<Observation>& rows) {
  std::map<std::pair<std::string, double>, Panel> by;
  for (const Observation& r : rows) {
    Panel& p = by[{r.dataset, r.max_seq_len}];
    p.dataset = r.dataset;
    p.max_seq_len = r.max_seq_len;
    p.rows.push_back(r);
  }
  std::vector<Panel> out;
  for (auto& [k, p] : by) out.push_back(std::move(p));
  return out;
}

// The inputs a prediction for this panel uses: its tokens and apen.
Observation PanelPoint(const Panel& p, double layers, double d_model) {
  Observation x = p.rows.front();
  x.layers = layers;
  x.d_model = d_model;
  return x;
}

std::string Terminal(bool png) {
  return png ? "set terminal pngcairo noenhanced size 1000,720 font 'sans,11'\n"
             : "set terminal svg noenhanced size 1000,720 font 'sans,11'\n";
}

// Writes the script, renders PNG then SVG from it.
Status Render(const ReportOptions& o, const std::string& stem, const std::string& body,
              std::vector<std::string>* written) {
  std::string png = (fs::path(o.out_dir) / (stem + ".png")).string();
  std::string svg = (fs::path(o.out_dir) / (stem + ".svg")).string();
  std::string gp = (fs::path(o.out_dir) / (stem + ".gp")).string();
  std::ofstream f(gp);
  f << Terminal(true) << "set output " << Quote(png) << "\n"
    << body << "\n"
    << Terminal(false) << "set output " << Quote(svg) << "\nreplot\nunset output\n";
  f.close();
  if (!f) return Status::IoError("cannot write " + gp);
  PERFLAW_RETURN_IF_ERROR(RunGnuplot(o.gnuplot, gp));
  for (const std::string& p : {gp, png, svg}) written->push_back(p);
  return Status::Ok();
}

std::string PanelTitle(const Study&, const GroupFit& g, const Panel& p) {
  return g.form + " law, " + g.key.metric + ": dataset " + p.dataset + ", max_seq_len " +
         FormatNumber(p.max_seq_len);
}

Status SurfacePlot(const Study& s, const Form& form, const GroupFit& g, const Panel& p,
                   const std::string& stem, const ReportOptions& o,
                   std::vector<std::string>* written) {
  Box box = ObservedBox(p.rows);
  std::string surf = (fs::path(o.out_dir) / (stem + "_fit.dat")).string();
  std::string pts = (fs::path(o.out_dir) / (stem + "_obs.dat")).string();
  std::ofstream fs_(surf), fp(pts);
  fs_ << "# layers d_model predicted_" << g.key.metric << "\n";
  const int n = o.surface_grid;
  for (int i = 0; i < n; ++i) {
    double layers = box.n_lo + (box.n_hi - box.n_lo) * i / (n - 1);
    for (int j = 0; j < n; ++j) {
      double d = box.d_lo + (box.d_hi - box.d_lo) * j / (n - 1);
      fs_ << layers << ' ' << d << ' '
          << form.Eval(g.fit.params.data(), PanelPoint(p, layers, d), nullptr) << '\n';
    }
    fs_ << '\n';
  }
  fp << "# layers d_model observed_" << g.key.metric << "\n";
  for (const Observation& r : p.rows) fp << r.layers << ' ' << r.d_model << ' ' << r.value << '\n';
  fs_.close();
  fp.close();
  written->push_back(surf);
  written->push_back(pts);
  std::ostringstream b;
  b << "set title " << Quote("Fitted surface (" + PanelTitle(s, g, p) + ")") << "\n"
    << "set xlabel 'layers N'\nset ylabel 'embedding dimension d (d_model)'\n"
    << "set zlabel " << Quote(g.key.metric) << " rotate by 90\n"
    << "set view 60, 35\nset key top left\nset ticslevel 0\nset grid\n"
    << "set xrange [" << box.n_lo << ":" << box.n_hi << "]\nset yrange [" << box.d_lo << ":"
    << box.d_hi << "]\n"
    << "splot " << Quote(surf) << " using 1:2:3 with lines lc rgb '#1f77b4' title "
    << Quote("fitted " + g.form + " law") << ", \\\n  " << Quote(pts)
    << " using 1:2:3 with points pt 7 ps 1.3 lc rgb '#d62728' title 'observed'";
  return Render(o, stem + "_surface", b.str(), written);
}

Status CurvePlot(const Study& s, const Form& form, const GroupFit& g, const Panel& p,
                 const std::string& stem, const ReportOptions& o,
                 std::vector<std::string>* written) {
  std::map<double, std::vector<const Observation*>> by_d;
  for (const Observation& r : p.rows) by_d[r.d_model].push_back(&r);
  Box box = ObservedBox(p.rows);
  std::string curves = (fs::path(o.out_dir) / (stem + "_curves.dat")).string();
  std::string pts = (fs::path(o.out_dir) / (stem + "_points.dat")).string();
  std::ofstream fc(curves), fp(pts);
  std::ostringstream plot;
  int idx = 0;
  for (auto& [d, rows] : by_d) {
    fc << "# d_model " << d << ": layers predicted\n";
    for (int i = 0; i < 100; ++i) {
      double layers = box.n_lo + (box.n_hi - box.n_lo) * i / 99.0;
      fc << layers << ' ' << form.Eval(g.fit.params.data(), PanelPoint(p, layers, d), nullptr)
         << '\n';
    }
    fc << "\n\n";
    fp << "# d_model " << d << ": layers observed\n";
    for (const Observation* r : rows) fp << r->layers << ' ' << r->value << '\n';
    fp << "\n\n";
    plot << (idx ? ", \\\n  " : "plot ") << Quote(curves) << " index " << idx
         << " using 1:2 with lines lw 2 lc " << idx + 1 << " title "
         << Quote("fit, d = " + FormatNumber(d)) << ", \\\n  " << Quote(pts) << " index " << idx
         << " using 1:2 with points pt 7 ps 1.2 lc " << idx + 1 << " title "
         << Quote("observed, d = " + FormatNumber(d));
    ++idx;
  }
  fc.close();
  fp.close();
  written->push_back(curves);
  written->push_back(pts);
  std::ostringstream b;
  b << "set title " << Quote(g.key.metric + " against layers per d (" + PanelTitle(s, g, p) + ")")
    << "\nset xlabel 'layers N'\nset ylabel " << Quote(g.key.metric)
    << "\nset key outside right\nset grid\n"
    << "set xrange [" << box.n_lo - 1 << ":" << box.n_hi + 1 << "]\n"
    << plot.str();
  return Render(o, stem + "_curves", b.str(), written);
}

// The form each group was fitted with (the study's, or scaling after a small-grid fallback).
using FormOf = std::function<const Form&(const GroupFit&)>;

Status PredVsObs(const Study& s, const FormOf& form_of, const ReportOptions& o,
                 std::vector<std::string>* written) {
  std::string dat = (fs::path(o.out_dir) / "pred_vs_obs.dat").string();
  std::ofstream f(dat);
  double lo = INFINITY, hi = -INFINITY;
  std::ostringstream plot;
  int idx = 0;
  for (const GroupFit& g : s.groups) {
    if (g.fit.params.empty()) continue;
    // One colour per (group, dataset, L) panel, so a joint fit shows which slice misses.
    for (const Panel& p : Panels(g.rows)) {
      std::string label = g.key.metric + " " + p.dataset + " L=" + FormatNumber(p.max_seq_len);
      f << "# " << label << ": predicted observed\n";
      for (const Observation& r : p.rows) {
        double pred = form_of(g).Eval(g.fit.params.data(), r, nullptr);
        f << pred << ' ' << r.value << '\n';
        lo = std::min({lo, pred, r.value});
        hi = std::max({hi, pred, r.value});
      }
      f << "\n\n";
      plot << ", \\\n  " << Quote(dat) << " index " << idx
           << " using 1:2 with points pt 7 ps 1.1 lc " << idx + 1 << " title " << Quote(label);
      ++idx;
    }
  }
  f.close();
  written->push_back(dat);
  double pad = 0.05 * (hi - lo);
  std::ostringstream b;
  b << "set title " << Quote("Predicted against observed (" + s.form + " law, in-sample)") << "\n"
    << "set xlabel " << Quote("predicted (fitted " + s.form + " law)")
    << "\nset ylabel 'observed'\nset key top left box opaque\nset grid\n"
    << "set size ratio -1\n"
    << "set xrange [" << lo - pad << ":" << hi + pad << "]\nset yrange [" << lo - pad << ":"
    << hi + pad << "]\n"
    << "plot x with lines lc rgb '#888888' dt 2 title 'observed = predicted'" << plot.str();
  return Render(o, "pred_vs_obs", b.str(), written);
}

void ParamTable(const GroupFit& g, std::ostream& md) {
  md << "| parameter | value | " << Num(100 * g.fit.level, 3) << "% bootstrap interval |\n"
     << "|---|---|---|\n";
  for (size_t j = 0; j < g.fit.params.size(); ++j) {
    Interval iv = j < g.fit.param_intervals.size() ? g.fit.param_intervals[j] : Interval();
    const std::string bound = AtBound(g, j, g.fit.params[j]);
    md << "| " << g.param_names[j] << " | " << Num(g.fit.params[j], 6)
       << (bound.empty() ? "" : " (at its " + bound + " bound: not identified)") << " | "
       << (iv.valid() ? "[" + Num(iv.lo) + ", " + Num(iv.hi) + "]" : "n/a") << " |\n";
  }
}

// The fitted curve's optimum, only where the verdict says the data identify it: elsewhere it is a
// number the data do not support (docs/law.md, "Reading the verdict").
void OptimumLines(const GroupFit& g, std::ostream& md) {
  const Optimum& o = g.optimum;
  if (!g.verdict.identified) {
    md << "- not shown: the optimum is not identified (see the verdict above)\n";
    return;
  }
  if (o.has_closed_form) {
    auto axis = [&](const char* name, const AxisOptimum& a, double lo, double hi) {
      md << "- closed-form " << name << " = p^(-1/" << (name[0] == 'N' ? "a" : "b") << "): ";
      const std::string place = MaximumPlace(a, lo, hi);
      const std::string unpinned =
          UnpinnedAxisProblem(g.verdict, name[0] == 'N' ? "layers" : "d_model");
      if (!unpinned.empty())
        md << "not pinned by the data (" << unpinned << ")";
      else if (a.kind == "maximum")
        md << WithInterval(a.at.value, a.at.interval)
           << (place == "above" || place == "below"
                   ? " (maximum " + place + " the searched range [" + Num(lo) + ", " + Num(hi) +
                         "]: an extrapolation)"
                   : std::string(" (maximum)"));
      else
        md << "no interior maximum (the term has a " << a.kind << ")";
      if (a.at.undefined) md << "; no maximum in " << a.at.undefined << " resamples";
      md << "\n";
    };
    axis("N*", o.layers, o.box.n_lo, o.box.n_hi);
    axis("d*", o.d_model, o.box.d_lo, o.box.d_hi);
  }
  md << "- numerical " << (o.higher_is_better ? "argmax" : "argmin") << " in layers ["
     << Num(o.box.n_lo) << ", " << Num(o.box.n_hi) << "] x d_model [" << Num(o.box.d_lo) << ", "
     << Num(o.box.d_hi) << "]: layers " << WithInterval(o.best_layers.value, o.best_layers.interval)
     << ", d_model " << WithInterval(o.best_d_model.value, o.best_d_model.interval)
     << ", predicted " << g.key.metric << " "
     << WithInterval(o.best_value.value, o.best_value.interval) << "\n";
}

void VerdictSection(const Study& s, std::ostream& md) {
  md << "## Verdict\n\n";
  for (const GroupFit& g : s.groups) {
    std::string state = g.verdict.identified ? "identified" : "not identified";
    if (g.verdict.identified && !UnpinnedAxisProblem(g.verdict, "layers").empty())
      state += " in d_model";
    else if (g.verdict.identified && !UnpinnedAxisProblem(g.verdict, "d_model").empty())
      state += " in layers";
    md << "- **" << state << "** — " << g.verdict.summary << "\n";
    for (const std::string& n : g.verdict.next) md << "  - next: " << n << "\n";
  }
  md << "\n";
}

void WriteMarkdown(const Study& s, const std::vector<std::string>& plots, std::ostream& md) {
  // The paper's baseline beside the Performance Law, fitted on the same groups by RunStudy.
  const bool baseline = s.form == "performance";
  md << "# Performance-law report\n\n";
  VerdictSection(s, md);
  md << "Form `" << s.form << "`: `" << s.formula << "`  \n"
     << "Groups by: metric, " << s.group_by << ". In-sample scores use all points; LOO scores "
     << "predict each point from a fit without it. Intervals: bootstrap percentiles"
     << (s.groups.empty()
             ? std::string()
             : std::string(" (resampling ") + ResamplingName(s.groups.front().fit.resampling) +
                   "; tails at Student's t with n - k degrees of freedom, "
                   "docs/law.md)")
     << ".\n\n"
     << "## Fit quality\n\n| group | n | converged | R² in-sample | RMSE in-sample | MAE in-sample "
        "| "
        "MAPE in-sample (%) | R² LOO | RMSE LOO |";
  if (baseline) md << " baseline `scaling` R² in-sample | baseline R² LOO |";
  md << "\n|---|---|---|---|---|---|---|---|---|" << (baseline ? "---|---|" : "") << "\n";
  for (size_t i = 0; i < s.groups.size(); ++i) {
    const GroupFit& g = s.groups[i];
    md << "| " << g.key.Label() << " | " << g.rows.size() << " | "
       << (g.fit.converged ? "yes" : "NO") << " | " << Num(g.fit.in_sample.r2) << " | "
       << Num(g.fit.in_sample.rmse) << " | " << Num(g.fit.in_sample.mae) << " | "
       << Num(g.fit.in_sample.mape) << " | " << Num(g.fit.loo.r2) << " | " << Num(g.fit.loo.rmse)
       << " |";
    if (baseline) {
      const FitResult* b = g.baseline ? &*g.baseline : nullptr;
      md << " " << Num(b ? b->in_sample.r2 : NAN) << " | " << Num(b ? b->loo.r2 : NAN) << " |";
    }
    md << "\n";
  }
  md << "\n## Groups\n";
  for (const GroupFit& g : s.groups) {
    md << "\n### " << g.key.Label() << "\n\n";
    if (!g.fallback.empty())
      md << "Fitted with the `scaling` form instead of `" << s.form << "`: " << g.fallback
         << ".  \n";
    md << "Fit: " << g.fit.summary << "  \n"
       << "Multi-start: " << g.fit.starts << " starts screened, " << g.fit.polished
       << " refined; bootstrap: " << g.fit.bootstrap_params.size() << " resamples ("
       << g.fit.bootstrap_failed << " failed).\n\n";
    ParamTable(g, md);
    md << "\nOptimum:\n\n";
    OptimumLines(g, md);
    if (g.extrapolation) {
      const Extrapolation& e = *g.extrapolation;
      md << "\nExtrapolation: fitted on `" << e.train_where << "` (" << e.n_train
         << " points), held-out " << e.n_test << " points: R² " << Num(e.held_out.r2) << ", RMSE "
         << Num(e.held_out.rmse) << ", MAE " << Num(e.held_out.mae) << ", MAPE "
         << Num(e.held_out.mape) << "%; the subset fit: " << e.fit.summary << "\n";
    } else if (!g.extrapolation_skipped.empty()) {
      md << "\nExtrapolation: not checked: " << g.extrapolation_skipped << "\n";
    }
  }
  md << "\n## Plots\n\n";
  for (const std::string& p : plots) {
    std::string name = fs::path(p).filename().string();
    md << "![" << name << "](" << name << ")\n\n";
  }
}

// ---- line figures ----

size_t NonEmptySeries(const LinePanel& p) {
  return std::count_if(p.series.begin(), p.series.end(),
                       [](const LineSeries& s) { return !s.xy.empty(); });
}

// Writes one block per non-empty series (gnuplot's `index` counts blocks).
void WriteLineData(const LineFigure& f, std::ostream& dat) {
  for (const LinePanel& p : f.panels) {
    for (const LineSeries& s : p.series) {
      if (s.xy.empty()) continue;
      dat << "# " << p.title << ": " << s.label << "\n";
      for (const auto& [x, y] : s.xy) dat << x << ' ' << y << '\n';
      dat << "\n\n";
    }
  }
}

// One panel: a line per series, then a black ring on the last point of each marked series (one
// legend entry for all rings). `*index` is the panel's first data block.
void LinePanelScript(const LineFigure& f, const LinePanel& p, const std::string& dat, int* index,
                     std::ostream& b) {
  b << "set title " << Quote(p.title) << "\nset xlabel " << Quote(p.xlabel) << "\nset ylabel "
    << Quote(p.ylabel) << "\n";
  if (NonEmptySeries(p) == 0) {
    b << "set label 1 'no data' at graph 0.5, 0.5 center\nplot [0:1] [0:1] -1 notitle\n"
      << "unset label 1\n";
    return;
  }
  std::ostringstream lines, rings;
  bool ring_titled = false;
  for (size_t i = 0; i < p.series.size(); ++i) {
    const LineSeries& s = p.series[i];
    if (s.xy.empty()) continue;
    lines << (lines.tellp() > 0 ? ", \\\n  " : "plot ") << Quote(dat) << " index " << *index
          << " using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc " << i + 1 << " title "
          << Quote(s.label);
    if (s.mark_last) {
      const size_t last = s.xy.size() - 1;
      rings << ", \\\n  " << Quote(dat) << " index " << *index << " every ::" << last
            << "::" << last << " using 1:2 with points pt 6 ps 3 lw 2 lc rgb 'black' "
            << (ring_titled ? std::string("notitle") : "title " + Quote(f.mark_label));
      ring_titled = true;
    }
    ++*index;
  }
  b << lines.str() << rings.str() << "\n";
}

std::string LineFigureScript(const LineFigure& f, const std::string& dat) {
  std::ostringstream b;
  b << "set multiplot layout 1," << std::max<size_t>(1, f.panels.size()) << " title "
    << Quote(f.title) << "\nset grid\nset key below\nset autoscale\n";
  int index = 0;
  for (const LinePanel& p : f.panels) LinePanelScript(f, p, dat, &index, b);
  b << "unset multiplot\n";
  return b.str();
}

}  // namespace

bool ReportOptions::IsValid(std::string* why) const {
  if (out_dir.empty()) {
    *why = "--out: an output directory is required";
    return false;
  }
  if (surface_grid < 2) {
    *why = "surface_grid must be >= 2, got " + std::to_string(surface_grid);
    return false;
  }
  return true;
}

Status RunGnuplot(const std::string& program, const std::string& script, const std::string& dir) {
  const std::string cd = "cd " + Quote(dir);
  std::vector<char*> argv = {const_cast<char*>(program.c_str())};
  if (!dir.empty()) {
    argv.push_back(const_cast<char*>("-e"));
    argv.push_back(const_cast<char*>(cd.c_str()));
  }
  argv.push_back(const_cast<char*>(script.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    return Status::FailedPrecondition("cannot run '" + program + "': " + std::strerror(rc) +
                                      " (install gnuplot-nox)");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::Internal("waitpid on gnuplot failed");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Internal("gnuplot failed on " + script);
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> WriteReport(const Study& study, const ReportOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  std::map<std::string, std::unique_ptr<Form>> forms;
  for (const GroupFit& g : study.groups) {
    if (forms.count(g.form)) continue;
    StatusOr<std::unique_ptr<Form>> form = MakeForm(g.form, study.form_options);
    if (!form.ok()) return form.status();
    forms[g.form] = std::move(form).value();
  }
  const FormOf form_of = [&forms](const GroupFit& g) -> const Form& { return *forms.at(g.form); };
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return Status::IoError("cannot create " + options.out_dir + ": " + ec.message());
  std::vector<std::string> written, images;
  for (size_t gi = 0; gi < study.groups.size(); ++gi) {
    const GroupFit& g = study.groups[gi];
    if (g.fit.params.empty()) continue;
    std::vector<Panel> panels = Panels(g.rows);
    for (size_t pi = 0; pi < panels.size(); ++pi) {
      char stem[64];
      std::snprintf(stem, sizeof(stem), "g%02zu_p%02zu", gi + 1, pi + 1);
      PERFLAW_RETURN_IF_ERROR(
          SurfacePlot(study, form_of(g), g, panels[pi], stem, options, &written));
      PERFLAW_RETURN_IF_ERROR(CurvePlot(study, form_of(g), g, panels[pi], stem, options, &written));
      images.push_back(std::string(stem) + "_surface.png");
      images.push_back(std::string(stem) + "_curves.png");
    }
  }
  PERFLAW_RETURN_IF_ERROR(PredVsObs(study, form_of, options, &written));
  images.push_back("pred_vs_obs.png");
  std::string md_path = (fs::path(options.out_dir) / "report.md").string();
  std::ofstream md(md_path);
  WriteMarkdown(study, images, md);
  md << options.appendix_markdown;
  md.close();
  if (!md) return Status::IoError("cannot write " + md_path);
  written.push_back(md_path);
  return written;
}

StatusOr<std::vector<std::string>> WriteLineFigure(const LineFigure& figure, const std::string& dir,
                                                   const std::string& stem,
                                                   const std::string& gnuplot) {
  const std::string dat = stem + ".dat", gp = stem + ".gp";
  const fs::path base(dir);
  std::ofstream fd(base / dat);
  WriteLineData(figure, fd);
  fd.close();
  if (!fd) return Status::IoError("cannot write " + (base / dat).string());
  // Two panels of 750 x 600 pixels side by side; the legends sit below them.
  const size_t width = 750 * std::max<size_t>(1, figure.panels.size());
  const std::string size = " noenhanced size " + std::to_string(width) + ",640 font 'sans,10'\n";
  const std::string body = LineFigureScript(figure, dat);
  std::ofstream fg(base / gp);
  fg << "# perflaw curves: run with `gnuplot " << gp << "` in this directory\n"
     << "set terminal pngcairo" << size << "set output " << Quote(stem + ".png") << "\n"
     << body << "set terminal svg" << size << "set output " << Quote(stem + ".svg") << "\n"
     << body << "unset output\n";
  fg.close();
  if (!fg) return Status::IoError("cannot write " + (base / gp).string());
  PERFLAW_RETURN_IF_ERROR(RunGnuplot(gnuplot, gp, dir));
  std::vector<std::string> written;
  for (const char* ext : {".dat", ".gp", ".png", ".svg"})
    written.push_back((base / (stem + ext)).string());
  return written;
}

}  // namespace perflaw::law
