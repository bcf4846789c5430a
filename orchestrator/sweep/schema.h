// What a sweep is once parsed (schema in docs/sweep.md): its datasets, resources, failure policy,
// law section and expanded points. Parsing: orchestrator/sweep/sweep.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "apen/synth.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {

// A 1-based position in the YAML text (0: unknown).
struct YamlLocation {
  int line = 0;
  int column = 0;
};

// One dataset of the sweep: a file, or a synthetic dataset materialized under the work dir.
struct DatasetSpec {
  std::string name;  // `datasets[].name`; default: the file's stem, or "synthetic"
  bool synthetic = false;
  apen::SynthOptions synth;  // when synthetic (threads is 0: never part of the data)
  // The file the points read: the resolved path, or for synthetic data
  // WORK_DIR/data/synthetic-<hash of synth.CanonicalString()>.bin (binary format).
  std::string path;
  // What identifies the data in point ids: "file:<64-bit content hash>" or "synthetic:<options>".
  std::string identity;
  YamlLocation where;  // the dataset's mapping in the YAML
};

// `resources:` how points are run (never part of a point's id).
struct Resources {
  uint32_t ranks_per_point = 1;  // ranks training one point data-parallel (one per GPU)
  uint32_t workers = 2;          // worker ranks `perflaw run` starts (its --np default)
  bool IsValid(std::string* why) const;
};

// `policy.adaptive:` law-guided rounds after the grid (docs/sweep.md, "Adaptive rounds"): when
// every point is done, `perflaw run` fits the law, asks `perflaw suggest` for the next points of
// each group not yet identified, adds them to the sweep and trains them, round after round.
struct AdaptivePolicy {
  uint32_t rounds = 0;            // rounds after the grid, at most (0: off, the default)
  uint32_t points_per_round = 4;  // new points per round over all groups (1 to 1000)
  // New points over all rounds, at most (0: rounds x points_per_round).
  uint64_t budget_points = 0;
  // When a group needs no more points: "identified" (the verdict identifies an optimum, on at
  // least one axis) or "all_axes" (both layers and d_model pinned).
  std::string stop_when = "identified";
  // A pinned axis counts only when its optimum's interval hi / lo is at most this (> 1); the
  // verdict's own limit is 4.
  double max_interval_ratio = 4;
  // The metric and form whose verdict drives the rounds: law.metrics[0] and the first of law.forms
  // with an optimum, unless given (then they must be among law.metrics / law.forms).
  std::string metric, form;
  bool enabled() const { return rounds > 0; }
  uint64_t budget() const {
    return budget_points > 0 ? budget_points : uint64_t{rounds} * points_per_round;
  }
  bool IsValid(std::string* why) const;
};

// `policy:` failure handling (never part of a point's id). Times in seconds.
struct Policy {
  uint32_t max_attempts = 3;       // attempts per point before it stays FAILED (>= 1)
  double point_timeout = 0;        // wall seconds per attempt; 0: no limit
  double heartbeat_interval = 10;  // a busy worker group reports this often (> 0)
  double heartbeat_timeout = 60;   // silence after which a group is presumed dead (> interval)
  // A busy group this close to its expected end is sent its next point (>= 0; 0: off); see
  // SchedulerOptions::dispatch_ahead.
  double dispatch_ahead = 1;
  // The most points a sweep may make (grid x datasets plus include, counted before anything is
  // built): a larger one is refused with the count instead of being expanded (>= 1).
  uint64_t max_points = 100000;
  AdaptivePolicy adaptive;
  bool IsValid(std::string* why) const;
};

// `law:` the fit run when the grid completes.
struct LawSpec {
  bool enabled = true;
  std::vector<std::string> metrics = {"HR@10", "NDCG@10"};  // HR@K / NDCG@K (K in eval.ks) or MRR
  std::vector<std::string> forms = {"performance", "scaling"};  // law::FormNames()
  std::vector<std::string>
      group_by;  // axis keys fitted separately (e.g. dataset, data.max_seq_len)
};
// One expanded point.
struct GridPoint {
  std::string id;              // 32 hex digits: PointId(config, the dataset's identity)
  worker::PointConfig config;  // validated; its canonical JSON is CanonicalJson(config)
  std::string dataset;         // DatasetSpec::name
  std::map<std::string, std::string>
      axes;                         // the grid axes' values (and `dataset` if several), for display
  double non_embedding_params = 0;  // law::NonEmbeddingParams(ModelShapeOf(config))
  double tokens = 0;  // epochs x sum over kept training users of min(train length, max_seq_len)
  double cost = 0;    // non_embedding_params x tokens: the order of largest-first dispatch
};

struct Sweep {
  std::string name;
  std::string source;     // the YAML file (or the name given to ParseSweep)
  std::string yaml_text;  // the YAML as read, stored with the sweep's results
  std::string base_dir;   // relative paths are resolved against this (the YAML's directory)
  std::string db_path;    // `db:`, default BASE_DIR/NAME.db
  std::string work_dir;   // `work_dir:`, default BASE_DIR/NAME-work (checkpoints, synthetic data)
  std::vector<DatasetSpec> datasets;
  Resources resources;
  Policy policy;
  LawSpec law;
  std::vector<GridPoint> points;  // grid order, then include order; ids unique
  // The keys of GridPoint::axes in display order: dataset (if several), then the grid axes as
  // written, then keys only include entries set.
  std::vector<std::string> axis_names;
  // How the points came about.
  size_t grid_points = 0;       // Cartesian product (x datasets)
  size_t included_points = 0;   // from include:
  size_t excluded_points = 0;   // removed by exclude:
  size_t duplicate_points = 0;  // dropped because an earlier point had the same id
};

struct SweepParseOptions {
  // Relative paths resolve against this; "" = the directory of `source_name` (or the current one).
  std::string base_dir;
  // Dataset cache used while profiling file datasets for the cost estimate.
  apen::CacheOptions cache;
};
// A point added to a parsed sweep (adaptive rounds): what an include: entry with these keys makes.
struct ExtraPoint {
  std::string dataset;                     // DatasetSpec::name; "" with one dataset
  std::map<std::string, double> settings;  // e.g. model.layers, model.d_model, data.max_seq_len
};
}  // namespace perflaw::orchestrator
