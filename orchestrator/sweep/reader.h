// Reading the sweep YAML: plain scalars as JSON, typed values with their range checks, and errors
// of one line, `FILE:LINE:COL: message`, pointing at the YAML node responsible.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/sweep/schema.h"

namespace perflaw::orchestrator {

// The 1-based position of a node (0: unknown).
YamlLocation LocationOf(const YAML::Node& node);

// "SOURCE:LINE:COL: " (or "SOURCE: " when the position is unknown): the prefix of every error.
std::string WhereIn(const std::string& source, YamlLocation at);

// A plain YAML scalar as JSON: null, bool, integer, float, else string. Quoted scalars stay
// strings.
nlohmann::json ScalarToJson(const YAML::Node& node);

// " (did you mean X?)" for a close match, else the list of known keys.
std::string Suggest(const std::string& key, const std::vector<std::string>& known);

// Typed reads of the YAML of one source; every error names the source and the node's position.
class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  std::string Where(YamlLocation at) const;
  Status ErrorAt(YamlLocation at, const std::string& msg) const;
  Status Error(const YAML::Node& node, const std::string& msg) const;
  // Checks a mapping's keys (duplicates, unknown keys with a suggestion).
  Status CheckKeys(const YAML::Node& map, const std::string& section,
                   const std::vector<std::string>& known) const;
  Status ExpectMap(const YAML::Node& node, const std::string& name) const;
  StatusOr<nlohmann::json> Scalar(const YAML::Node& node, const std::string& name) const;
  Status Uint(const YAML::Node& node, const std::string& name, uint64_t max, uint64_t* out) const;
  Status Uint32(const YAML::Node& node, const std::string& name, uint32_t* out) const;
  Status Double(const YAML::Node& node, const std::string& name, double* out) const;
  Status String(const YAML::Node& node, const std::string& name, std::string* out) const;
  Status Bool(const YAML::Node& node, const std::string& name, bool* out) const;
  Status StringList(const YAML::Node& node, const std::string& name,
                    std::vector<std::string>* out) const;
  // Any YAML value as JSON (mappings need string keys; duplicates are errors).
  StatusOr<nlohmann::json> ToJson(const YAML::Node& node, const std::string& name) const;

 private:
  std::string source_;
};

}  // namespace perflaw::orchestrator
