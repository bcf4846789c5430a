// The sweep specification: a YAML file (schema in docs/sweep.md) that expands into grid points.
//
// A sweep uses the point configuration's sections and keys (worker/point_config.h: data, model,
// train, eval, seed, device, threads) for its fixed settings; `grid:` turns keys into axes whose
// Cartesian product is the grid, `include:` adds explicit points and `exclude:` removes matching
// ones. Every expanded point is validated by worker::ParsePointConfig once and carried typed
// (GridPoint::config); its canonical JSON (CanonicalJson, identity.h) is what is stored and sent,
// and its id is a hash of the result-affecting part of that form (PointId), so the same or an
// extended sweep maps equal points to equal ids.
//
// Errors are one line, `FILE:LINE:COL: message`, pointing at the YAML key or value responsible, and
// are returned as InvalidArgument / NotFound (CLI exit code 2). Parsing writes nothing but apen's
// dataset cache (file datasets are profiled through it).
//
// The module, one job per file: schema.h (the parsed sweep), reader.h (typed YAML reads and
// errors), parser.h (sections, datasets, axes, expansion), cost.h (cost estimates), identity.h
// (canonical JSON and point ids), paths.h (paths and the database), datasets.h (synthetic data on
// disk).
#pragma once

#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/sweep/cost.h"
#include "orchestrator/sweep/datasets.h"
#include "orchestrator/sweep/identity.h"
#include "orchestrator/sweep/paths.h"
#include "orchestrator/sweep/schema.h"

namespace perflaw::orchestrator {

// Parses, validates and expands a sweep. Reads (never writes, apart from apen's dataset cache) the
// dataset files: their content enters point ids and their sequence lengths the cost estimates.
StatusOr<Sweep> ParseSweep(const std::string& yaml_text, const std::string& source_name,
                           const SweepParseOptions& options = {});
StatusOr<Sweep> LoadSweep(const std::string& path, const SweepParseOptions& options = {});

// The points `extra` makes, as the sweep written with them appended to its include: list would
// make them (same ids, costs and validation), except points already in `sweep.points`. The
// sweep's exclude: applies. Reads what ParseSweep reads; writes nothing. Errors name the entry.
StatusOr<std::vector<GridPoint>> ExpandExtraPoints(const Sweep& sweep,
                                                   const std::vector<ExtraPoint>& extra);

}  // namespace perflaw::orchestrator
