#include "orchestrator/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "apen/cache.h"
#include "apen/did_you_mean.h"
#include "apen/hash.h"
#include "law/forms.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// `p` against the sweep file's folder when relative, normalised.
std::string ResolveAgainst(const std::string& base_dir, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) path = fs::path(base_dir) / path;
  return path.lexically_normal().string();
}

// The results database of a sweep: its `db:` or NAME.db, against the sweep file's folder.
std::string DbPathOf(const std::string& name, const std::optional<std::string>& db,
                     const std::string& base_dir) {
  return ResolveAgainst(base_dir, db.value_or(name + ".db"));
}

// ParsePointConfig prefixes its messages with the source name; this one is stripped again.
const char kPointSource[] = "<point>";

// " (did you mean X?)" for a close match, else the list of known keys.
std::string Suggest(const std::string& key, const std::vector<std::string>& known) {
  if (const std::string* best = ClosestMatch(key, known)) return " (did you mean " + *best + "?)";
  return " (known keys: " + JoinWords(known) + ")";
}

YamlLocation LocationOf(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

// A plain YAML scalar as JSON: null, bool, integer, float, else string. Quoted scalars stay
// strings.
json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  size_t digits_from = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool integer = s.size() > digits_from && std::all_of(s.begin() + digits_from, s.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  try {
    if (integer && s[0] == '-') return std::stoll(s);
    if (integer) return std::stoull(s.substr(digits_from));
  } catch (const std::exception&) {
    return s;  // out of range: let the consumer report the type
  }
  if (s == ".inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf") return -std::numeric_limits<double>::infinity();
  if (s == ".nan") return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  double x = std::strtod(s.c_str(), &end);
  bool numeric = end == s.c_str() + s.size() &&
                 s.find_first_of("0123456789") != std::string::npos &&
                 s.find_first_of("xXpP") == std::string::npos;  // no hex floats
  if (numeric) return x;
  return s;
}

std::string Display(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

json::json_pointer Pointer(const std::string& dotted) {
  std::string p;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) p += "/" + part;
  return json::json_pointer(p);
}

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

bool Fail(std::string* why, const std::string& msg) {
  if (why) *why = msg;
  return false;
}

std::string Num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// One axis value or include/exclude setting, with where it was written.
struct Setting {
  std::string key;
  json value;
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

// Sequence lengths of a dataset (before subsampling), for the token estimate.
using Profile = std::vector<uint32_t>;

class SweepParser {
 public:
  SweepParser(const std::string& source, const SweepParseOptions& options) : options_(options) {
    sweep_.source = source;
    std::string base = options.base_dir;
    if (base.empty()) base = fs::path(source).parent_path().string();
    if (base.empty()) base = ".";
    std::error_code ec;
    fs::path abs = fs::absolute(base, ec);
    sweep_.base_dir = (ec ? fs::path(base) : abs).lexically_normal().string();
  }

  StatusOr<Sweep> Parse(const std::string& text) {
    sweep_.yaml_text = text;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      return Status::InvalidArgument(Where({e.mark.line + 1, e.mark.column + 1}) + e.msg);
    }
    if (!root.IsMap())
      return Error(root, "a sweep must be a YAML mapping (name:, data:, grid:, ...)");
    PERFLAW_RETURN_IF_ERROR(ParseTop(root));
    PERFLAW_RETURN_IF_ERROR(Expand());
    PERFLAW_RETURN_IF_ERROR(CheckLaw());
    PERFLAW_RETURN_IF_ERROR(CheckAdaptive());
    PERFLAW_RETURN_IF_ERROR(EstimateCosts());
    return std::move(sweep_);
  }

 private:
  // ---- Errors ----
  std::string Where(YamlLocation at) const {
    if (at.line <= 0) return sweep_.source + ": ";
    return sweep_.source + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": ";
  }
  Status ErrorAt(YamlLocation at, const std::string& msg) const {
    return Status::InvalidArgument(Where(at) + msg);
  }
  Status Error(const YAML::Node& node, const std::string& msg) const {
    return ErrorAt(LocationOf(node), msg);
  }

  // ---- Typed readers ----
  // Checks a mapping's keys (duplicates, unknown keys with a suggestion).
  Status CheckKeys(const YAML::Node& map, const std::string& section,
                   const std::vector<std::string>& known) const {
    std::vector<std::string> seen;
    for (const auto& item : map) {
      const std::string key = item.first.Scalar();
      const std::string name = section.empty() ? key : section + "." + key;
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        return Error(item.first, "duplicate key " + name);
      seen.push_back(key);
      if (known.empty() || std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::vector<std::string> qualified;
      for (const auto& k : known) qualified.push_back(section.empty() ? k : section + "." + k);
      return Error(item.first, "unknown key " + name + Suggest(name, qualified));
    }
    return Status::Ok();
  }
  Status ExpectMap(const YAML::Node& node, const std::string& name) const {
    if (!node.IsMap()) return Error(node, name + " must be a mapping");
    return CheckKeys(node, name, {});
  }
  StatusOr<json> Scalar(const YAML::Node& node, const std::string& name) const {
    if (!node.IsScalar())
      return Error(node, name + " must be a single value, not a list or mapping");
    return ScalarToJson(node);
  }
  Status Uint(const YAML::Node& node, const std::string& name, uint64_t max, uint64_t* out) const {
    StatusOr<json> v = Scalar(node, name);
    if (!v.ok()) return v.status();
    if (!v->is_number_unsigned() || v->get<uint64_t>() > max)
      return Error(node, name + " must be an integer in [0, " + std::to_string(max) + "], got " +
                             node.Scalar());
    *out = v->get<uint64_t>();
    return Status::Ok();
  }
  Status Uint32(const YAML::Node& node, const std::string& name, uint32_t* out) const {
    uint64_t x = 0;
    PERFLAW_RETURN_IF_ERROR(Uint(node, name, std::numeric_limits<uint32_t>::max(), &x));
    *out = static_cast<uint32_t>(x);
    return Status::Ok();
  }
  Status Double(const YAML::Node& node, const std::string& name, double* out) const {
    StatusOr<json> v = Scalar(node, name);
    if (!v.ok()) return v.status();
    if (!v->is_number()) return Error(node, name + " must be a number, got " + node.Scalar());
    *out = v->get<double>();
    return Status::Ok();
  }
  Status String(const YAML::Node& node, const std::string& name, std::string* out) const {
    StatusOr<json> v = Scalar(node, name);
    if (!v.ok()) return v.status();
    if (!v->is_string()) return Error(node, name + " must be a string, got " + node.Scalar());
    *out = v->get<std::string>();
    return Status::Ok();
  }
  Status Bool(const YAML::Node& node, const std::string& name, bool* out) const {
    StatusOr<json> v = Scalar(node, name);
    if (!v.ok()) return v.status();
    if (!v->is_boolean()) return Error(node, name + " must be true or false, got " + node.Scalar());
    *out = v->get<bool>();
    return Status::Ok();
  }
  Status StringList(const YAML::Node& node, const std::string& name,
                    std::vector<std::string>* out) const {
    if (!node.IsSequence()) return Error(node, name + " must be a list of strings");
    out->clear();
    for (const auto& item : node) {
      std::string s;
      PERFLAW_RETURN_IF_ERROR(String(item, name + " entry", &s));
      out->push_back(s);
    }
    return Status::Ok();
  }
  // Any YAML value as JSON (mappings need string keys; duplicates are errors).
  StatusOr<json> ToJson(const YAML::Node& node, const std::string& name) const {
    if (node.IsScalar()) return ScalarToJson(node);
    if (node.IsNull()) return json(nullptr);
    if (node.IsSequence()) {
      json arr = json::array();
      for (const auto& item : node) {
        StatusOr<json> v = ToJson(item, name);
        if (!v.ok()) return v.status();
        arr.push_back(*v);
      }
      return arr;
    }
    PERFLAW_RETURN_IF_ERROR(CheckKeys(node, name, {}));
    json obj = json::object();
    for (const auto& item : node) {
      StatusOr<json> v = ToJson(item.second, name + "." + item.first.Scalar());
      if (!v.ok()) return v.status();
      obj[item.first.Scalar()] = *v;
    }
    return obj;
  }
  std::string ResolvePath(const std::string& p) const { return ResolveAgainst(sweep_.base_dir, p); }

  // ---- Sections ----
  Status ParseTop(const YAML::Node& root) {
    PERFLAW_RETURN_IF_ERROR(CheckKeys(
        root, "",
        {"name", "description", "data", "datasets", "model", "train", "eval", "seed", "device",
         "threads", "grid", "include", "exclude", "resources", "policy", "law", "db", "work_dir"}));
    PERFLAW_RETURN_IF_ERROR(ParseName(root));
    if (root["description"]) {
      std::string unused;
      PERFLAW_RETURN_IF_ERROR(String(root["description"], "description", &unused));
    }
    std::optional<std::string> db;
    if (root["db"]) {
      db.emplace();
      PERFLAW_RETURN_IF_ERROR(String(root["db"], "db", &*db));
    }
    sweep_.db_path = DbPathOf(sweep_.name, db, sweep_.base_dir);
    sweep_.work_dir = ResolvePath(sweep_.name + "-work");
    if (root["work_dir"]) {
      PERFLAW_RETURN_IF_ERROR(String(root["work_dir"], "work_dir", &sweep_.work_dir));
      sweep_.work_dir = ResolvePath(sweep_.work_dir);
    }
    // Found here, not after mpirun started: a directory as db: or a file as work_dir:.
    std::error_code ec;
    if (fs::is_directory(sweep_.db_path, ec))
      return ErrorAt(root["db"] ? LocationOf(root["db"]) : YamlLocation{1, 1},
                     "db: " + sweep_.db_path + " is a directory; name the database file (e.g. " +
                         (fs::path(sweep_.db_path) / "results.db").string() + ")");
    if (fs::exists(sweep_.work_dir, ec) && !fs::is_directory(sweep_.work_dir, ec))
      return ErrorAt(root["work_dir"] ? LocationOf(root["work_dir"]) : YamlLocation{1, 1},
                     "work_dir: " + sweep_.work_dir + " exists and is not a directory");
    fixed_ = json::object();
    for (const char* section : {"model", "train", "eval"})
      if (root[section]) PERFLAW_RETURN_IF_ERROR(FixedSection(root, section));
    for (const char* key : {"seed", "device", "threads"})
      if (root[key]) PERFLAW_RETURN_IF_ERROR(FixedValue(root, key, key));
    PERFLAW_RETURN_IF_ERROR(ParseResources(root));
    PERFLAW_RETURN_IF_ERROR(ParsePolicy(root));
    PERFLAW_RETURN_IF_ERROR(ParseDatasets(root));
    PERFLAW_RETURN_IF_ERROR(ParseGrid(root));
    PERFLAW_RETURN_IF_ERROR(ParseEntries(root, "include", &includes_));
    PERFLAW_RETURN_IF_ERROR(ParseEntries(root, "exclude", &excludes_));
    return ParseLaw(root);
  }

  Status ParseName(const YAML::Node& root) {
    if (root["name"]) {
      PERFLAW_RETURN_IF_ERROR(String(root["name"], "name", &sweep_.name));
    } else {
      sweep_.name = fs::path(sweep_.source).stem().string();
    }
    bool ok =
        !sweep_.name.empty() && std::all_of(sweep_.name.begin(), sweep_.name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
        });
    if (!ok)
      return ErrorAt(root["name"] ? LocationOf(root["name"]) : YamlLocation{1, 1},
                     "name must be letters, digits, '_', '-' or '.' (it names files), got \"" +
                         sweep_.name + "\"");
    return Status::Ok();
  }

  // model / train / eval: copied as JSON; ParsePointConfig checks the keys and values later, and
  // its messages are mapped back to these keys' locations.
  Status FixedSection(const YAML::Node& root, const std::string& section) {
    const YAML::Node node = root[section];
    PERFLAW_RETURN_IF_ERROR(ExpectMap(node, section));
    for (const auto& item : node) {
      const std::string key = section + "." + item.first.Scalar();
      StatusOr<json> v = ToJson(item.second, key);
      if (!v.ok()) return v.status();
      fixed_[Pointer(key)] = *v;
      fixed_origin_[key] = LocationOf(item.first);
    }
    return Status::Ok();
  }
  Status FixedValue(const YAML::Node& map, const std::string& yaml_key, const std::string& key) {
    if (fixed_.contains(key))
      return Error(map[yaml_key], key + " is given twice (top level and resources); keep one");
    StatusOr<json> v = Scalar(map[yaml_key], key);
    if (!v.ok()) return v.status();
    fixed_[key] = *v;
    fixed_origin_[key] = LocationOf(map[yaml_key]);
    return Status::Ok();
  }

  Status ParseResources(const YAML::Node& root) {
    const YAML::Node node = root["resources"];
    if (!node) return Status::Ok();
    PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "resources"));
    PERFLAW_RETURN_IF_ERROR(
        CheckKeys(node, "resources", {"ranks_per_point", "workers", "device", "threads"}));
    Resources& r = sweep_.resources;
    if (node["ranks_per_point"])
      PERFLAW_RETURN_IF_ERROR(
          Uint32(node["ranks_per_point"], "resources.ranks_per_point", &r.ranks_per_point));
    if (node["workers"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["workers"], "resources.workers", &r.workers));
    // device and threads are point keys (top level in a point file); here they apply to every
    // point.
    if (node["device"]) PERFLAW_RETURN_IF_ERROR(FixedValue(node, "device", "device"));
    if (node["threads"]) PERFLAW_RETURN_IF_ERROR(FixedValue(node, "threads", "threads"));
    std::string why;
    if (!r.IsValid(&why)) return Error(node, why);
    return Status::Ok();
  }

  Status ParsePolicy(const YAML::Node& root) {
    const YAML::Node node = root["policy"];
    if (!node) return Status::Ok();
    PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "policy"));
    PERFLAW_RETURN_IF_ERROR(
        CheckKeys(node, "policy",
                  {"max_attempts", "point_timeout", "heartbeat_interval", "heartbeat_timeout",
                   "dispatch_ahead", "max_points", "adaptive"}));
    Policy& p = sweep_.policy;
    if (node["max_attempts"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["max_attempts"], "policy.max_attempts", &p.max_attempts));
    if (node["point_timeout"])
      PERFLAW_RETURN_IF_ERROR(
          Double(node["point_timeout"], "policy.point_timeout", &p.point_timeout));
    if (node["heartbeat_interval"])
      PERFLAW_RETURN_IF_ERROR(
          Double(node["heartbeat_interval"], "policy.heartbeat_interval", &p.heartbeat_interval));
    if (node["heartbeat_timeout"])
      PERFLAW_RETURN_IF_ERROR(
          Double(node["heartbeat_timeout"], "policy.heartbeat_timeout", &p.heartbeat_timeout));
    if (node["dispatch_ahead"])
      PERFLAW_RETURN_IF_ERROR(
          Double(node["dispatch_ahead"], "policy.dispatch_ahead", &p.dispatch_ahead));
    if (node["max_points"])
      PERFLAW_RETURN_IF_ERROR(Uint(node["max_points"], "policy.max_points", ~0ULL, &p.max_points));
    if (node["adaptive"]) PERFLAW_RETURN_IF_ERROR(ParseAdaptive(node["adaptive"]));
    std::string why;
    if (!p.IsValid(&why)) {
      // Point at the key the message names.
      std::string key = why.substr(0, why.find(' ')).substr(7);  // after "policy."
      return Error(node[key] ? node[key] : node, why);
    }
    return Status::Ok();
  }

  Status ParseAdaptive(const YAML::Node& node) {
    PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "policy.adaptive"));
    PERFLAW_RETURN_IF_ERROR(CheckKeys(node, "policy.adaptive",
                                      {"rounds", "points_per_round", "budget_points", "stop_when",
                                       "max_interval_ratio", "metric", "form"}));
    AdaptivePolicy& a = sweep_.policy.adaptive;
    if (node["rounds"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["rounds"], "policy.adaptive.rounds", &a.rounds));
    if (node["points_per_round"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["points_per_round"], "policy.adaptive.points_per_round",
                                     &a.points_per_round));
    if (node["budget_points"])
      PERFLAW_RETURN_IF_ERROR(Uint(node["budget_points"], "policy.adaptive.budget_points",
                                   uint64_t{1} << 32, &a.budget_points));
    if (node["stop_when"])
      PERFLAW_RETURN_IF_ERROR(String(node["stop_when"], "policy.adaptive.stop_when", &a.stop_when));
    if (node["max_interval_ratio"])
      PERFLAW_RETURN_IF_ERROR(Double(node["max_interval_ratio"],
                                     "policy.adaptive.max_interval_ratio", &a.max_interval_ratio));
    if (node["metric"])
      PERFLAW_RETURN_IF_ERROR(String(node["metric"], "policy.adaptive.metric", &a.metric));
    if (node["form"])
      PERFLAW_RETURN_IF_ERROR(String(node["form"], "policy.adaptive.form", &a.form));
    std::string why;
    if (!a.IsValid(&why)) {
      const std::string key = why.substr(16, why.find(' ') - 16);  // after "policy.adaptive."
      return Error(node[key] ? node[key] : node, why);
    }
    adaptive_node_ = node;
    return Status::Ok();
  }

  // ---- Datasets ----
  Status ParseDatasets(const YAML::Node& root) {
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
        fixed_[Pointer("data." + key)] = *v;
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

  Status AddDataset(const YAML::Node& node, const std::string& name, bool shared_section) {
    if (!node.IsMap()) return Error(node, name + " must be a mapping with path: or synthetic:");
    PERFLAW_RETURN_IF_ERROR(CheckKeys(node, name, {}));
    DatasetSpec ds;
    ds.where = LocationOf(node);
    if (node["path"] && node["synthetic"])
      return Error(node["synthetic"], name + " has both path and synthetic; give one");
    if (!node["path"] && !node["synthetic"])
      return Error(node, name + " needs path: or synthetic:");
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

  Status ParseSynthetic(const YAML::Node& node, const std::string& name, DatasetSpec* ds) {
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
    if (node["topics"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["topics"], name + ".topics", &s.topics));
    if (node["topic_order"])
      PERFLAW_RETURN_IF_ERROR(Uint32(node["topic_order"], name + ".topic_order", &s.topic_order));
    if (node["popularity_exponent"])
      PERFLAW_RETURN_IF_ERROR(Double(node["popularity_exponent"], name + ".popularity_exponent",
                                     &s.popularity_exponent));
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

  // ---- Grid, include, exclude ----
  Status AxisKey(const YAML::Node& key_node, const std::string& context, std::string* key) const {
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

  Status DatasetName(const YAML::Node& node, const std::string& name) const {
    std::string value;
    PERFLAW_RETURN_IF_ERROR(String(node, name, &value));
    std::vector<std::string> names;
    for (const auto& ds : sweep_.datasets) names.push_back(ds.name);
    if (std::find(names.begin(), names.end(), value) == names.end())
      return Error(node, name + ": no dataset named \"" + value + "\"" + Suggest(value, names));
    return Status::Ok();
  }

  Status ParseGrid(const YAML::Node& root) {
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

  std::optional<YamlLocation> FixedOrigin(const std::string& key) const {
    auto it = fixed_origin_.find(key);
    if (it != fixed_origin_.end()) return it->second;
    for (const auto& origin : dataset_origin_) {
      auto d = origin.find(key);
      if (d != origin.end()) return d->second;
    }
    return std::nullopt;
  }

  Status ParseEntries(const YAML::Node& root, const std::string& section, std::vector<Entry>* out) {
    const YAML::Node list = root[section];
    if (!list) return Status::Ok();
    if (!list.IsSequence())
      return Error(
          list,
          section + " must be a list of mappings, e.g. [{model.layers: 8, model.d_model: 64}]");
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
        if (s.key == "dataset")
          PERFLAW_RETURN_IF_ERROR(DatasetName(item.second, name + ".dataset"));
        s.value = *value;
        s.where = LocationOf(item.first);
        e.settings.push_back(s);
      }
      out->push_back(std::move(e));
    }
    return Status::Ok();
  }

  Status ParseLaw(const YAML::Node& root) {
    const YAML::Node node = root["law"];
    if (!node) return Status::Ok();
    PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "law"));
    PERFLAW_RETURN_IF_ERROR(CheckKeys(node, "law", {"enabled", "metrics", "forms", "group_by"}));
    LawSpec& law = sweep_.law;
    if (node["enabled"])
      PERFLAW_RETURN_IF_ERROR(Bool(node["enabled"], "law.enabled", &law.enabled));
    if (node["metrics"])
      PERFLAW_RETURN_IF_ERROR(StringList(node["metrics"], "law.metrics", &law.metrics));
    if (node["forms"]) PERFLAW_RETURN_IF_ERROR(StringList(node["forms"], "law.forms", &law.forms));
    if (node["group_by"])
      PERFLAW_RETURN_IF_ERROR(StringList(node["group_by"], "law.group_by", &law.group_by));
    if (node["metrics"] && law.metrics.empty())
      return Error(node["metrics"], "law.metrics is empty");
    if (node["forms"] && law.forms.empty()) return Error(node["forms"], "law.forms is empty");
    const std::vector<std::string> forms = law::FormNames();
    for (size_t i = 0; i < law.forms.size(); ++i)
      if (std::find(forms.begin(), forms.end(), law.forms[i]) == forms.end())
        return Error(node["forms"][i], "law.forms: unknown form \"" + law.forms[i] + "\"" +
                                           Suggest(law.forms[i], forms));
    for (size_t i = 0; i < law.group_by.size(); ++i) {
      bool axis = law.group_by[i] == "dataset" ||
                  std::any_of(axes_.begin(), axes_.end(),
                              [&](const Axis& a) { return a.key == law.group_by[i]; });
      if (!axis)
        return Error(node["group_by"][i],
                     "law.group_by: " + law.group_by[i] + " is not a grid axis (nor dataset)");
      // The fit from a results database groups rows by these two only (orchestrator/law_db.h).
      if (law.group_by[i] != "dataset" && law.group_by[i] != "data.max_seq_len")
        return Error(node["group_by"][i], "law.group_by: " + law.group_by[i] +
                                              " cannot be fitted separately (the law groups by "
                                              "dataset and data.max_seq_len only)");
    }
    law_node_ = node;
    return Status::Ok();
  }

  // Metrics must be ones the worker reports for every point: HR@K / NDCG@K with K in eval.ks, or
  // MRR.
  Status CheckLaw() const {
    if (sweep_.points.empty()) return Status::Ok();
    const json& ks = sweep_.points.front().config["eval"]["ks"];
    for (size_t i = 0; i < sweep_.law.metrics.size(); ++i) {
      const std::string& m = sweep_.law.metrics[i];
      if (m == "MRR") continue;
      size_t at = m.find('@');
      std::string name = m.substr(0, at);
      std::string k = at == std::string::npos ? "" : m.substr(at + 1);
      bool ok = (name == "HR" || name == "NDCG") && !k.empty() && k.size() < 8 &&
                std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                std::find(ks.begin(), ks.end(), json(std::stoul(k))) != ks.end();
      if (!ok) {
        YamlLocation at_loc = law_node_ && law_node_["metrics"]
                                  ? LocationOf(law_node_["metrics"][i])
                                  : YamlLocation{};
        return ErrorAt(at_loc,
                       "law.metrics: \"" + m +
                           "\" is not reported; use MRR or HR@K / NDCG@K with K in eval.ks " +
                           ks.dump());
      }
    }
    return Status::Ok();
  }

  // policy.adaptive's metric and form come from the law: section (defaults filled in here).
  Status CheckAdaptive() {
    AdaptivePolicy& a = sweep_.policy.adaptive;
    if (!a.enabled()) return Status::Ok();
    const LawSpec& law = sweep_.law;
    auto at = [&](const char* key) {
      return adaptive_node_[key] ? adaptive_node_[key] : adaptive_node_;
    };
    if (!law.enabled)
      return Error(adaptive_node_, "policy.adaptive needs the law (law.enabled is false)");
    if (a.metric.empty()) a.metric = law.metrics.front();
    if (std::find(law.metrics.begin(), law.metrics.end(), a.metric) == law.metrics.end())
      return Error(at("metric"), "policy.adaptive.metric: \"" + a.metric +
                                     "\" is not one of law.metrics (" + JoinWords(law.metrics) +
                                     ")");
    if (a.form.empty()) {
      for (const std::string& f : law.forms)
        if (f == "performance" || f == "performance-data") {
          a.form = f;
          break;
        }
      if (a.form.empty())
        return Error(adaptive_node_,
                     "policy.adaptive needs a law form with an optimum in law.forms (performance "
                     "or performance-data), got " +
                         JoinWords(law.forms));
    }
    if (a.form != "performance" && a.form != "performance-data")
      return Error(at("form"),
                   "policy.adaptive.form must be performance or performance-data (a "
                   "form with an optimum), got \"" +
                       a.form + "\"");
    if (std::find(law.forms.begin(), law.forms.end(), a.form) == law.forms.end())
      return Error(at("form"), "policy.adaptive.form: \"" + a.form +
                                   "\" is not one of law.forms (" + JoinWords(law.forms) + ")");
    return Status::Ok();
  }

  // ---- Expansion ----
  std::vector<Candidate> GridCandidates() const {
    std::vector<size_t> datasets;
    std::vector<const Axis*> axes;
    for (const auto& a : axes_) {
      if (a.key != "dataset") {
        axes.push_back(&a);
        continue;
      }
      for (const auto& v : a.values)
        for (size_t d = 0; d < sweep_.datasets.size(); ++d)
          if (sweep_.datasets[d].name == v.value.get<std::string>()) datasets.push_back(d);
    }
    if (datasets.empty())
      for (size_t d = 0; d < sweep_.datasets.size(); ++d) datasets.push_back(d);
    std::vector<Candidate> out;
    for (size_t d : datasets) {
      std::vector<size_t> index(axes.size(), 0);  // an odometer over the axes, the last one fastest
      while (true) {
        Candidate c;
        c.dataset = d;
        for (size_t a = 0; a < axes.size(); ++a) c.settings.push_back(axes[a]->values[index[a]]);
        out.push_back(std::move(c));
        size_t a = axes.size();
        while (a > 0 && ++index[a - 1] == axes[a - 1]->values.size()) index[--a] = 0;
        if (a == 0) break;
      }
    }
    return out;
  }

  std::vector<Candidate> IncludeCandidates() const {
    std::vector<Candidate> out;
    for (const auto& e : includes_) {
      std::optional<std::string> dataset;
      std::vector<Setting> settings;
      for (const auto& s : e.settings) {
        if (s.key == "dataset")
          dataset = s.value.get<std::string>();
        else
          settings.push_back(s);
      }
      for (size_t d = 0; d < sweep_.datasets.size(); ++d) {
        if (dataset && sweep_.datasets[d].name != *dataset) continue;
        out.push_back({d, settings, e.where, true});
      }
    }
    return out;
  }

  // Builds, validates and canonicalises one candidate.
  StatusOr<GridPoint> Build(const Candidate& c) const {
    const DatasetSpec& ds = sweep_.datasets[c.dataset];
    json point = fixed_;
    std::map<std::string, YamlLocation> origin = fixed_origin_;
    for (const auto& item : dataset_data_[c.dataset].items())
      point["data"][item.key()] = item.value();
    for (const auto& [key, where] : dataset_origin_[c.dataset]) origin[key] = where;
    for (const auto& s : c.settings) {
      point[Pointer(s.key)] = s.value;
      origin[s.key] = s.where;
    }
    GridPoint gp;
    gp.dataset = ds.name;
    if (sweep_.datasets.size() > 1) gp.axes["dataset"] = ds.name;
    StatusOr<worker::PointConfig> parsed = worker::ParsePointConfig(point.dump(), kPointSource);
    if (!parsed.ok()) return MapPointError(parsed.status(), origin, c);
    gp.config = worker::PointConfigToJson(*parsed);
    for (const auto& s : c.settings) gp.axes[s.key] = Display(gp.config[Pointer(s.key)]);
    gp.id = PointId(gp.config, ds.identity);
    return gp;
  }

  // A ParsePointConfig message names a key ("model.heads (3) must divide model.d_model (64)");
  // point at the first key of the message that the YAML set.
  Status MapPointError(const Status& st, const std::map<std::string, YamlLocation>& origin,
                       const Candidate& c) const {
    std::string msg = st.message();
    const std::string prefix = std::string(kPointSource) + ": ";
    if (msg.compare(0, prefix.size(), prefix) == 0) msg = msg.substr(prefix.size());
    YamlLocation where = c.where;
    bool found = false;
    for (size_t i = 0; i < msg.size() && !found;) {
      size_t j = i;
      while (j < msg.size() &&
             (std::isalnum(static_cast<unsigned char>(msg[j])) || msg[j] == '_' || msg[j] == '.'))
        ++j;
      if (j > i) {
        std::string token = msg.substr(i, j - i);
        while (!token.empty() && token.back() == '.') token.pop_back();
        auto it = origin.find(token);
        if (it != origin.end() && it->second.line > 0) where = it->second, found = true;
      }
      i = j + 1;
    }
    std::vector<std::string> values;
    for (const auto& s : c.settings) values.push_back(s.key + "=" + Display(s.value));
    std::string context;
    if (c.included)
      context =
          " (include entry" + std::string(values.empty() ? "" : ": ") + JoinWords(values) + ")";
    else if (!values.empty())
      context = " (grid point " + JoinWords(values) + ")";
    return ErrorAt(where, msg + context);
  }

  bool Matches(const Entry& e, const GridPoint& p) const {
    for (const auto& s : e.settings) {
      if (s.key == "dataset") {
        if (p.dataset != s.value.get<std::string>()) return false;
      } else if (p.config[Pointer(s.key)] != s.value) {
        return false;
      }
    }
    return true;
  }

  // The points the grid (x datasets) and include would make, counted without building any;
  // saturates instead of overflowing.
  uint64_t CountCandidates(std::string* shape) const {
    auto mul = [](uint64_t a, uint64_t b) {
      return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
    };
    uint64_t datasets = 0, product = 1;
    for (const auto& a : axes_) {
      if (a.key == "dataset") {
        datasets = a.values.size();
        continue;
      }
      product = mul(product, a.values.size());
      *shape += (shape->empty() ? "" : " x ") + std::to_string(a.values.size()) + " " + a.key;
    }
    if (datasets == 0) datasets = sweep_.datasets.size();
    if (datasets > 1) *shape += " x " + std::to_string(datasets) + " datasets";
    const uint64_t grid = mul(product, datasets);
    const uint64_t include = mul(includes_.size(), sweep_.datasets.size());
    return grid > UINT64_MAX - include ? UINT64_MAX : grid + include;
  }

  Status CheckSize() const {
    std::string shape;
    const uint64_t count = CountCandidates(&shape);
    if (count <= sweep_.policy.max_points) return Status::Ok();
    return ErrorAt(
        axes_.empty() ? YamlLocation{1, 1} : axes_.front().where,
        "the grid makes " + (count == UINT64_MAX ? "more than 2^64" : std::to_string(count)) +
            " points (" + shape + (includes_.empty() ? "" : ", plus include") +
            "), more than policy.max_points (" + std::to_string(sweep_.policy.max_points) +
            "): split the sweep, or raise policy.max_points");
  }

  Status Expand() {
    PERFLAW_RETURN_IF_ERROR(CheckSize());
    std::vector<Candidate> grid = GridCandidates();
    std::vector<Candidate> include = IncludeCandidates();
    sweep_.grid_points = grid.size();
    sweep_.included_points = include.size();
    grid.insert(grid.end(), include.begin(), include.end());
    std::vector<size_t> exclude_hits(excludes_.size(), 0);
    std::unordered_set<std::string> ids;
    for (const auto& c : grid) {
      StatusOr<GridPoint> p = Build(c);
      if (!p.ok()) return p.status();
      bool excluded = false;
      for (size_t e = 0; e < excludes_.size(); ++e)
        if (Matches(excludes_[e], *p)) ++exclude_hits[e], excluded = true;
      if (excluded) {
        ++sweep_.excluded_points;
        continue;
      }
      if (!ids.insert(p->id).second) {
        ++sweep_.duplicate_points;
        continue;
      }
      sweep_.points.push_back(std::move(p).value());
    }
    for (size_t e = 0; e < excludes_.size(); ++e)
      if (exclude_hits[e] == 0)
        return ErrorAt(excludes_[e].where, "exclude[" + std::to_string(e) +
                                               "] matches no point of the grid or include");
    if (sweep_.points.empty()) return ErrorAt({1, 1}, "the sweep has no points left after exclude");
    if (sweep_.datasets.size() > 1) sweep_.axis_names.push_back("dataset");
    auto add = [&](const std::string& key) {
      auto& names = sweep_.axis_names;
      if (key != "dataset" && std::find(names.begin(), names.end(), key) == names.end())
        names.push_back(key);
    };
    for (const auto& a : axes_) add(a.key);
    for (const auto& e : includes_)
      for (const auto& s : e.settings) add(s.key);
    // Every point shows every axis (include points take the fixed value where they set none).
    for (auto& p : sweep_.points)
      for (const auto& key : sweep_.axis_names)
        if (key != "dataset") p.axes[key] = Display(p.config[Pointer(key)]);
    return Status::Ok();
  }

  // ---- Cost ----
  // Lengths of a dataset's sequences before subsampling and truncation.
  StatusOr<Profile> LoadProfile(const GridPoint& p, size_t d) const {
    const DatasetSpec& ds = sweep_.datasets[d];
    std::optional<apen::Dataset> loaded;
    if (ds.synthetic) {
      loaded =
          apen::GenerateSynthetic(ds.synth);  // preprocessing keys are not applied: an estimate
    } else {
      StatusOr<worker::PointConfig> cfg = worker::ParsePointConfig(p.config.dump(), kPointSource);
      if (!cfg.ok()) return cfg.status();
      apen::DataOptions o = cfg->data;
      o.user_fraction = 1.0;
      StatusOr<apen::Dataset> data = apen::LoadDataset(o, options_.cache);
      if (!data.ok())
        return Status::InvalidArgument(Where(ds.where) + "dataset " + ds.name + ": " +
                                       data.status().message());
      loaded = std::move(data).value();
    }
    Profile lengths(loaded->num_users());
    for (size_t u = 0; u < lengths.size(); ++u)
      lengths[u] = static_cast<uint32_t>(loaded->sequences.user(u).size);
    return lengths;
  }

  Status EstimateCosts() {
    std::map<std::string, Profile> profiles;
    for (auto& p : sweep_.points) {
      size_t d = 0;
      while (sweep_.datasets[d].name != p.dataset) ++d;
      json key = p.config["data"];
      for (const char* k : {"max_seq_len", "user_fraction", "subsample_seed"}) key.erase(k);
      const std::string profile_key = p.dataset + "\n" + key.dump();
      if (!profiles.count(profile_key)) {
        StatusOr<Profile> profile = LoadProfile(p, d);
        if (!profile.ok()) return profile.status();
        profiles[profile_key] = std::move(profile).value();
      }
      const Profile& lengths = profiles[profile_key];
      const json& data = p.config["data"];
      const double fraction = data["user_fraction"].get<double>();
      const uint64_t seed = data["subsample_seed"].get<uint64_t>();
      const uint64_t max_len = data["max_seq_len"].get<uint64_t>();
      double tokens = 0;
      for (size_t u = 0; u < lengths.size(); ++u) {
        if (fraction < 1 && !apen::KeepUser(u, fraction, seed)) continue;
        uint64_t train = lengths[u] >= 3 ? lengths[u] - 2 : lengths[u];  // leave-one-out
        tokens += static_cast<double>(std::min(train, max_len));
      }
      p.non_embedding_params = law::NonEmbeddingParams(ModelShapeOf(p.config));
      p.tokens = tokens * p.config["train"]["epochs"].get<double>();
      p.cost = p.non_embedding_params * p.tokens;
    }
    return Status::Ok();
  }

  SweepParseOptions options_;
  Sweep sweep_;
  json fixed_ = json::object();
  std::map<std::string, YamlLocation> fixed_origin_;
  std::vector<json> dataset_data_;  // per dataset: its data keys (path, format, overrides)
  std::vector<std::map<std::string, YamlLocation>> dataset_origin_;
  std::vector<Axis> axes_;
  std::vector<Entry> includes_, excludes_;
  YAML::Node law_node_;
  YAML::Node adaptive_node_;
};

}  // namespace

