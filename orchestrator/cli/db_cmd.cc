// `perflaw status | results | sql DB`: read-only views of a results database. They open it with a
// read-only connection (never creating it, never blocking the writer). See docs/database.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "apen/did_you_mean.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/cli/point_select.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/run/runner.h"
#include "orchestrator/cli/sweep_select.h"
#include "orchestrator/cli/table.h"

namespace perflaw::cli {
namespace {

using json = nlohmann::json;
using orchestrator::CellText;
using orchestrator::PrintTable;
using orchestrator::ResultsDb;
using orchestrator::Statement;
using orchestrator::Table;
using orchestrator::TextWidth;

struct DbArgs {
  std::string db;
  std::string format = "table";
  std::string sweep;  // id or name; "" = the latest (status) / every sweep (results)
  std::string split = "test";
  std::vector<std::string> where;
  std::vector<std::string> points;  // results --point: ids or unique prefixes
  std::string columns;              // results --columns: "" = the default view
  std::string sort;                 // results --sort
  std::string sql;
};

StatusOr<std::unique_ptr<ResultsDb>> OpenReader(const std::string& path) {
  return ResultsDb::OpenReadOnly(path);
}

// ---- status ----

std::string UtcTime(double unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", s);
  return buf;
}

// Why nothing runs the sweep now ("" while a run writes it): no ETA is shown then.
std::string NotRunningReason(const std::optional<orchestrator::SweepRecord>& record,
                             const std::string& db) {
  if (!record) return "no sweep recorded";
  if (record->status != "RUNNING") return "sweep " + record->status + ": nothing runs";
  if (orchestrator::WriterLock::CheckFree(db).ok())
    return "sweep recorded as RUNNING but no perflaw run holds the database: it was stopped "
           "without closing; perflaw resume finishes it";
  return "";
}

Status RunStatus(const DbArgs& a) {
  StatusOr<std::unique_ptr<ResultsDb>> db = OpenReader(a.db);
  if (!db.ok()) return db.status();
  ResultsDb& rdb = **db;
  std::optional<int64_t> sweep;
  if (!a.sweep.empty()) {
    StatusOr<int64_t> id = orchestrator::ResolveSweep(rdb.connection(), a.sweep);
    if (!id.ok()) return id.status();
    sweep = *id;
  } else {
    StatusOr<std::optional<int64_t>> latest = rdb.LatestSweep();
    if (!latest.ok()) return latest.status();
    sweep = *latest;
  }
  std::optional<orchestrator::SweepRecord> record;
  if (sweep) {
    StatusOr<orchestrator::SweepRecord> r = rdb.GetSweep(*sweep);
    if (!r.ok()) return r.status();
    record = *r;
  }
  StatusOr<orchestrator::SweepProgress> progress = rdb.GetProgress(sweep);
  if (!progress.ok()) return progress.status();
  StatusOr<std::vector<orchestrator::FailedPoint>> failed = rdb.FailedPoints(sweep);
  if (!failed.ok()) return failed.status();
  std::vector<orchestrator::RoundRecord> rounds;
  if (sweep) {
    StatusOr<std::vector<orchestrator::RoundRecord>> r = rdb.Rounds(*sweep);
    if (!r.ok()) return r.status();
    rounds = std::move(r).value();
  }
  const orchestrator::StateCounts& counts = progress->counts;
  const double now = progress->now;
  // An ETA only while a run is writing the sweep: an ended or interrupted one has none.
  const std::string not_running = NotRunningReason(record, a.db);
  const bool has_eta = not_running.empty() && progress->eta_seconds.has_value();
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };

  if (a.format == "json") {
    json out = {{"database", a.db},
                {"sweep", nullptr},
                {"counts",
                 {{"pending", counts.pending},
                  {"running", counts.running},
                  {"completed", counts.completed},
                  {"failed", counts.failed},
                  {"total", counts.total()}}},
                {"running", json::array()},
                {"failed", json::array()},
                {"completed_attempts", progress->completed_attempts},
                {"mean_completed_seconds", opt(progress->mean_completed_seconds)},
                {"eta_seconds", has_eta ? json(*progress->eta_seconds) : json(nullptr)},
                {"not_running", not_running.empty() ? json(nullptr) : json(not_running)}};
    if (record) {
      out["sweep"] = {{"id", record->id},
                      {"name", record->name},
                      {"status", record->status},
                      {"created", record->created},
                      {"started", record->started ? json(*record->started) : json(nullptr)},
                      {"finished", record->finished ? json(*record->finished) : json(nullptr)}};
    }
    for (const auto& f : *failed) {
      out["failed"].push_back({{"point", f.point},
                               {"attempts", f.attempts},
                               {"exit_reason", f.exit_reason},
                               {"error", f.error}});
    }
    for (const auto& r : progress->running) {
      out["running"].push_back({{"attempt", r.attempt},
                                {"point", r.point},
                                {"group", r.group},
                                {"hosts", json::parse(r.hosts, nullptr, false)},
                                {"age_seconds", now - r.started},
                                {"epoch", r.last_epoch},
                                {"epochs_max", r.epochs_max}});
    }
    out["rounds"] = json::array();
    for (const auto& r : rounds) {
      json points = json::array();
      for (const auto& p : r.points)
        points.push_back({{"point", p.point},
                          {"group", p.group},
                          {"layers", p.layers},
                          {"d_model", p.d_model},
                          {"rule", p.rule},
                          {"reason", p.reason}});
      out["rounds"].push_back({{"round", r.round},
                               {"metric", r.metric},
                               {"form", r.form},
                               {"final", r.final},
                               {"decision", r.decision},
                               {"verdicts", r.verdicts},
                               {"points", points}});
    }
    std::cout << out.dump(2) << std::endl;
    return Status::Ok();
  }

