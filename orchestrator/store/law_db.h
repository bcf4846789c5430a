// The results database as input of the law commands: completed points -> law::Observation rows,
// and fits -> the `fits` table. Lives here, not in law/, because law/ is free of SQLite.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "apen/status.h"
#include "law/data.h"
#include "orchestrator/store/results_db.h"

namespace perflaw::orchestrator {

struct LawDbOptions {
  std::string split = "test";  // result_metrics split the metric is read from: test or valid
  std::string metric;          // "HR@10", "NDCG@10", "MRR"; empty = every ranking metric
  std::string
      protocol;       // "full", "sampled:K"; empty = the one protocol present (mixing is refused)
  std::string sweep;  // only the points of this sweep (id or name); empty = every sweep
  bool IsValid(std::string* why) const;
};

// What was read, and the selection it amounts to (stored with each fit).
struct LawDbInput {
  std::vector<law::Observation> rows;
  std::string protocol;    // the single protocol of the rows
  std::string eval_seeds;  // the evaluation seeds of the rows ("0", or "0, 1")
  int64_t points = 0;      // completed points read
  int64_t sweep = 0;       // the sweep selected (0: every sweep)
  int64_t sweeps = 0;      // sweeps in the database
  bool read = false;       // false until ReadObservations succeeded
  // Each row's dataset name -> its data.path (for messages naming the file).
  std::map<std::string, std::string> dataset_paths;
};

// Reads every COMPLETED point of the database, or of options.sweep (opened read-only; a missing
// file is NotFound):
// dataset = the stem of the config's data.path (the sweep's default dataset name; the full path
// where two paths share a stem; "stem{key=value}" per variant when one path is read with several
// data options, e.g. a data.user_fraction axis), max_seq_len, layers, d_model from the config JSON,
// one row per hr@K / ndcg@K / mrr of `options.split` (metric names HR@K, NDCG@K, MRR) with its
// evaluated users, the result's best epoch and epochs run (for the verdict), tokens and apen from
// the dataset_stats rows of the point's data options and max_seq_len when one value is stored
// (a point keeping every user falls back to the file's rows), and likewise the transition entropy
// (schema version 3 on). Errors (exit 2):
// no completed points, several protocols without options.protocol, no rows for the selection.
StatusOr<LawDbInput> ReadObservations(const std::string& db_path, const LawDbOptions& options);

// Stores the fits in one write transaction each (the database is opened for writing only here).
// Returns each fit's id, and whether an identical fit was already stored (nothing written for it).
StatusOr<std::vector<StoredFit>> StoreFits(const std::string& db_path,
                                           const std::vector<FitRecord>& fits);

}  // namespace perflaw::orchestrator