bool Resources::IsValid(std::string* why) const {
  if (ranks_per_point < 1) return Fail(why, "resources.ranks_per_point must be >= 1");
  if (workers < 1) return Fail(why, "resources.workers must be >= 1");
  if (workers % ranks_per_point != 0)
    return Fail(why, "resources.workers (" + std::to_string(workers) +
                         ") must be a multiple of resources.ranks_per_point (" +
                         std::to_string(ranks_per_point) + ")");
  return true;
}

bool Policy::IsValid(std::string* why) const {
  if (max_attempts < 1) return Fail(why, "policy.max_attempts must be >= 1, got 0");
  if (!(point_timeout >= 0 && std::isfinite(point_timeout)))
    return Fail(
        why, "policy.point_timeout must be >= 0 seconds (0: no limit), got " + Num(point_timeout));
  if (!(heartbeat_interval > 0 && std::isfinite(heartbeat_interval)))
    return Fail(why,
                "policy.heartbeat_interval must be > 0 seconds, got " + Num(heartbeat_interval));
  if (!(heartbeat_timeout > heartbeat_interval && std::isfinite(heartbeat_timeout)))
    return Fail(why, "policy.heartbeat_timeout must exceed policy.heartbeat_interval (" +
                         Num(heartbeat_interval) + " s), got " + Num(heartbeat_timeout));
  if (!(dispatch_ahead >= 0 && std::isfinite(dispatch_ahead)))
    return Fail(why,
                "policy.dispatch_ahead must be >= 0 seconds (0: off), got " + Num(dispatch_ahead));
  if (max_points < 1) return Fail(why, "policy.max_points must be >= 1, got 0");
  return adaptive.IsValid(why);
}