  // Short ids read every point id: only when some point is listed below.
  std::unordered_map<std::string, std::string> short_ids;
  if (!progress->running.empty() || !failed->empty() || !rounds.empty()) {
    StatusOr<std::unordered_map<std::string, std::string>> ids =
        orchestrator::ShortPointIds(rdb.connection());
    if (!ids.ok()) return ids.status();
    short_ids = std::move(ids).value();
  }
  auto shorter = [&](const std::string& id) {
    auto it = short_ids.find(id);
    return it == short_ids.end() ? id : it->second;
  };
  std::cout << "results database: " << a.db << "\n";
  if (record) {
    std::cout << "sweep " << record->id << " \"" << record->name << "\": " << record->status
              << ", created " << UtcTime(record->created);
    if (record->started) std::cout << ", started " << UtcTime(*record->started);
    if (record->finished) std::cout << ", finished " << UtcTime(*record->finished);
    std::cout << "\n";
  } else {
    std::cout << "no sweep recorded; counting every point\n";
  }
  std::cout << "points: " << counts.total() << " total, " << counts.completed << " completed, "
            << counts.running << " running, " << counts.failed << " failed, " << counts.pending
            << " pending\n";
  if (!progress->running.empty()) {
    Table t{{"attempt", "point", "group", "hosts", "age_s", "epoch"}, {}};
    for (const auto& r : progress->running) {
      t.rows.push_back({r.attempt, shorter(r.point), r.group, r.hosts, now - r.started,
                        std::to_string(r.last_epoch) + "/" + std::to_string(r.epochs_max)});
    }
    std::cout << "running attempts:\n";
    PrintTable(t, "table", std::cout);
  }
  if (!failed->empty()) {
    Table t{{"point", "attempts", "last_exit_reason", "last_error"}, {}};
    for (const auto& f : *failed)
      t.rows.push_back({shorter(f.point), f.attempts, f.exit_reason, f.error});
    std::cout << "failed points:\n";
    PrintTable(t, "table", std::cout);
  }
  if (!rounds.empty()) {
    std::cout << "adaptive rounds (policy.adaptive; " << rounds.front().metric << ", "
              << rounds.front().form << " form):\n";
    for (const auto& r : rounds) {
      std::cout << "  round " << r.round << ": " << (r.final ? "end: " : "") << r.decision << "\n";
      for (const auto& p : r.points)
        std::cout << "    " << p.layers << " layers x d_model " << p.d_model << " (" << p.group
                  << "), " << p.rule << ": " << p.reason << "; point " << shorter(p.point) << "\n";
    }
  }
  if (progress->mean_completed_seconds) {
    std::cout << "completed attempts: " << progress->completed_attempts << ", mean duration "
              << Seconds(*progress->mean_completed_seconds) << "\n";
  }
  std::cout << "ETA: ";
  if (!not_running.empty()) {
    std::cout << "none (" << not_running << ")\n";
  } else if (has_eta) {
    std::cout << Seconds(*progress->eta_seconds)
              << " (duration fitted to cost over completed attempts, running points by their "
                 "epochs, spread over the running groups; the estimate of perflaw run's progress "
                 "line)\n";
  } else {
    std::cout << "unknown (no point has completed yet)\n";
  }
  return Status::Ok();
}

// ---- results ----

struct Filter {
  std::string sql;  // a fixed fragment with ? placeholders (never user text)
  std::vector<json> params;
};

const std::vector<std::pair<std::string, std::string>>& Operators() {
  // Longest first so "<=" is not read as "<".
  static const std::vector<std::pair<std::string, std::string>> ops = {
      {"!=", "!="}, {"<=", "<="}, {">=", ">="}, {"=", "="}, {"<", "<"}, {">", ">"}};
  return ops;
}

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@';
}

// "4" -> 4, "0.5" -> 0.5, "true" -> 1 (how json_extract returns booleans), anything else text.
json TypedValue(const std::string& text) {
  if (text.empty()) return text;
  char* end = nullptr;
  long long i = std::strtoll(text.c_str(), &end, 10);
  if (*end == '\0' && !std::isspace(static_cast<unsigned char>(text[0]))) return i;
  double d = std::strtod(text.c_str(), &end);
  if (*end == '\0' && std::isfinite(d) && !std::isspace(static_cast<unsigned char>(text[0])))
    return d;
  if (text == "true") return 1;
  if (text == "false") return 0;
  return text;
}

Status BindJson(Statement& st, int index, const json& v) {
  if (v.is_number_integer()) return st.Bind(index, v.get<int64_t>());
  if (v.is_number()) return st.Bind(index, v.get<double>());
  if (v.is_string()) return st.Bind(index, v.get<std::string>());
  return st.BindNull(index);
}

