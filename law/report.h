// `perflaw report`: plots (PNG + SVG through gnuplot) and a Markdown summary of a study.
#pragma once

#include <string>
#include <vector>

#include "apen/status.h"
#include "law/pipeline.h"

namespace perflaw::law {

struct ReportOptions {
  std::string out_dir;              // created if missing
  std::string gnuplot = "gnuplot";  // executable, looked up on PATH
  int surface_grid = 30;            // fitted-surface samples per axis
  bool IsValid(std::string* why) const;
};

// Writes into out_dir: report.md; per (dataset, L) panel gNN_pMM_surface.{png,svg} and
// gNN_pMM_curves.{png,svg}; pred_vs_obs.{png,svg}; the .dat and .gp files behind every plot.
// For the `performance` form report.md shows each group's scaling baseline (GroupFit::baseline)
// beside it. Returns the paths written.
StatusOr<std::vector<std::string>> WriteReport(const Study& study, const ReportOptions& options);

// Runs `program script` without a shell (posix_spawnp); error if it fails or exits non-zero.
Status RunGnuplot(const std::string& program, const std::string& script);

}  // namespace perflaw::law
