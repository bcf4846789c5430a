// The sweep parser's inside (orchestrator/sweep/sweep.h is its outside): one SweepParser reads a
// sweep's YAML section by section (sections.cc, datasets.cc, axes.cc), expands the grid, include:
// and exclude: into validated points (expand.cc) and estimates their costs (cost.h).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/sweep/reader.h"
#include "orchestrator/sweep/schema.h"

namespace perflaw::orchestrator {

// ParsePointConfig prefixes its messages with the source name; this one is stripped again.
inline constexpr char kPointSource[] = "<point>";

// A value for messages and display: strings as they are, anything else as JSON.
std::string ValueText(const nlohmann::json& v);

// The JSON pointer of a dotted key ("model.layers" -> /model/layers).
nlohmann::json::json_pointer KeyPointer(const std::string& dotted);

// Keys that can be grid axes and include/exclude keys: every scalar point key that changes results,
// taken from the canonical point so this list never drifts from the worker's. Plus `dataset`.
const std::vector<std::string>& AxisKeys();
bool IsAxisKey(const std::string& key);

// One axis value or include/exclude setting, with where it was written.
struct Setting {
  std::string key;
  nlohmann::json value;
  YamlLocation where;
};

struct Axis {
  std::string key;
  YamlLocation where;
  std::vector<Setting> values;
};

// An include or exclude entry.
struct Entry {
  YamlLocation where;
  std::vector<Setting> settings;
};

// A point before validation: which dataset, and the values set on top of the fixed settings.
struct Candidate {
  size_t dataset = 0;
  std::vector<Setting> settings;  // axes / include values, dataset excluded
  YamlLocation where;             // the include entry, or unknown for grid points
  bool included = false;
};

class SweepParser : private YamlReader {
 public:
  SweepParser(const std::string& source, const SweepParseOptions& options);
  StatusOr<Sweep> Parse(const std::string& text);

 private:
  // A point as built from a candidate: the typed point and its canonical JSON (for exclude: and
  // the axes' display).
  struct Built {
    GridPoint point;
    nlohmann::json canonical;
  };

  std::string ResolvePath(const std::string& p) const;

  // ---- Sections (sections.cc) ----
  Status ParseTop(const YAML::Node& root);
  Status ParseName(const YAML::Node& root);
  // model / train / eval: copied as JSON; ParsePointConfig checks the keys and values later, and
  // its messages are mapped back to these keys' locations.
  Status FixedSection(const YAML::Node& root, const std::string& section);
  Status FixedValue(const YAML::Node& map, const std::string& yaml_key, const std::string& key);
  Status ParseResources(const YAML::Node& root);
  Status ParsePolicy(const YAML::Node& root);
  Status ParseAdaptive(const YAML::Node& node);
  Status ParseLaw(const YAML::Node& root);
  // Metrics must be ones the worker reports for every point: HR@K / NDCG@K with K in eval.ks, or
  // MRR.
  Status CheckLaw() const;
  // policy.adaptive's metric and form come from the law: section (defaults filled in here).
  Status CheckAdaptive();

  // ---- Datasets (datasets.cc) ----
  Status ParseDatasets(const YAML::Node& root);
  Status AddDataset(const YAML::Node& node, const std::string& name, bool shared_section);
  Status ParseSynthetic(const YAML::Node& node, const std::string& name, DatasetSpec* ds);

  // ---- Grid, include, exclude (axes.cc) ----
  Status AxisKey(const YAML::Node& key_node, const std::string& context, std::string* key) const;
  Status DatasetName(const YAML::Node& node, const std::string& name) const;
  Status ParseGrid(const YAML::Node& root);
  std::optional<YamlLocation> FixedOrigin(const std::string& key) const;
  Status ParseEntries(const YAML::Node& root, const std::string& section, std::vector<Entry>* out);

  // ---- Expansion (expand.cc) ----
  std::vector<Candidate> GridCandidates() const;
  std::vector<Candidate> IncludeCandidates() const;
  // Builds, validates and canonicalises one candidate.
  StatusOr<Built> Build(const Candidate& c) const;
  // A ParsePointConfig message names a key ("model.heads (3) must divide model.d_model (64)");
  // point at the first key of the message that the YAML set.
  // Built only for an error: most sweeps have no invalid point, and large ones have 10^5 valid.
  Status MapPointError(const Status& st, const Candidate& c) const;
  // Where each key of the candidate's point was set in the YAML.
  std::map<std::string, YamlLocation> OriginOf(const Candidate& c) const;
  bool Matches(const Entry& e, const Built& b) const;
  // The points the grid (x datasets) and include would make, counted without building any;
  // saturates instead of overflowing.
  uint64_t CountCandidates(std::string* shape) const;
  Status CheckSize() const;
  // Sweep::axis_names, known before any point is built: dataset (if several), the grid axes as
  // written, then keys only include entries set.
  void SetAxisNames();
  Status Expand();

  SweepParseOptions options_;
  Sweep sweep_;
  nlohmann::json fixed_ = nlohmann::json::object();
  std::map<std::string, YamlLocation> fixed_origin_;
  std::vector<nlohmann::json>
      dataset_data_;  // per dataset: its data keys (path, format, overrides)
  std::vector<std::map<std::string, YamlLocation>> dataset_origin_;
  std::vector<Axis> axes_;
  std::vector<Entry> includes_, excludes_;
  YAML::Node law_node_;
  YAML::Node adaptive_node_;
};

}  // namespace perflaw::orchestrator
