// `perflaw curves DB`: train loss and a validation metric per epoch of the selected points, one PNG
// + SVG figure per group of points that differ only in model size (layers, d_model) and seed. Reads
// the database read-only and renders with law/report's line figures. See docs/database.md.
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "apen/did_you_mean.h"
#include "law/report.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/cli/sweep_select.h"

namespace perflaw::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using orchestrator::ResultsDb;
using orchestrator::Statement;
using Config = std::map<std::string, json>;  // flattened: "model.layers" -> 2

// The validation metric as epoch_metrics stores it: NDCG@10 -> (ndcg, 10).
struct MetricSpec {
  std::string name;   // hr, ndcg, mrr
  int64_t k = 0;      // 0 for mrr
  std::string label;  // NDCG@10
};

StatusOr<MetricSpec> ParseMetric(const std::string& text) {
  const Status usage =
      Status::InvalidArgument("--metric " + text + ": expected HR@K, NDCG@K or MRR (e.g. NDCG@10)");
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find('@');
  MetricSpec m{lower.substr(0, at), 0, ""};
  if (m.name == "mrr" && at == std::string::npos) return MetricSpec{"mrr", 0, "MRR"};
  if ((m.name != "hr" && m.name != "ndcg") || at == std::string::npos) return usage;
  const std::string k = lower.substr(at + 1);
  if (k.empty() || k.size() > 6 || k.find_first_not_of("0123456789") != std::string::npos)
    return usage;
  m.k = std::stoll(k);
  if (m.k == 0) return usage;
  m.label = (m.name == "hr" ? "HR@" : "NDCG@") + std::to_string(m.k);
  return m;
}

// One point and the epochs of the attempt that completed it (else of its latest attempt that
// recorded epochs: a running or failed point shows its last try).
struct PointCurves {
  std::string id, state;
  Config config;
  int64_t attempt = 0;
  std::vector<std::pair<double, double>> loss;                          // (epoch, train loss)
  std::map<std::string, std::vector<std::pair<double, double>>> valid;  // protocol -> (epoch, v)
  bool still_improving = false;
  std::string name;   // "L2 d64", with seed and state where needed
  std::string label;  // the name, marked when still improving
};

void Flatten(const json& j, const std::string& prefix, Config* out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) Flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  (*out)[prefix] = j;
}

// A config value as text for titles and labels; control bytes (from a path, say) become '?'.
std::string ValueText(const json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

constexpr char kSelect[] =
    "SELECT p.id, p.config, p.state, COALESCE((SELECT r.attempt FROM results r WHERE r.point = "
    "p.id), (SELECT max(e.attempt) FROM epoch_metrics e WHERE e.point = p.id)) FROM points p "
    "WHERE 1";

StatusOr<std::vector<PointCurves>> SelectPoints(const ResultsDb& db, const CurvesRequest& r) {
  std::string sql = kSelect;
  std::vector<json> params;
  if (r.completed_only) sql += " AND p.state = 'COMPLETED'";
  if (!r.sweep.empty()) {
    StatusOr<int64_t> id = orchestrator::ResolveSweep(db.connection(), r.sweep);
    if (!id.ok()) return id.status();
    sql += " AND EXISTS (SELECT 1 FROM sweep_points s WHERE s.point = p.id AND s.sweep = ?)";
    params.push_back(*id);
  }
  PERFLAW_RETURN_IF_ERROR(AppendWhereClauses(db, r.where, &sql, &params));
  StatusOr<Statement> st = Statement::Prepare(db.connection(), sql + " ORDER BY p.id");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(BindParams(*st, params));
  std::vector<PointCurves> points;
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return points;
    PointCurves p;
    p.id = st->Text(0);
    Flatten(json::parse(st->Text(1), nullptr, false), "", &p.config);
    p.state = st->Text(2);
    p.attempt = st->IsNull(3) ? 0 : st->Int64(3);
    points.push_back(std::move(p));
  }
}

