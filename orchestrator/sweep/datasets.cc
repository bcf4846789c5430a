#include "orchestrator/sweep/datasets.h"

#include <filesystem>

#include "apen/cache.h"
#include "apen/hash.h"
#include "apen/synth.h"
#include "orchestrator/sweep/parser.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;

Status SweepParser::ParseDatasets(const YAML::Node& root) {
  const YAML::Node data = root["data"];
  const YAML::Node list = root["datasets"];
  if (data) PERFLAW_RETURN_IF_ERROR(ExpectMap(data, "data"));
  const bool single = data && (data["path"] || data["synthetic"]);
  if (list && single)
    return Error(
        data["path"] ? data["path"] : data["synthetic"],
        "data.path / data.synthetic cannot be combined with datasets:; give each dataset there");
  // Shared data keys (everything but path / synthetic) are fixed settings of every point.
  if (data) {
    for (const auto& item : data) {
      const std::string key = item.first.Scalar();
      if (key == "path" || key == "synthetic" || key == "name") continue;
      StatusOr<json> v = ToJson(item.second, "data." + key);
      if (!v.ok()) return v.status();
      fixed_[KeyPointer("data." + key)] = *v;
      fixed_origin_["data." + key] = LocationOf(item.first);
    }
    if (data["name"]) return Error(data["name"], "data.name is only used in datasets: entries");
  }
  if (single) return AddDataset(data, "data", true);
  if (!list) return Error(root, "no dataset: give data.path, data.synthetic or a datasets: list");
  if (!list.IsSequence() || list.size() == 0)
    return Error(list,
                 "datasets must be a non-empty list of mappings (each with path: or synthetic:)");
  for (size_t i = 0; i < list.size(); ++i)
    PERFLAW_RETURN_IF_ERROR(AddDataset(list[i], "datasets[" + std::to_string(i) + "]", false));
  return Status::Ok();
}

Status SweepParser::AddDataset(const YAML::Node& node, const std::string& name,
                               bool shared_section) {
  if (!node.IsMap()) return Error(node, name + " must be a mapping with path: or synthetic:");
  PERFLAW_RETURN_IF_ERROR(CheckKeys(node, name, {}));
  DatasetSpec ds;
  ds.where = LocationOf(node);
  if (node["path"] && node["synthetic"])
    return Error(node["synthetic"], name + " has both path and synthetic; give one");
  if (!node["path"] && !node["synthetic"]) return Error(node, name + " needs path: or synthetic:");
  json data = json::object();
  std::map<std::string, YamlLocation> origin;
  if (!shared_section) {
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      if (key == "path" || key == "synthetic" || key == "name") continue;
      StatusOr<json> v = ToJson(item.second, "data." + key);
      if (!v.ok()) return v.status();
      data[key] = *v;
      origin["data." + key] = LocationOf(item.first);
    }
  }
  if (node["synthetic"]) {
    PERFLAW_RETURN_IF_ERROR(ParseSynthetic(node["synthetic"], name + ".synthetic", &ds));
    if (data.contains("format"))
      return Error(node["format"], name + ": synthetic data is always binary; drop format");
    if (fixed_.contains("data") && fixed_["data"].contains("format"))
      return ErrorAt(fixed_origin_["data.format"],
                     "data.format: synthetic data is always binary; drop format");
    data["format"] = "binary";
  } else {
    std::string path;
    PERFLAW_RETURN_IF_ERROR(String(node["path"], name + ".path", &path));
    ds.path = ResolvePath(path);
    std::error_code ec;
    if (!fs::is_regular_file(ds.path, ec))
      return Status::NotFound(Where(LocationOf(node["path"])) + name +
                              ".path: dataset file not found: " + ds.path);
    StatusOr<uint64_t> hash = apen::HashFile(ds.path);
    if (!hash.ok())
      return Status::NotFound(Where(LocationOf(node["path"])) + hash.status().message());
    ds.identity = "file:" + apen::Hex64(*hash);
    ds.name = fs::path(ds.path).stem().string();
  }
  data["path"] = ds.path;
  origin["data.path"] = LocationOf(node["path"] ? node["path"] : node["synthetic"]);
  if (node["name"]) PERFLAW_RETURN_IF_ERROR(String(node["name"], name + ".name", &ds.name));
  for (const auto& other : sweep_.datasets)
    if (other.name == ds.name)
      return Error(node["name"] ? node["name"] : node,
                   "two datasets are named \"" + ds.name + "\"; give each a distinct name:");
  sweep_.datasets.push_back(ds);
  dataset_data_.push_back(data);
  dataset_origin_.push_back(origin);
  return Status::Ok();
}