StatusOr<bool> ConfigKeyExists(const ResultsDb& db, const std::string& path) {
  StatusOr<Statement> st =
      Statement::Prepare(db.connection(),
                         "SELECT (SELECT count(*) FROM points) = 0 OR "
                         "EXISTS (SELECT 1 FROM points WHERE json_type(config, ?) IS NOT NULL)");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(path));
  StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return *row && st->Int64(0) != 0;
}

// KEY op VALUE, KEY = a configuration path (model.layers, data.max_seq_len, seed) or a final metric
// SPLIT.METRIC[@K] (test.ndcg@10, valid.mrr).
StatusOr<Filter> ParseWhere(const ResultsDb& db, const std::string& clause) {
  const std::string usage =
      "--where " + clause +
      ": expected KEY=VALUE (or != < <= > >=), KEY a configuration path such as model.layers or "
      "data.max_seq_len, or a metric such as test.ndcg@10";
  size_t end = 0;
  while (end < clause.size() && IsKeyChar(clause[end])) ++end;
  const std::string key = clause.substr(0, end);
  std::string op;
  for (const auto& [text, sql] : Operators()) {
    if (clause.compare(end, text.size(), text) == 0) {
      op = sql;
      end += text.size();
      break;
    }
  }
  if (key.empty() || op.empty() || key.front() == '.' || key.back() == '.' ||
      key.find("..") != std::string::npos) {
    return Status::InvalidArgument(usage);
  }
  const json value = TypedValue(clause.substr(end));
  const size_t dot = key.find('.');
  const std::string head = key.substr(0, dot);
  if (head == "test" || head == "valid") {
    const std::string name = dot == std::string::npos ? "" : key.substr(dot + 1);
    const size_t at = name.find('@');
    const std::string metric = name.substr(0, at);
    int64_t k = 0;
    if (at != std::string::npos) {
      const json kv = TypedValue(name.substr(at + 1));
      if (!kv.is_number_integer() || kv.get<int64_t>() <= 0) return Status::InvalidArgument(usage);
      k = kv.get<int64_t>();
    }
    if (metric.empty() || metric.find_first_of(".@") != std::string::npos) {
      return Status::InvalidArgument(usage);
    }
    if (!value.is_number()) {
      return Status::InvalidArgument("--where " + clause + ": a metric is compared with a number");
    }
    return Filter{
        "EXISTS (SELECT 1 FROM result_metrics m WHERE m.point = p.id AND m.split = ? "
        "AND m.metric = ? AND m.k = ? AND m.value " +
            op + " ?)",
        {head, metric, k, value}};
  }
  if (key.find('@') != std::string::npos) return Status::InvalidArgument(usage);
  const std::string path = "$." + key;
  StatusOr<bool> exists = ConfigKeyExists(db, path);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    return Status::InvalidArgument("--where " + clause +
                                   ": no stored point has the configuration key " + key);
  }
  return Filter{"json_extract(p.config, ?) " + op + " ?", {path, value}};
}

json ConfigValue(const json& config, const std::string& dotted) {
  const json* node = &config;
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node->is_primitive() ? *node : json(node->dump());
}

// Metric columns are ordered by (metric name, K): hr@10, hr@50, mrr, ndcg@10, ...
std::string MetricColumn(const std::string& metric, int64_t k) {
  return k > 0 ? metric + "@" + std::to_string(k) : metric;
}

// The default table fits a terminal this wide.
constexpr size_t kTableWidth = 100;
// Longer cells of the data column are cut (from the left: the file name matters most).
constexpr size_t kDataCellWidth = 24;

// One column of `perflaw results`. `name` is its CSV/JSON key; `label` its short table header (a
// metric's says the split: test.ndcg@10). --columns and --sort take either.
struct Column {
  enum class Kind { kPoint, kConfig, kSplit, kProtocol, kMetric, kResult };
  Column(Kind kind, std::string name, std::string label, std::string source, int priority,
         std::pair<std::string, int64_t> metric = {})
      : kind(kind),
        name(std::move(name)),
        label(std::move(label)),
        source(std::move(source)),
        priority(priority),
        metric(std::move(metric)) {}
  Kind kind;
  std::string name, label;
  std::string source;  // kConfig: the dotted path; kResult: the SQL expression
  int priority = 0;    // default table: shown when > 0; the lowest goes first when too wide
  std::pair<std::string, int64_t> metric;  // kMetric: (name, K)
};

// Shown in the default table in every case: the point and the metric.
constexpr int kAlwaysShown = 90;

std::vector<Column> ConfigColumns() {
  using K = Column::Kind;
  return {{K::kConfig, "data.path", "data", "data.path", 70},
          {K::kConfig, "data.max_seq_len", "seq_len", "data.max_seq_len", 45},
          {K::kConfig, "data.user_fraction", "user_frac", "data.user_fraction", 40},
          {K::kConfig, "model.type", "type", "model.type", 35},
          {K::kConfig, "model.layers", "layers", "model.layers", 80},
          {K::kConfig, "model.d_model", "d_model", "model.d_model", 80},
          {K::kConfig, "model.heads", "heads", "model.heads", 30},
          {K::kConfig, "seed", "seed", "seed", 20}};
}