Status LoadEpochs(const ResultsDb& db, const MetricSpec& m, PointCurves* p) {
  StatusOr<Statement> st = Statement::Prepare(
      db.connection(),
      "SELECT epoch, split, protocol, value FROM epoch_metrics WHERE point = ? AND attempt = ? AND "
      "((split = 'train' AND metric = 'loss') OR (split = 'valid' AND metric = ? AND k = ?)) "
      "ORDER BY epoch");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(p->id, p->attempt, m.name, m.k));
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    const std::optional<double> v = st->OptionalDouble(3);
    if (!v || !std::isfinite(*v)) continue;  // NULL: a non-finite value was stored
    const std::pair<double, double> xy{st->Double(0), *v};
    if (st->Text(1) == "train")
      p->loss.push_back(xy);
    else
      p->valid[st->Text(2)].push_back(xy);
  }
}

// What the database measured per epoch on the valid split, for the message of a --metric it lacks.
StatusOr<std::string> PresentMetrics(const ResultsDb& db) {
  StatusOr<Statement> st = Statement::Prepare(
      db.connection(),
      "SELECT DISTINCT metric, k FROM epoch_metrics WHERE split = 'valid' AND protocol != 'none' "
      "ORDER BY metric, k");
  if (!st.ok()) return st.status();
  std::vector<std::string> names;
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::string name = st->Text(0);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    names.push_back(st->Int64(1) > 0 ? name + "@" + std::to_string(st->Int64(1)) : name);
  }
  return names.empty() ? std::string("none") : JoinWords(names);
}

// The one evaluation protocol the curves show: --protocol, or the only one the points have.
StatusOr<std::string> ChooseProtocol(const ResultsDb& db, const CurvesRequest& r,
                                     const MetricSpec& m, const std::vector<PointCurves>& points) {
  std::set<std::string> protocols;
  for (const PointCurves& p : points)
    for (const auto& [protocol, xy] : p.valid) protocols.insert(protocol);
  if (protocols.empty()) {
    StatusOr<std::string> present = PresentMetrics(db);
    if (!present.ok()) return present.status();
    return Status::InvalidArgument("--metric " + r.metric + ": the selected points have no valid " +
                                   m.label + " per epoch (measured per epoch in " + r.db + ": " +
                                   *present + ")");
  }
  const std::vector<std::string> list(protocols.begin(), protocols.end());
  if (!r.protocol.empty()) {
    if (protocols.count(r.protocol)) return r.protocol;
    return Status::InvalidArgument("--protocol " + r.protocol + ": the selected points' valid " +
                                   m.label + " per epoch has " + JoinWords(list));
  }
  if (protocols.size() > 1)
    return Status::InvalidArgument("the selected points' valid " + m.label +
                                   " per epoch mixes evaluation protocols (" + JoinWords(list) +
                                   "), which are not comparable; choose one with --protocol");
  return *protocols.begin();
}

