#include "orchestrator/sweep/reader.h"

#include <algorithm>
#include <limits>

#include "apen/did_you_mean.h"
#include "apen/text.h"

namespace perflaw::orchestrator {

using nlohmann::json;

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

std::string WhereIn(const std::string& source, YamlLocation at) {
  if (at.line <= 0) return source + ": ";
  return source + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": ";
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

std::string YamlReader::Where(YamlLocation at) const { return WhereIn(source_, at); }

Status YamlReader::ErrorAt(YamlLocation at, const std::string& msg) const {
  return Status::InvalidArgument(Where(at) + msg);
}

Status YamlReader::Error(const YAML::Node& node, const std::string& msg) const {
  return ErrorAt(LocationOf(node), msg);
}

// Checks a mapping's keys (duplicates, unknown keys with a suggestion).
Status YamlReader::CheckKeys(const YAML::Node& map, const std::string& section,
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

Status YamlReader::ExpectMap(const YAML::Node& node, const std::string& name) const {
  if (!node.IsMap()) return Error(node, name + " must be a mapping");
  return CheckKeys(node, name, {});
}

StatusOr<json> YamlReader::Scalar(const YAML::Node& node, const std::string& name) const {
  if (!node.IsScalar()) return Error(node, name + " must be a single value, not a list or mapping");
  return ScalarToJson(node);
}

Status YamlReader::Uint(const YAML::Node& node, const std::string& name, uint64_t max,
                        uint64_t* out) const {
  StatusOr<json> v = Scalar(node, name);
  if (!v.ok()) return v.status();
  if (!v->is_number_unsigned())
    return Error(node, apen::NotNonNegativeIntegerMessage(name, node.Scalar()));
  if (v->get<uint64_t>() > max)
    return Error(node, apen::AboveMaximumMessage(name, max, node.Scalar()));
  *out = v->get<uint64_t>();
  return Status::Ok();
}

Status YamlReader::Uint32(const YAML::Node& node, const std::string& name, uint32_t* out) const {
  uint64_t x = 0;
  PERFLAW_RETURN_IF_ERROR(Uint(node, name, std::numeric_limits<uint32_t>::max(), &x));
  *out = static_cast<uint32_t>(x);
  return Status::Ok();
}

Status YamlReader::Double(const YAML::Node& node, const std::string& name, double* out) const {
  StatusOr<json> v = Scalar(node, name);
  if (!v.ok()) return v.status();
  if (!v->is_number()) return Error(node, name + " must be a number, got " + node.Scalar());
  *out = v->get<double>();
  return Status::Ok();
}

Status YamlReader::String(const YAML::Node& node, const std::string& name, std::string* out) const {
  StatusOr<json> v = Scalar(node, name);
  if (!v.ok()) return v.status();
  if (!v->is_string()) return Error(node, name + " must be a string, got " + node.Scalar());
  *out = v->get<std::string>();
  return Status::Ok();
}

Status YamlReader::Bool(const YAML::Node& node, const std::string& name, bool* out) const {
  StatusOr<json> v = Scalar(node, name);
  if (!v.ok()) return v.status();
  if (!v->is_boolean()) return Error(node, name + " must be true or false, got " + node.Scalar());
  *out = v->get<bool>();
  return Status::Ok();
}

Status YamlReader::StringList(const YAML::Node& node, const std::string& name,
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
StatusOr<json> YamlReader::ToJson(const YAML::Node& node, const std::string& name) const {
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

}  // namespace perflaw::orchestrator