// Epochs run by the attempt that produced the result: the result's epoch records, else the
// per-epoch metrics that attempt stored.
constexpr char kEpochsSql[] =
    "COALESCE(NULLIF(json_array_length(r.result, '$.epochs'), 0), (SELECT COUNT(DISTINCT e.epoch) "
    "FROM epoch_metrics e WHERE e.point = r.point AND e.attempt = r.attempt))";

std::vector<Column> ResultColumns() {
  using K = Column::Kind;
  return {{K::kResult, "non_embedding_params", "nonemb_params", "r.non_embedding_params", 55},
          {K::kResult, "embedding_params", "emb_params", "r.embedding_params", 0},
          {K::kResult, "tokens", "tokens", "r.tokens", 0},
          {K::kResult, "wall_seconds", "wall_s", "r.wall_seconds", 50},
          {K::kResult, "tokens_per_second", "tokens/s", "r.tokens_per_second", 0},
          {K::kResult, "epochs", "epochs", kEpochsSql, 60},
          {K::kResult, "best_epoch", "best_epoch", "r.best_epoch", 60}};
}

StatusOr<std::vector<std::pair<std::string, int64_t>>> MetricKeys(const ResultsDb& db,
                                                                  const std::string& split) {
  StatusOr<Statement> st = Statement::Prepare(
      db.connection(),
      "SELECT DISTINCT metric, k FROM result_metrics WHERE split = ? ORDER BY metric, k");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(split));
  std::vector<std::pair<std::string, int64_t>> keys;
  PERFLAW_RETURN_IF_ERROR(
      st->ForEachRow([&](Statement& s) { keys.emplace_back(s.Text(0), s.Int64(1)); }));
  return keys;
}

// The default table's metric: NDCG@10 when stored, else the first NDCG, else the first metric.
size_t PrimaryMetric(const std::vector<std::pair<std::string, int64_t>>& keys) {
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == std::make_pair(std::string("ndcg"), int64_t{10})) return i;
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i].first == "ndcg") return i;
  return 0;
}

// Every column, in CSV/JSON order: point, configuration, split, protocol, metrics, sizes and times.
std::vector<Column> AllColumns(const std::string& split,
                               const std::vector<std::pair<std::string, int64_t>>& metric_keys) {
  using K = Column::Kind;
  std::vector<Column> cols = {{K::kPoint, "point", "point", "", 100}};
  for (Column& c : ConfigColumns()) cols.push_back(std::move(c));
  cols.push_back({K::kSplit, "split", "split", "", 0});  // the metric labels say it
  cols.push_back({K::kProtocol, "protocol", "protocol", "", kAlwaysShown});
  const size_t primary = PrimaryMetric(metric_keys);
  for (size_t i = 0; i < metric_keys.size(); ++i) {
    const std::string name = MetricColumn(metric_keys[i].first, metric_keys[i].second);
    cols.push_back({K::kMetric, name, split + "." + name, "", i == primary ? kAlwaysShown : 10,
                    metric_keys[i]});
  }
  for (Column& c : ResultColumns()) cols.push_back(std::move(c));
  return cols;
}

bool SameName(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The column `name` (a name or label, any case); a dotted configuration path that some stored point
// has becomes a new column. InvalidArgument naming the option otherwise.
StatusOr<size_t> FindColumn(const ResultsDb& db, const std::string& option, const std::string& name,
                            std::vector<Column>& cols) {
  for (size_t i = 0; i < cols.size(); ++i)
    if (SameName(cols[i].name, name) || SameName(cols[i].label, name)) return i;
  if (name.find('.') != std::string::npos && name.find_first_of("@$[ ") == std::string::npos) {
    StatusOr<bool> exists = ConfigKeyExists(db, "$." + name);
    if (!exists.ok()) return exists.status();
    if (*exists) {
      cols.push_back({Column::Kind::kConfig, name, name, name, 0});
      return cols.size() - 1;
    }
  }
  std::vector<std::string> known;
  for (const Column& c : cols) known.push_back(c.name);
  for (const Column& c : cols)
    if (c.label != c.name) known.push_back(c.label);
  const std::string* close = ClosestMatch(name, known);
  std::vector<std::string> names;
  for (const Column& c : cols) names.push_back(c.name);
  return Status::InvalidArgument(
      option + " " + name + ": no such column" + (close ? " (did you mean " + *close + "?)" : "") +
      "; columns: " + JoinWords(names) + ", or a configuration path such as train.lr");
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) parts.push_back(part);
  if (!text.empty() && text.back() == ',') parts.push_back("");
  return parts;
}

struct SortKey {
  size_t column;
  bool descending;
};