Status SweepParser::ParseSynthetic(const YAML::Node& node, const std::string& name,
                                   DatasetSpec* ds) {
  if (!node.IsMap())
    return Error(node, name + " must be a mapping (users, items, mean_length, ...)");
  PERFLAW_RETURN_IF_ERROR(
      CheckKeys(node, name,
                {"users", "items", "mean_length", "interactions", "min_length", "predictability",
                 "markov_out_degree", "topics", "topic_order", "popularity_exponent", "seed"}));
  apen::SynthOptions& s = ds->synth;
  if (node["users"])
    PERFLAW_RETURN_IF_ERROR(Uint(node["users"], name + ".users", 1ULL << 40, &s.users));
  if (node["items"]) PERFLAW_RETURN_IF_ERROR(Uint32(node["items"], name + ".items", &s.items));
  if (node["mean_length"])
    PERFLAW_RETURN_IF_ERROR(Double(node["mean_length"], name + ".mean_length", &s.mean_length));
  if (node["interactions"])
    PERFLAW_RETURN_IF_ERROR(
        Uint(node["interactions"], name + ".interactions", 1ULL << 40, &s.interactions));
  if (node["min_length"])
    PERFLAW_RETURN_IF_ERROR(Uint32(node["min_length"], name + ".min_length", &s.min_length));
  if (node["predictability"])
    PERFLAW_RETURN_IF_ERROR(
        Double(node["predictability"], name + ".predictability", &s.predictability));
  if (node["markov_out_degree"])
    PERFLAW_RETURN_IF_ERROR(
        Uint32(node["markov_out_degree"], name + ".markov_out_degree", &s.markov_out_degree));
  if (node["topics"]) PERFLAW_RETURN_IF_ERROR(Uint32(node["topics"], name + ".topics", &s.topics));
  if (node["topic_order"])
    PERFLAW_RETURN_IF_ERROR(Uint32(node["topic_order"], name + ".topic_order", &s.topic_order));
  if (node["popularity_exponent"])
    PERFLAW_RETURN_IF_ERROR(
        Double(node["popularity_exponent"], name + ".popularity_exponent", &s.popularity_exponent));
  if (node["seed"]) PERFLAW_RETURN_IF_ERROR(Uint(node["seed"], name + ".seed", ~0ULL, &s.seed));
  s.threads = 0;
  std::string why;
  if (!s.IsValid(&why)) {
    std::string key = why.substr(0, why.find(' '));
    return Error(node[key] ? node[key] : node, name + "." + why);
  }
  const std::string canonical = s.CanonicalString();
  ds->synthetic = true;
  ds->name = "synthetic";
  ds->identity = "synthetic:" + canonical;
  ds->path = (fs::path(sweep_.work_dir) / "data" /
              ("synthetic-" + apen::Hex64(apen::HashString(canonical)) + ".bin"))
                 .string();
  return Status::Ok();
}

StatusOr<std::vector<std::string>> MaterializeSyntheticData(const Sweep& sweep) {
  std::vector<std::string> written;
  for (const auto& ds : sweep.datasets) {
    if (!ds.synthetic) continue;
    std::error_code ec;
    if (fs::exists(ds.path, ec)) {
      StatusOr<apen::Dataset> existing = apen::ReadBinaryDataset(ds.path);
      if (existing.ok() && existing->options == ds.synth.CanonicalString()) continue;
    }
    fs::create_directories(fs::path(ds.path).parent_path(), ec);
    if (ec)
      return Status::IoError(fs::path(ds.path).parent_path().string() +
                             ": cannot create: " + ec.message());
    apen::Dataset data = apen::GenerateSynthetic(ds.synth);
    PERFLAW_RETURN_IF_ERROR(apen::WriteBinaryDataset(ds.path, data, 0));
    written.push_back(ds.path);
  }
  return written;
}

}  // namespace perflaw::orchestrator
