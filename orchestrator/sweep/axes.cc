#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>

#include "orchestrator/sweep/parser.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ValueText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

json::json_pointer KeyPointer(const std::string& dotted) {
  std::string p;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) p += "/" + part;
  return json::json_pointer(p);
}

namespace {
// Every dotted leaf key of a JSON object.
void Leaves(const json& obj, const std::string& prefix,
            std::vector<std::pair<std::string, json>>* out) {
  for (const auto& item : obj.items()) {
    std::string key = prefix.empty() ? item.key() : prefix + "." + item.key();
    if (item.value().is_object())
      Leaves(item.value(), key, out);
    else
      out->emplace_back(key, item.value());
  }
}
}  // namespace

// Keys that can be grid axes and include/exclude keys: every scalar point key that changes results,
// taken from the canonical point so this list never drifts from the worker's. Plus `dataset`.
const std::vector<std::string>& AxisKeys() {
  static const std::vector<std::string> keys = [] {
    worker::PointConfig defaults;
    std::vector<std::pair<std::string, json>> leaves;
    Leaves(worker::PointConfigToJson(defaults), "", &leaves);
    std::vector<std::string> out = {"dataset"};
    for (const auto& [key, value] : leaves) {
      if (value.is_array() || key == "data.path" || key == "device" || key == "threads") continue;
      out.push_back(key);
    }
    return out;
  }();
  return keys;
}
bool IsAxisKey(const std::string& key) {
  const auto& keys = AxisKeys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

Status SweepParser::AxisKey(const YAML::Node& key_node, const std::string& context,
                            std::string* key) const {
  *key = key_node.Scalar();
  if (IsAxisKey(*key)) return Status::Ok();
  if (*key == "data.path" || *key == "data.synthetic")
    return Error(key_node,
                 context + " " + *key + ": list several datasets under datasets: instead");
  if (*key == "device" || *key == "threads")
    return Error(key_node,
                 context + " " + *key + " does not change results; set it once (resources:)");
  return Error(key_node, "unknown " + context + " key " + *key + Suggest(*key, AxisKeys()));
}

Status SweepParser::DatasetName(const YAML::Node& node, const std::string& name) const {
  std::string value;
  PERFLAW_RETURN_IF_ERROR(String(node, name, &value));
  std::vector<std::string> names;
  for (const auto& ds : sweep_.datasets) names.push_back(ds.name);
  if (std::find(names.begin(), names.end(), value) == names.end())
    return Error(node, name + ": no dataset named \"" + value + "\"" + Suggest(value, names));
  return Status::Ok();
}

Status SweepParser::ParseGrid(const YAML::Node& root) {
  const YAML::Node grid = root["grid"];
  if (!grid) return Status::Ok();
  PERFLAW_RETURN_IF_ERROR(ExpectMap(grid, "grid"));
  for (const auto& item : grid) {
    Axis axis;
    PERFLAW_RETURN_IF_ERROR(AxisKey(item.first, "grid", &axis.key));
    axis.where = LocationOf(item.first);
    const std::string name = "grid." + axis.key;
    if (FixedOrigin(axis.key))
      return Error(item.first, name + " is also a fixed setting (line " +
                                   std::to_string(FixedOrigin(axis.key)->line) + "); remove one");
    if (!item.second.IsSequence())
      return Error(item.second, name + " must be a list of values, e.g. [1, 2]");
    if (item.second.size() == 0)
      return Error(item.second, name + " is empty: an axis needs at least one value");
    for (const auto& v : item.second) {
      StatusOr<json> value = Scalar(v, name + " value");
      if (!value.ok()) return value.status();
      if (axis.key == "dataset") PERFLAW_RETURN_IF_ERROR(DatasetName(v, name));
      for (const auto& seen : axis.values)
        if (seen.value == *value) return Error(v, name + " lists " + v.Scalar() + " twice");
      axis.values.push_back({axis.key, *value, LocationOf(v)});
    }
    axes_.push_back(std::move(axis));
  }
  return Status::Ok();
}

std::optional<YamlLocation> SweepParser::FixedOrigin(const std::string& key) const {
  auto it = fixed_origin_.find(key);
  if (it != fixed_origin_.end()) return it->second;
  for (const auto& origin : dataset_origin_) {
    auto d = origin.find(key);
    if (d != origin.end()) return d->second;
  }
  return std::nullopt;
}

Status SweepParser::ParseEntries(const YAML::Node& root, const std::string& section,
                                 std::vector<Entry>* out) {
  const YAML::Node list = root[section];
  if (!list) return Status::Ok();
  if (!list.IsSequence())
    return Error(
        list, section + " must be a list of mappings, e.g. [{model.layers: 8, model.d_model: 64}]");
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    const std::string name = section + "[" + std::to_string(i) + "]";
    if (!entry.IsMap() || entry.size() == 0)
      return Error(entry, name + " must be a non-empty mapping of axis keys to values");
    PERFLAW_RETURN_IF_ERROR(CheckKeys(entry, name, {}));
    Entry e;
    e.where = LocationOf(entry);
    for (const auto& item : entry) {
      Setting s;
      PERFLAW_RETURN_IF_ERROR(AxisKey(item.first, section, &s.key));
      StatusOr<json> value = Scalar(item.second, name + "." + s.key);
      if (!value.ok()) return value.status();
      if (s.key == "dataset") PERFLAW_RETURN_IF_ERROR(DatasetName(item.second, name + ".dataset"));
      s.value = *value;
      s.where = LocationOf(item.first);
      e.settings.push_back(s);
    }
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

}  // namespace perflaw::orchestrator