bool AdaptivePolicy::IsValid(std::string* why) const {
  if (points_per_round < 1 || points_per_round > 1000)
    return Fail(why, "policy.adaptive.points_per_round must be 1 to 1000, got " +
                         std::to_string(points_per_round));
  if (stop_when != "identified" && stop_when != "all_axes")
    return Fail(
        why, "policy.adaptive.stop_when must be identified or all_axes, got \"" + stop_when + "\"");
  if (!(max_interval_ratio > 1 && std::isfinite(max_interval_ratio)))
    return Fail(why, "policy.adaptive.max_interval_ratio must be a number > 1, got " +
                         Num(max_interval_ratio));
  return true;
}

law::ModelShape ModelShapeOf(const json& config) {
  const json& model = config["model"];
  law::ModelShape m;
  m.type = model["type"].get<std::string>();
  m.layers = model["layers"].get<double>();
  m.d_model = model["d_model"].get<double>();
  m.ffn_multiplier = model["ffn_multiplier"].get<double>();
  m.max_seq_len = config["data"]["max_seq_len"].get<double>();
  return m;
}

std::string PointId(const json& canonical_config, const std::string& data_identity) {
  // train.precision arrived after points were stored: leaving out its default ("auto") keeps the
  // ids of earlier points; an explicit fp32 or bf16 is part of the experiment.
  json identity = worker::ExperimentPart(canonical_config);
  identity["data"]["path"] = data_identity;  // the content, not where the file lies
  return Sha256Hex("perflaw-point-v1\n" + identity.dump()).substr(0, 32);
}

std::optional<std::string> DeclaredDbPath(const std::string& yaml_text,
                                          const std::string& base_dir) {
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap() || !root["name"] || !root["name"].IsScalar()) return std::nullopt;
    std::optional<std::string> db;
    if (root["db"]) {
      if (!root["db"].IsScalar()) return std::nullopt;
      db = root["db"].as<std::string>();
    }
    return DbPathOf(root["name"].as<std::string>(), db, base_dir);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

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
