// `perflaw report`: plots (PNG + SVG through gnuplot) and a Markdown summary of a study.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "apen/status.h"
#include "law/pipeline.h"

namespace perflaw::law {

struct ReportOptions {
  std::string out_dir;              // created if missing
  std::string gnuplot = "gnuplot";  // executable, looked up on PATH
  int surface_grid = 30;            // fitted-surface samples per axis
  std::string appendix_markdown;    // appended to report.md (perflaw report: the training curves)
  bool IsValid(std::string* why) const;
};

// Writes into out_dir: report.md; per (dataset, L) panel gNN_pMM_surface.{png,svg} and
// gNN_pMM_curves.{png,svg}; pred_vs_obs.{png,svg}; the .dat and .gp files behind every plot.
// For the `performance` form report.md shows each group's scaling baseline (GroupFit::baseline)
// beside it. Returns the paths written.
StatusOr<std::vector<std::string>> WriteReport(const Study& study, const ReportOptions& options);

// Runs `program script` without a shell (posix_spawnp); error if it fails or exits non-zero. With
// `dir`, gnuplot first changes into it, so that the script's relative file names resolve there.
Status RunGnuplot(const std::string& program, const std::string& script,
                  const std::string& dir = "");

// A figure of line plots (`perflaw curves`): panels side by side, one line per series in each.
struct LineSeries {
  std::string label;                          // legend entry
  std::vector<std::pair<double, double>> xy;  // finite (x, y) in x order
  bool mark_last = false;                     // ring its last point (LineFigure::mark_label)
};
struct LinePanel {
  std::string title, xlabel, ylabel;
  std::vector<LineSeries> series;
};
struct LineFigure {
  std::string title;
  std::string mark_label;  // legend entry of the rings drawn for mark_last series
  std::vector<LinePanel> panels;
};

// Writes DIR/STEM.dat (one block per panel and series) and DIR/STEM.gp, and renders DIR/STEM.png
// and DIR/STEM.svg with gnuplot run in DIR: the script names its files relative to DIR, so it
// still works after the files are moved together. Returns the paths written (.dat, .gp, .png,
// .svg).
StatusOr<std::vector<std::string>> WriteLineFigure(const LineFigure& figure, const std::string& dir,
                                                   const std::string& stem,
                                                   const std::string& gnuplot = "gnuplot");

}  // namespace perflaw::law