// Still improving: the best validation value (the first, on ties) is at the last epoch.
bool StillImproving(const std::vector<std::pair<double, double>>& valid) {
  if (valid.empty()) return false;
  auto best = std::max_element(valid.begin(), valid.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == valid.end() - 1;
}

// ---- groups and figures ----

Config GroupKey(const Config& c) {
  Config key = c;
  for (const char* size : {"model.layers", "model.d_model", "seed"}) key.erase(size);
  return key;
}

std::tuple<json, json, json, std::string> SizeOrder(const PointCurves* p) {
  auto get = [&](const char* k) { return p->config.count(k) ? p->config.at(k) : json(); };
  return {get("model.layers"), get("model.d_model"), get("seed"), p->id};
}

struct Group {
  Config key;
  std::vector<PointCurves*> points;
};

std::vector<Group> GroupPoints(std::vector<PointCurves>* points) {
  std::map<Config, std::vector<PointCurves*>> by;
  for (PointCurves& p : *points) by[GroupKey(p.config)].push_back(&p);
  std::vector<Group> groups;
  for (auto& [key, members] : by) {
    std::sort(members.begin(), members.end(), [](const PointCurves* a, const PointCurves* b) {
      return SizeOrder(a) < SizeOrder(b);
    });
    groups.push_back({key, members});
  }
  return groups;
}

// "L2 d64", with the seed when the group has several, the state when not completed, and the mark.
void LabelPoints(Group* g) {
  std::set<json> seeds;
  for (const PointCurves* p : g->points)
    seeds.insert(p->config.count("seed") ? p->config.at("seed") : json());
  for (PointCurves* p : g->points) {
    auto text = [&](const char* k) {
      return p->config.count(k) ? ValueText(p->config[k]) : std::string("?");
    };
    p->name = "L" + text("model.layers") + " d" + text("model.d_model");
    if (seeds.size() > 1) p->name += " seed " + text("seed");
    if (p->state != "COMPLETED") p->name += " [" + p->state + "]";
    p->label = p->name + (p->still_improving ? " (still improving)" : "");
  }
}

// The group's description: dataset, model type and sequence length, and every other setting that
// differs between the groups.
std::string GroupTitle(const Group& g, const std::vector<Group>& all) {
  std::string title;
  for (const auto& [k, v] : g.key) {
    bool varies = k == "data.path" || k == "model.type" || k == "data.max_seq_len";
    for (const Group& other : all) varies = varies || !other.key.count(k) || other.key.at(k) != v;
    if (varies) title += (title.empty() ? "" : ", ") + k + "=" + ValueText(v);
  }
  return title.empty() ? "all points" : title;
}

law::LineFigure Figure(const Group& g, const std::string& title, const MetricSpec& m,
                       const std::string& protocol) {
  law::LineFigure f;
  f.title =
      "Training curves per epoch: " + title + " (" + std::to_string(g.points.size()) + " points)";
  f.mark_label = "still improving (best valid " + m.label + " at the last epoch)";
  law::LinePanel loss{
      "train loss per epoch", "epoch", "train loss (mean over the epoch's training targets)", {}};
  law::LinePanel valid{"valid " + m.label + " per epoch (valid split, " + protocol + " protocol)",
                       "epoch",
                       "valid " + m.label + " (" + protocol + ")",
                       {}};
  for (const PointCurves* p : g.points) {
    loss.series.push_back({p->label, p->loss, false});
    auto it = p->valid.find(protocol);
    valid.series.push_back(
        {p->label, it == p->valid.end() ? decltype(p->loss)() : it->second, p->still_improving});
  }
  f.panels = {loss, valid};
  return f;
}

// ---- output: rendered in a hidden directory inside `out`, then renamed into place ----

Status CheckOut(const std::string& out) {
  if (out.empty()) return Status::InvalidArgument("--out: an output directory is required");
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    return Status::InvalidArgument("--out " + out + ": exists and is not a directory");
  return Status::Ok();
}

StatusOr<std::vector<std::string>> RenderAll(const std::vector<law::LineFigure>& figures,
                                             const std::string& staging, const std::string& out) {
  std::vector<std::string> files;
  for (size_t i = 0; i < figures.size(); ++i) {
    char stem[32];
    std::snprintf(stem, sizeof(stem), "curves_g%02zu", i + 1);
    StatusOr<std::vector<std::string>> w = law::WriteLineFigure(figures[i], staging, stem);
    if (!w.ok()) return w.status();
    files.insert(files.end(), w->begin(), w->end());
  }
  std::vector<std::string> placed;
  for (const std::string& f : files) {
    const fs::path to = fs::path(out) / fs::path(f).filename();
    std::error_code ec;
    fs::rename(f, to, ec);
    if (ec) return Status::IoError("cannot move " + f + " to " + to.string() + ": " + ec.message());
    placed.push_back(to.string());
  }
  return placed;
}

StatusOr<std::vector<std::string>> WriteFigures(const std::vector<law::LineFigure>& figures,
                                                const std::string& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return Status::IoError("cannot create " + out + ": " + ec.message());
  std::string staging = (fs::path(out) / ".perflaw-curves-XXXXXX").string();
  if (::mkdtemp(staging.data()) == nullptr)
    return Status::IoError("cannot create a temporary directory in " + out);
  StatusOr<std::vector<std::string>> placed = RenderAll(figures, staging, out);
  fs::remove_all(staging, ec);  // what is left of a failed rendering
  return placed;
}

// The error for a selection without points: it names the option that selected nothing.
Status NothingSelected(const CurvesRequest& r) {
  std::string where;
  for (const std::string& w : r.where) where += (where.empty() ? "--where " : " --where ") + w;
  const std::string scope = r.sweep.empty() ? " in " + r.db : " of sweep " + r.sweep;
  if (!where.empty()) return Status::InvalidArgument(where + ": selects no point" + scope);
  if (!r.sweep.empty()) return Status::InvalidArgument("--sweep " + r.sweep + ": has no point");
  return Status::InvalidArgument(r.db + ": has no point");
}

Status RunCurves(const CurvesRequest& r) {
  StatusOr<CurvesOutput> out = WriteCurves(r);
  if (!out.ok()) return out.status();
  for (const std::string& f : out->files) std::cout << "wrote " << f << "\n";
  std::cout << "curves: " << out->images.size() << " figure(s) of " << out->points
            << " point(s): train loss and " << out->metric_label << " per epoch; "
            << out->still_improving.size() << " still improving at their last epoch"
            << (out->still_improving.empty() ? "" : ": " + JoinWords(out->still_improving)) << "\n";
  return Status::Ok();
}

}  // namespace

