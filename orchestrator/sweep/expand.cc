#include <algorithm>
#include <cctype>
#include <filesystem>
#include <unordered_set>

#include "apen/did_you_mean.h"
#include "orchestrator/sweep/identity.h"
#include "orchestrator/sweep/parser.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<Candidate> SweepParser::GridCandidates() const {
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

std::vector<Candidate> SweepParser::IncludeCandidates() const {
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
StatusOr<SweepParser::Built> SweepParser::Build(const Candidate& c) const {
  const DatasetSpec& ds = sweep_.datasets[c.dataset];
  json point = fixed_;
  for (const auto& item : dataset_data_[c.dataset].items())
    point["data"][item.key()] = item.value();
  for (const auto& s : c.settings) point[KeyPointer(s.key)] = s.value;
  Built b;
  GridPoint& gp = b.point;
  gp.dataset = ds.name;
  StatusOr<worker::PointConfig> parsed = worker::PointConfigFromJson(point, kPointSource);
  if (!parsed.ok()) return MapPointError(parsed.status(), c);
  gp.config = std::move(parsed).value();
  b.canonical = CanonicalJson(gp.config);
  // Every point shows every axis (include points take the fixed value where they set none).
  for (const std::string& key : sweep_.axis_names)
    gp.axes[key] = key == "dataset" ? ds.name : ValueText(b.canonical[KeyPointer(key)]);
  gp.id = PointId(b.canonical, ds.identity);
  return b;
}

// A ParsePointConfig message names a key ("model.heads (3) must divide model.d_model (64)");
// point at the first key of the message that the YAML set.
std::map<std::string, YamlLocation> SweepParser::OriginOf(const Candidate& c) const {
  std::map<std::string, YamlLocation> origin = fixed_origin_;
  for (const auto& [key, where] : dataset_origin_[c.dataset]) origin[key] = where;
  for (const auto& s : c.settings) origin[s.key] = s.where;
  return origin;
}

Status SweepParser::MapPointError(const Status& st, const Candidate& c) const {
  const std::map<std::string, YamlLocation> origin = OriginOf(c);
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
  for (const auto& s : c.settings) values.push_back(s.key + "=" + ValueText(s.value));
  std::string context;
  if (c.included)
    context = " (include entry" + std::string(values.empty() ? "" : ": ") + JoinWords(values) + ")";
  else if (!values.empty())
    context = " (grid point " + JoinWords(values) + ")";
  return ErrorAt(where, msg + context);
}

bool SweepParser::Matches(const Entry& e, const Built& b) const {
  for (const auto& s : e.settings) {
    if (s.key == "dataset") {
      if (b.point.dataset != s.value.get<std::string>()) return false;
    } else if (b.canonical[KeyPointer(s.key)] != s.value) {
      return false;
    }
  }
  return true;
}

// The points the grid (x datasets) and include would make, counted without building any;
// saturates instead of overflowing.
uint64_t SweepParser::CountCandidates(std::string* shape) const {
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

Status SweepParser::CheckSize() const {
  std::string shape;
  const uint64_t count = CountCandidates(&shape);
  if (count <= sweep_.policy.max_points) return Status::Ok();
  return ErrorAt(axes_.empty() ? YamlLocation{1, 1} : axes_.front().where,
                 "the grid makes " +
                     (count == UINT64_MAX ? "more than 2^64" : std::to_string(count)) +
                     " points (" + shape + (includes_.empty() ? "" : ", plus include") +
                     "), more than policy.max_points (" + std::to_string(sweep_.policy.max_points) +
                     "): split the sweep, or raise policy.max_points");
}

Status SweepParser::Expand() {
  PERFLAW_RETURN_IF_ERROR(CheckSize());
  std::vector<Candidate> grid = GridCandidates();
  std::vector<Candidate> include = IncludeCandidates();
  sweep_.grid_points = grid.size();
  sweep_.included_points = include.size();
  grid.insert(grid.end(), include.begin(), include.end());
  SetAxisNames();
  std::vector<size_t> exclude_hits(excludes_.size(), 0);
  std::unordered_set<std::string> ids;
  for (const auto& c : grid) {
    StatusOr<Built> b = Build(c);
    if (!b.ok()) return b.status();
    bool excluded = false;
    for (size_t e = 0; e < excludes_.size(); ++e)
      if (Matches(excludes_[e], *b)) ++exclude_hits[e], excluded = true;
    if (excluded) {
      ++sweep_.excluded_points;
      continue;
    }
    if (!ids.insert(b->point.id).second) {
      ++sweep_.duplicate_points;
      continue;
    }
    sweep_.points.push_back(std::move(b->point));
  }
  for (size_t e = 0; e < excludes_.size(); ++e)
    if (exclude_hits[e] == 0)
      return ErrorAt(excludes_[e].where,
                     "exclude[" + std::to_string(e) + "] matches no point of the grid or include");
  if (sweep_.points.empty()) return ErrorAt({1, 1}, "the sweep has no points left after exclude");
  return Status::Ok();
}

void SweepParser::SetAxisNames() {
  std::vector<std::string>& names = sweep_.axis_names;
  names.clear();
  if (sweep_.datasets.size() > 1) names.push_back("dataset");
  auto add = [&](const std::string& key) {
    if (key != "dataset" && std::find(names.begin(), names.end(), key) == names.end())
      names.push_back(key);
  };
  for (const auto& a : axes_) add(a.key);
  for (const auto& e : includes_)
    for (const auto& s : e.settings) add(s.key);
}

}  // namespace perflaw::orchestrator