// --sort COL[,COL...]: COL, -COL or COL:desc (COL:asc, the default, is accepted too).
StatusOr<std::vector<SortKey>> ParseSort(const ResultsDb& db, const std::string& text,
                                         std::vector<Column>& cols) {
  std::vector<SortKey> keys;
  for (std::string part : SplitCommas(text)) {
    bool descending = false;
    if (!part.empty() && part.front() == '-') {
      descending = true;
      part.erase(0, 1);
    }
    const size_t colon = part.find(':');
    if (colon != std::string::npos) {
      const std::string dir = part.substr(colon + 1);
      if (dir != "asc" && dir != "desc")
        return Status::InvalidArgument("--sort " + text + ": expected COL, -COL or COL:desc");
      descending = descending != (dir == "desc");
      part.resize(colon);
    }
    StatusOr<size_t> col = FindColumn(db, "--sort", part, cols);
    if (!col.ok()) return col.status();
    keys.push_back({*col, descending});
  }
  return keys;
}

// --columns COL[,COL...] or all.
StatusOr<std::vector<size_t>> ParseColumns(const ResultsDb& db, const std::string& text,
                                           std::vector<Column>& cols) {
  std::vector<size_t> chosen;
  if (text == "all") {
    for (size_t i = 0; i < cols.size(); ++i) chosen.push_back(i);
    return chosen;
  }
  for (const std::string& part : SplitCommas(text)) {
    StatusOr<size_t> col = FindColumn(db, "--columns", part, cols);
    if (!col.ok()) return col.status();
    chosen.push_back(*col);
  }
  return chosen;
}

// Orders cells: numbers (by value) before text; nulls after both, either direction.
int CompareCells(const json& a, const json& b) {
  if (a.is_null() || b.is_null()) return 0;  // handled by the caller
  if (a.is_number() != b.is_number()) return a.is_number() ? -1 : 1;
  if (a.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : (y < x ? 1 : 0);
  }
  const std::string x = CellText(a, true), y = CellText(b, true);
  return x.compare(y) < 0 ? -1 : (x == y ? 0 : 1);
}

void SortRows(const std::vector<SortKey>& keys, std::vector<std::vector<json>>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    for (const SortKey& k : keys) {
      const json &x = a[k.column], &y = b[k.column];
      if (x.is_null() != y.is_null()) return y.is_null();
      const int c = CompareCells(x, y);
      if (c != 0) return k.descending ? c > 0 : c < 0;
    }
    return false;
  });
}

struct ResultsQuery {
  std::vector<Column> columns;
  std::vector<std::vector<json>> rows;  // one cell per column; point cells hold full ids
};

StatusOr<Statement> PrepareResults(const ResultsDb& db, const DbArgs& a,
                                   const std::vector<Column>& cols) {
  std::vector<Filter> filters;
  for (const std::string& w : a.where) {
    StatusOr<Filter> f = ParseWhere(db, w);
    if (!f.ok()) return f.status();
    filters.push_back(*f);
  }
  if (!a.points.empty()) {
    Filter f{"p.id IN (?", {}};
    for (const std::string& which : a.points) {
      StatusOr<std::string> id = orchestrator::ResolvePointId(db.connection(), which);
      if (!id.ok()) return id.status();
      f.sql += f.params.empty() ? "" : ", ?";
      f.params.push_back(*id);
    }
    f.sql += ")";
    filters.push_back(f);
  }
  std::string sql = "SELECT p.id, p.config";
  for (const Column& c : cols)
    if (c.kind == Column::Kind::kResult) sql += ", " + c.source;
  sql += " FROM points p JOIN results r ON r.point = p.id WHERE p.state = 'COMPLETED'";
  std::vector<json> params;
  if (!a.sweep.empty()) {
    StatusOr<int64_t> id = orchestrator::ResolveSweep(db.connection(), a.sweep);
    if (!id.ok()) return id.status();
    sql += " AND EXISTS (SELECT 1 FROM sweep_points s WHERE s.point = p.id AND s.sweep = ?)";
    params.push_back(*id);
  }
  for (const Filter& f : filters) {
    sql += " AND " + f.sql;
    params.insert(params.end(), f.params.begin(), f.params.end());
  }
  sql +=
      " ORDER BY json_extract(p.config, '$.data.path'), json_extract(p.config, "
      "'$.data.max_seq_len'), json_extract(p.config, '$.model.layers'), json_extract(p.config, "
      "'$.model.d_model'), json_extract(p.config, '$.seed'), p.id";
  StatusOr<Statement> st = Statement::Prepare(db.connection(), sql);
  if (!st.ok()) return st.status();
  for (size_t i = 0; i < params.size(); ++i) {
    PERFLAW_RETURN_IF_ERROR(BindJson(*st, static_cast<int>(i + 1), params[i]));
  }
  return st;
}

