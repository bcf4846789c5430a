#include <algorithm>
#include <cctype>
#include <filesystem>

#include "apen/did_you_mean.h"
#include "law/forms.h"
#include "orchestrator/sweep/cost.h"
#include "orchestrator/sweep/parser.h"
#include "orchestrator/sweep/paths.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;

SweepParser::SweepParser(const std::string& source, const SweepParseOptions& options)
    : YamlReader(source), options_(options) {
  sweep_.source = source;
  std::string base = options.base_dir;
  if (base.empty()) base = fs::path(source).parent_path().string();
  if (base.empty()) base = ".";
  std::error_code ec;
  fs::path abs = fs::absolute(base, ec);
  sweep_.base_dir = (ec ? fs::path(base) : abs).lexically_normal().string();
}

StatusOr<Sweep> SweepParser::Parse(const std::string& text) {
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
  PERFLAW_RETURN_IF_ERROR(EstimateCosts(&sweep_, options_.cache));
  return std::move(sweep_);
}

std::string SweepParser::ResolvePath(const std::string& p) const {
  return ResolveAgainst(sweep_.base_dir, p);
}

Status SweepParser::ParseTop(const YAML::Node& root) {
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

Status SweepParser::ParseName(const YAML::Node& root) {
  if (root["name"]) {
    PERFLAW_RETURN_IF_ERROR(String(root["name"], "name", &sweep_.name));
  } else {
    sweep_.name = fs::path(sweep_.source).stem().string();
  }
  bool ok = !sweep_.name.empty() && std::all_of(sweep_.name.begin(), sweep_.name.end(), [](char c) {
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
Status SweepParser::FixedSection(const YAML::Node& root, const std::string& section) {
  const YAML::Node node = root[section];
  PERFLAW_RETURN_IF_ERROR(ExpectMap(node, section));
  for (const auto& item : node) {
    const std::string key = section + "." + item.first.Scalar();
    StatusOr<json> v = ToJson(item.second, key);
    if (!v.ok()) return v.status();
    fixed_[KeyPointer(key)] = *v;
    fixed_origin_[key] = LocationOf(item.first);
  }
  return Status::Ok();
}

Status SweepParser::FixedValue(const YAML::Node& map, const std::string& yaml_key,
                               const std::string& key) {
  if (fixed_.contains(key))
    return Error(map[yaml_key], key + " is given twice (top level and resources); keep one");
  StatusOr<json> v = Scalar(map[yaml_key], key);
  if (!v.ok()) return v.status();
  fixed_[key] = *v;
  fixed_origin_[key] = LocationOf(map[yaml_key]);
  return Status::Ok();
}

Status SweepParser::ParseResources(const YAML::Node& root) {
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

Status SweepParser::ParsePolicy(const YAML::Node& root) {
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

Status SweepParser::ParseAdaptive(const YAML::Node& node) {
  PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "policy.adaptive"));
  PERFLAW_RETURN_IF_ERROR(CheckKeys(node, "policy.adaptive",
                                    {"rounds", "points_per_round", "budget_points", "stop_when",
                                     "max_interval_ratio", "metric", "form"}));
  AdaptivePolicy& a = sweep_.policy.adaptive;
  if (node["rounds"])
    PERFLAW_RETURN_IF_ERROR(Uint32(node["rounds"], "policy.adaptive.rounds", &a.rounds));
  if (node["points_per_round"])
    PERFLAW_RETURN_IF_ERROR(
        Uint32(node["points_per_round"], "policy.adaptive.points_per_round", &a.points_per_round));
  if (node["budget_points"])
    PERFLAW_RETURN_IF_ERROR(Uint(node["budget_points"], "policy.adaptive.budget_points",
                                 uint64_t{1} << 32, &a.budget_points));
  if (node["stop_when"])
    PERFLAW_RETURN_IF_ERROR(String(node["stop_when"], "policy.adaptive.stop_when", &a.stop_when));
  if (node["max_interval_ratio"])
    PERFLAW_RETURN_IF_ERROR(Double(node["max_interval_ratio"], "policy.adaptive.max_interval_ratio",
                                   &a.max_interval_ratio));
  if (node["metric"])
    PERFLAW_RETURN_IF_ERROR(String(node["metric"], "policy.adaptive.metric", &a.metric));
  if (node["form"]) PERFLAW_RETURN_IF_ERROR(String(node["form"], "policy.adaptive.form", &a.form));
  std::string why;
  if (!a.IsValid(&why)) {
    const std::string key = why.substr(16, why.find(' ') - 16);  // after "policy.adaptive."
    return Error(node[key] ? node[key] : node, why);
  }
  adaptive_node_ = node;
  return Status::Ok();
}

Status SweepParser::ParseLaw(const YAML::Node& root) {
  const YAML::Node node = root["law"];
  if (!node) return Status::Ok();
  PERFLAW_RETURN_IF_ERROR(ExpectMap(node, "law"));
  PERFLAW_RETURN_IF_ERROR(CheckKeys(node, "law", {"enabled", "metrics", "forms", "group_by"}));
  LawSpec& law = sweep_.law;
  if (node["enabled"]) PERFLAW_RETURN_IF_ERROR(Bool(node["enabled"], "law.enabled", &law.enabled));
  if (node["metrics"])
    PERFLAW_RETURN_IF_ERROR(StringList(node["metrics"], "law.metrics", &law.metrics));
  if (node["forms"]) PERFLAW_RETURN_IF_ERROR(StringList(node["forms"], "law.forms", &law.forms));
  if (node["group_by"])
    PERFLAW_RETURN_IF_ERROR(StringList(node["group_by"], "law.group_by", &law.group_by));
  if (node["metrics"] && law.metrics.empty()) return Error(node["metrics"], "law.metrics is empty");
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
    // The fit from a results database groups rows by these two only (orchestrator/store/law_db.h).
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
Status SweepParser::CheckLaw() const {
  if (sweep_.points.empty()) return Status::Ok();
  const std::vector<uint32_t>& ks = sweep_.points.front().config.eval.ks;
  for (size_t i = 0; i < sweep_.law.metrics.size(); ++i) {
    const std::string& m = sweep_.law.metrics[i];
    if (m == "MRR") continue;
    size_t at = m.find('@');
    std::string name = m.substr(0, at);
    std::string k = at == std::string::npos ? "" : m.substr(at + 1);
    bool ok = (name == "HR" || name == "NDCG") && !k.empty() && k.size() < 8 &&
              std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
              std::find(ks.begin(), ks.end(), std::stoul(k)) != ks.end();
    if (!ok) {
      YamlLocation at_loc =
          law_node_ && law_node_["metrics"] ? LocationOf(law_node_["metrics"][i]) : YamlLocation{};
      return ErrorAt(at_loc, "law.metrics: \"" + m +
                                 "\" is not reported; use MRR or HR@K / NDCG@K with K in eval.ks " +
                                 json(ks).dump());
    }
  }
  return Status::Ok();
}

// policy.adaptive's metric and form come from the law: section (defaults filled in here).
Status SweepParser::CheckAdaptive() {
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
                                   "\" is not one of law.metrics (" + JoinWords(law.metrics) + ")");
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
    return Error(at("form"), "policy.adaptive.form: \"" + a.form + "\" is not one of law.forms (" +
                                 JoinWords(law.forms) + ")");
  return Status::Ok();
}

}  // namespace perflaw::orchestrator
