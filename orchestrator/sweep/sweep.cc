#include "orchestrator/sweep/sweep.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "orchestrator/sweep/parser.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;

StatusOr<Sweep> ParseSweep(const std::string& yaml_text, const std::string& source_name,
                           const SweepParseOptions& options) {
  try {
    return SweepParser(source_name, options).Parse(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(source_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

StatusOr<std::vector<GridPoint>> ExpandExtraPoints(const Sweep& sweep,
                                                   const std::vector<ExtraPoint>& extra) {
  if (extra.empty()) return std::vector<GridPoint>{};
  YAML::Node root;
  try {
    root = YAML::Load(sweep.yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(sweep.source + ": " + e.msg);
  }
  YAML::Node include = root["include"];
  if (!include || include.IsNull()) include = YAML::Node(YAML::NodeType::Sequence);
  for (const ExtraPoint& e : extra) {
    YAML::Node entry(YAML::NodeType::Map);
    if (!e.dataset.empty()) entry["dataset"] = e.dataset;
    for (const auto& [key, value] : e.settings) {
      // Whole numbers stay integers (point keys such as model.layers are integers).
      if (value == std::floor(value) && std::fabs(value) < 9e15)
        entry[key] = static_cast<long long>(value);
      else
        entry[key] = value;
    }
    include.push_back(entry);
  }
  root["include"] = include;
  YAML::Emitter emitter;
  emitter << root;
  SweepParseOptions options;
  options.base_dir = sweep.base_dir;
  StatusOr<Sweep> extended = ParseSweep(
      emitter.c_str(),
      sweep.source + " (with " + std::to_string(extra.size()) + " added include entries)", options);
  if (!extended.ok()) return extended.status();
  std::unordered_set<std::string> known;
  for (const GridPoint& p : sweep.points) known.insert(p.id);
  std::vector<GridPoint> added;
  for (GridPoint& p : extended->points)
    if (!known.count(p.id)) added.push_back(std::move(p));
  return added;
}

StatusOr<Sweep> LoadSweep(const std::string& path, const SweepParseOptions& options) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || fs::is_directory(path, ec))
    return Status::NotFound(path + ": cannot open the sweep file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSweep(ss.str(), path, options);
}

}  // namespace perflaw::orchestrator