// One row: every column's cell, the final metrics of the split read per point.
StatusOr<std::vector<json>> ResultRow(const ResultsDb& db, const std::string& split,
                                      const std::vector<Column>& cols, const Statement& st) {
  const std::string id = st.Text(0);
  const json config = json::parse(st.Text(1), nullptr, false);
  StatusOr<std::vector<orchestrator::MetricValue>> metrics = db.ResultMetrics(id);
  if (!metrics.ok()) return metrics.status();
  std::string protocol;
  std::map<std::pair<std::string, int64_t>, double> values;
  for (const auto& m : *metrics) {
    if (m.split != split) continue;
    protocol = m.protocol;
    values[{m.metric, m.k}] = m.value;
  }
  std::vector<json> cells;
  int sql_col = 2;
  for (const Column& c : cols) {
    switch (c.kind) {
      case Column::Kind::kPoint:
        cells.push_back(id);
        break;
      case Column::Kind::kConfig:
        cells.push_back(ConfigValue(config, c.source));
        break;
      case Column::Kind::kSplit:
        cells.push_back(split);
        break;
      case Column::Kind::kProtocol:
        cells.push_back(protocol.empty() ? json(nullptr) : json(protocol));
        break;
      case Column::Kind::kMetric: {
        auto it = values.find(c.metric);
        cells.push_back(it == values.end() || std::isnan(it->second) ? json(nullptr)
                                                                     : json(it->second));
        break;
      }
      case Column::Kind::kResult: {
        const int i = sql_col++;
        cells.push_back(st.IsNull(i)      ? json(nullptr)
                        : st.IsInteger(i) ? json(st.Int64(i))
                                          : json(st.Double(i)));
        break;
      }
    }
  }
  return cells;
}

StatusOr<std::vector<std::vector<json>>> ReadResultRows(const ResultsDb& db, const DbArgs& a,
                                                        const std::vector<Column>& cols) {
  StatusOr<Statement> st = PrepareResults(db, a, cols);
  if (!st.ok()) return st.status();
  std::vector<std::vector<json>> rows;
  while (true) {
    StatusOr<bool> more = st->Step();
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    StatusOr<std::vector<json>> row = ResultRow(db, a.split, cols, *st);
    if (!row.ok()) return row.status();
    rows.push_back(std::move(row).value());
  }
}

// ---- results: the table a person reads ----

// What the table shows in a cell: short point ids, long data paths cut from the left.
json DisplayCell(const Column& c, const json& v, bool shape,
                 const std::unordered_map<std::string, std::string>& short_ids) {
  if (c.kind == Column::Kind::kPoint && v.is_string()) {
    auto it = short_ids.find(v.get<std::string>());
    return it == short_ids.end() ? v : json(it->second);
  }
  if (shape && c.name == "data.path" && v.is_string() &&
      v.get<std::string>().size() > kDataCellWidth) {
    const std::string s = v.get<std::string>();
    return ".." + s.substr(s.size() - (kDataCellWidth - 2));
  }
  return v;
}

Table MakeTable(const ResultsQuery& q, const std::vector<size_t>& shown, bool table, bool shape,
                const std::unordered_map<std::string, std::string>& short_ids) {
  Table t;
  for (size_t c : shown) t.headers.push_back(table ? q.columns[c].label : q.columns[c].name);
  for (const auto& row : q.rows) {
    std::vector<json> cells;
    for (size_t c : shown)
      cells.push_back(table ? DisplayCell(q.columns[c], row[c], shape, short_ids) : row[c]);
    t.rows.push_back(std::move(cells));
  }
  return t;
}

bool AllSame(const std::vector<std::vector<json>>& rows, size_t c) {
  for (const auto& row : rows)
    if (row[c] != rows.front()[c]) return false;
  return true;
}

// "prefix a, b, c" wrapped at kTableWidth, continuation lines indented.
void PrintWrapped(const std::string& prefix, const std::vector<std::string>& items,
                  std::ostream& out) {
  std::string line = prefix;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = items[i] + (i + 1 < items.size() ? "," : "");
    if (line.size() > 2 && line.size() + 1 + item.size() > kTableWidth) {
      out << line << "\n";
      line = " ";
    }
    line += " " + item;
  }
  out << line << "\n";
}

// The default table: the columns with a priority; configuration values (and the protocol) that
// every row shares said once above it; the least important columns left out when they would make
// it wider than kTableWidth (named below it).
void PrintDefaultTable(const ResultsQuery& q,
                       const std::unordered_map<std::string, std::string>& short_ids,
                       std::ostream& out) {
  std::vector<size_t> shown;
  std::vector<std::string> shared;
  for (size_t c = 0; c < q.columns.size(); ++c) {
    const Column& col = q.columns[c];
    if (col.priority <= 0) continue;
    const bool foldable = col.kind == Column::Kind::kConfig || col.kind == Column::Kind::kProtocol;
    if (foldable && q.rows.size() >= 2 && AllSame(q.rows, c)) {
      // The protocol first: it qualifies every metric.
      if (!q.rows.front()[c].is_null())
        shared.insert(col.kind == Column::Kind::kProtocol ? shared.begin() : shared.end(),
                      col.label + "=" + CellText(q.rows.front()[c], false));
      continue;
    }
    shown.push_back(c);
  }
  // Most important first, each column joins while the table still fits (the point and the metric
  // always do); the table keeps the CSV order.
  std::vector<size_t> by_priority = shown;
  std::stable_sort(by_priority.begin(), by_priority.end(), [&](size_t x, size_t y) {
    return q.columns[x].priority > q.columns[y].priority;
  });
  shown.clear();
  std::vector<std::string> left_out;
  for (size_t c : by_priority) {
    auto at = std::upper_bound(shown.begin(), shown.end(), c);
    at = shown.insert(at, c);
    if (q.columns[c].priority < kAlwaysShown &&
        TextWidth(MakeTable(q, shown, true, true, short_ids)) > kTableWidth) {
      shown.erase(at);
      left_out.push_back(q.columns[c].label);
    }
  }
  if (!shared.empty()) PrintWrapped("all rows:", shared, out);
  PrintTable(MakeTable(q, shown, true, true, short_ids), "table", out);
  if (!left_out.empty()) {
    left_out.back() += " (--columns NAME,... or --columns all)";
    PrintWrapped("not shown, to fit " + std::to_string(kTableWidth) + " columns:", left_out, out);
  }
}