StatusOr<CurvesOutput> WriteCurves(const CurvesRequest& r) {
  StatusOr<MetricSpec> metric = ParseMetric(r.metric);
  if (!metric.ok()) return metric.status();
  PERFLAW_RETURN_IF_ERROR(CheckOut(r.out));
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(r.db);
  if (!db.ok()) return db.status();
  StatusOr<std::vector<PointCurves>> selected = SelectPoints(**db, r);
  if (!selected.ok()) return selected.status();
  if (selected->empty()) return NothingSelected(r);
  std::vector<PointCurves> points;
  for (PointCurves& p : *selected) {
    PERFLAW_RETURN_IF_ERROR(LoadEpochs(**db, *metric, &p));
    if (!p.loss.empty() || !p.valid.empty()) points.push_back(std::move(p));
  }
  if (points.empty())
    return Status::InvalidArgument(r.db + ": none of the " + std::to_string(selected->size()) +
                                   " selected point(s) has per-epoch metrics yet");
  StatusOr<std::string> protocol = ChooseProtocol(**db, r, *metric, points);
  if (!protocol.ok()) return protocol.status();
  CurvesOutput out;
  out.points = static_cast<int>(points.size());
  out.metric_label = "valid " + metric->label + " (" + *protocol + " protocol)";
  std::vector<Group> groups = GroupPoints(&points);
  std::vector<law::LineFigure> figures;
  for (Group& g : groups) {
    for (PointCurves* p : g.points) p->still_improving = StillImproving(p->valid[*protocol]);
    LabelPoints(&g);
    for (const PointCurves* p : g.points)
      if (p->still_improving) out.still_improving.push_back(p->name + " (point " + p->id + ")");
    figures.push_back(Figure(g, GroupTitle(g, groups), *metric, *protocol));
  }
  StatusOr<std::vector<std::string>> files = WriteFigures(figures, r.out);
  if (!files.ok()) return files.status();
  out.files = std::move(files).value();
  for (const std::string& f : out.files)
    if (fs::path(f).extension() == ".png") out.images.push_back(fs::path(f).filename().string());
  return out;
}

void RegisterCurvesCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<CurvesRequest>();
  CLI::App* sub = app.add_subcommand(
      "curves",
      "train loss and a validation metric per epoch of the selected points: PNG and SVG, one "
      "figure per group of points that differ only in model size");
  sub->add_option("DB", args->db, "results database (SQLite file)")->required();
  sub->add_option("--sweep", args->sweep,
                  "only points of this sweep, by id or name (default: all; see perflaw sweeps)");
  sub->add_option("--where", args->where,
                  "filter KEY=VALUE (also != < <= > >=), as perflaw results: a configuration path "
                  "(model.layers, data.max_seq_len, seed) or a final metric (test.ndcg@10); "
                  "repeatable")
      ->allow_extra_args(false);
  sub->add_option("--metric", args->metric,
                  "validation metric per epoch: HR@K, NDCG@K or MRR (default: the one early "
                  "stopping uses)")
      ->capture_default_str();
  sub->add_option("--protocol", args->protocol,
                  "evaluation protocol of the validation metric (full, sampled:K; default: the "
                  "one the points have)");
  sub->add_option("--out", args->out, "output directory (created if missing)")->required();
  sub->callback([action, args] { *action = [args] { return RunCurves(*args); }; });
}

}  // namespace perflaw::cli