Status RunResults(const DbArgs& a) {
  if (a.split != "test" && a.split != "valid") {
    return Status::InvalidArgument("--split must be test or valid, got " + a.split);
  }
  StatusOr<std::unique_ptr<ResultsDb>> db = OpenReader(a.db);
  if (!db.ok()) return db.status();
  ResultsDb& rdb = **db;
  StatusOr<std::vector<std::pair<std::string, int64_t>>> metric_keys = MetricKeys(rdb, a.split);
  if (!metric_keys.ok()) return metric_keys.status();
  ResultsQuery q{AllColumns(a.split, *metric_keys), {}};
  const size_t standard_columns = q.columns.size();  // --columns/--sort may add config paths
  std::optional<std::vector<size_t>> chosen;
  if (!a.columns.empty()) {
    StatusOr<std::vector<size_t>> c = ParseColumns(rdb, a.columns, q.columns);
    if (!c.ok()) return c.status();
    chosen = *c;
  }
  StatusOr<std::vector<SortKey>> sort = ParseSort(rdb, a.sort, q.columns);
  if (!sort.ok()) return sort.status();
  StatusOr<std::vector<std::vector<json>>> rows = ReadResultRows(rdb, a, q.columns);
  if (!rows.ok()) return rows.status();
  q.rows = std::move(rows).value();
  SortRows(*sort, q.rows);

  const bool table = a.format == "table";
  std::unordered_map<std::string, std::string> short_ids;
  if (table) {
    StatusOr<std::unordered_map<std::string, std::string>> s =
        orchestrator::ShortPointIds(rdb.connection());
    if (!s.ok()) return s.status();
    short_ids = std::move(s).value();
    if (a.sweep.empty()) {
      StatusOr<int64_t> sweeps = orchestrator::CountSweeps(rdb.connection());
      if (!sweeps.ok()) return sweeps.status();
      if (*sweeps > 1)
        std::cout << "points of all " << *sweeps << " sweeps (--sweep NAME|ID for one; perflaw "
                  << "sweeps lists them)\n";
    }
    if (!chosen) {
      PrintDefaultTable(q, short_ids, std::cout);
      return Status::Ok();
    }
  }
  if (!chosen) {
    chosen.emplace();
    for (size_t i = 0; i < standard_columns; ++i) chosen->push_back(i);
  }
  PrintTable(MakeTable(q, *chosen, table, false, short_ids), a.format, std::cout);
  return Status::Ok();
}

// ---- sql ----

Status RunSql(const DbArgs& a) {
  StatusOr<std::unique_ptr<ResultsDb>> db = OpenReader(a.db);
  if (!db.ok()) return db.status();
  StatusOr<Statement> st = Statement::Prepare((*db)->connection(), a.sql);
  if (!st.ok()) {
    // A syntax error is the user's: exit 2.
    return st.status().IsUserError() ? st.status() : Status::InvalidArgument(st.status().message());
  }
  if (!st->ReadOnly()) {
    return Status::InvalidArgument(
        "sql: the statement would modify the database; perflaw sql opens it read-only (only "
        "queries such as SELECT are allowed)");
  }
  Table t;
  for (int c = 0; c < st->ColumnCount(); ++c) t.headers.push_back(st->ColumnName(c));
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return Status::InvalidArgument("sql: " + row.status().message());
    if (!*row) break;
    std::vector<json> cells;
    for (int c = 0; c < st->ColumnCount(); ++c) {
      if (st->IsNull(c)) {
        cells.push_back(nullptr);
      } else if (st->IsInteger(c)) {
        cells.push_back(st->Int64(c));
      } else if (st->IsFloat(c)) {
        cells.push_back(st->Double(c));
      } else {
        cells.push_back(st->Text(c));
      }
    }
    t.rows.push_back(std::move(cells));
  }
  PrintTable(t, a.format, std::cout);
  return Status::Ok();
}

// ---- sweeps ----

// One row per sweep with its points by state (a point shared by two sweeps counts in both); times
// in UTC. The table form shows times as text, the CSV and JSON forms as Unix seconds.
constexpr char kSweepsQuery[] = R"sql(
SELECT s.id, s.name, s.status,
       COUNT(sp.point),
       COALESCE(SUM(p.state = 'COMPLETED'), 0), COALESCE(SUM(p.state = 'FAILED'), 0),
       COALESCE(SUM(p.state = 'RUNNING'), 0), COALESCE(SUM(p.state = 'PENDING'), 0),
       s.created_at, s.started_at, s.finished_at
FROM sweeps s
LEFT JOIN sweep_points sp ON sp.sweep = s.id
LEFT JOIN points p ON p.id = sp.point
GROUP BY s.id ORDER BY s.id)sql";

Status RunSweeps(const DbArgs& a) {
  StatusOr<std::unique_ptr<ResultsDb>> db = OpenReader(a.db);
  if (!db.ok()) return db.status();
  StatusOr<Statement> st = Statement::Prepare((*db)->connection(), kSweepsQuery);
  if (!st.ok()) return st.status();
  Table t;
  t.headers = {"id",      "name",    "state",   "points",  "completed", "failed",
               "running", "pending", "created", "started", "ended"};
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::vector<json> cells = {st->Int64(0), st->Text(1), st->Text(2)};
    for (int c = 3; c < 8; ++c) cells.push_back(st->Int64(c));
    for (int c = 8; c < 11; ++c) {
      if (st->IsNull(c))
        cells.push_back(nullptr);
      else if (a.format == "table")
        cells.push_back(UtcTime(st->Double(c)));
      else
        cells.push_back(st->Double(c));
    }
    t.rows.push_back(std::move(cells));
  }
  PrintTable(t, a.format, std::cout);
  return Status::Ok();
}

}  // namespace

Status AppendWhereClauses(const ResultsDb& db, const std::vector<std::string>& where,
                          std::string* sql, std::vector<json>* params) {
  for (const std::string& w : where) {
    StatusOr<Filter> f = ParseWhere(db, w);
    if (!f.ok()) return f.status();
    *sql += " AND " + f->sql;
    params->insert(params->end(), f->params.begin(), f->params.end());
  }
  return Status::Ok();
}

Status BindParams(Statement& st, const std::vector<json>& params) {
  for (size_t i = 0; i < params.size(); ++i)
    PERFLAW_RETURN_IF_ERROR(BindJson(st, static_cast<int>(i + 1), params[i]));
  return Status::Ok();
}

void RegisterDbCommands(CLI::App& app, Action* action) {
  const auto formats = CLI::IsMember({"table", "csv", "json"});

  auto status_args = std::make_shared<DbArgs>();
  CLI::App* status = app.add_subcommand(
      "status", "a sweep's points by state, running attempts with their age, and an ETA");
  status->add_option("DB", status_args->db, "results database (SQLite file)")->required();
  status->add_option("--sweep", status_args->sweep,
                     "sweep id or name (default: the latest sweep; see perflaw sweeps)");
  status->add_option("--format", status_args->format, "table | json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  status->callback(
      [action, status_args] { *action = [status_args] { return RunStatus(*status_args); }; });

  auto results_args = std::make_shared<DbArgs>();
  CLI::App* results = app.add_subcommand(
      "results", "completed points: configuration, final metrics (with protocol), sizes, times");
  results->add_option("DB", results_args->db, "results database (SQLite file)")->required();
  results
      ->add_option("--where", results_args->where,
                   "filter KEY=VALUE (also != < <= > >=), KEY a configuration path "
                   "(model.layers, data.max_seq_len, seed) or a metric (test.ndcg@10); repeatable")
      ->allow_extra_args(false);  // each --where takes one clause, so DB may follow it
  results->add_option("--split", results_args->split, "which final metrics: test | valid")
      ->capture_default_str();
  results->add_option(
      "--sweep", results_args->sweep,
      "only points of this sweep, by id or name (default: all; see perflaw sweeps)");
  results
      ->add_option("--point", results_args->points,
                   "only this point: its id or a unique prefix of at least 4 characters (the "
                   "table's short ids); repeatable")
      ->allow_extra_args(false);
  results->add_option("--columns", results_args->columns,
                      "columns to show, by name or table header (model.layers or layers, "
                      "ndcg@10, any configuration path such as train.lr), comma-separated; all = "
                      "every column (default: a table that fits 100 columns; CSV/JSON: all)");
  results->add_option("--sort", results_args->sort,
                      "order rows by these columns, comma-separated; -COL or COL:desc descends "
                      "(default: data, max_seq_len, layers, d_model, seed)");
  results->add_option("--format", results_args->format, "table | csv | json")
      ->check(formats)
      ->capture_default_str();
  results->callback(
      [action, results_args] { *action = [results_args] { return RunResults(*results_args); }; });

  auto sweeps_args = std::make_shared<DbArgs>();
  CLI::App* sweeps = app.add_subcommand(
      "sweeps", "the sweeps of a results database: name, state, points by state, times");
  sweeps->add_option("DB", sweeps_args->db, "results database (SQLite file)")->required();
  sweeps->add_option("--format", sweeps_args->format, "table | csv | json")
      ->check(formats)
      ->capture_default_str();
  sweeps->callback(
      [action, sweeps_args] { *action = [sweeps_args] { return RunSweeps(*sweeps_args); }; });

  auto sql_args = std::make_shared<DbArgs>();
  CLI::App* sql = app.add_subcommand("sql", "run one read-only SQL query on a results database");
  sql->add_option("DB", sql_args->db, "results database (SQLite file)")->required();
  sql->add_option("QUERY", sql_args->sql, "one SQL statement, e.g. \"SELECT * FROM points\"")
      ->required();
  sql->add_option("--format", sql_args->format, "table | csv | json")
      ->check(formats)
      ->capture_default_str();
  sql->callback([action, sql_args] { *action = [sql_args] { return RunSql(*sql_args); }; });
}

}  // namespace perflaw::cli
