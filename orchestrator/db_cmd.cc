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
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/cli.h"
#include "orchestrator/results_db.h"
#include "orchestrator/sweep_select.h"

namespace perflaw::cli {
namespace {

using json = nlohmann::json;
using orchestrator::ResultsDb;
using orchestrator::Statement;

struct DbArgs {
  std::string db;
  std::string format = "table";
  std::string sweep;  // id or name; "" = the latest (status) / every sweep (results)
  std::string split = "test";
  std::vector<std::string> where;
  std::string sql;
};

StatusOr<std::unique_ptr<ResultsDb>> OpenReader(const std::string& path) {
  return ResultsDb::OpenReadOnly(path);
}

// ---- tables: rendered as aligned text, CSV or JSON ----

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<json>> rows;  // cells: null, number or string
};

std::string CellText(const json& v, bool exact) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float() && !exact) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();  // integers; floats as the shortest text that reads back exactly
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void PrintTable(const Table& t, const std::string& format, std::ostream& out) {
  if (format == "json") {
    json rows = json::array();
    for (const auto& row : t.rows) {
      json obj = json::object();
      for (size_t c = 0; c < t.headers.size(); ++c) obj[t.headers[c]] = row[c];
      rows.push_back(obj);
    }
    out << rows.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    for (size_t c = 0; c < t.headers.size(); ++c) out << (c ? "," : "") << CsvField(t.headers[c]);
    out << "\n";
    for (const auto& row : t.rows) {
      for (size_t c = 0; c < row.size(); ++c)
        out << (c ? "," : "") << CsvField(CellText(row[c], true));
      out << "\n";
    }
    return;
  }
  std::vector<size_t> width(t.headers.size());
  for (size_t c = 0; c < t.headers.size(); ++c) width[c] = t.headers[c].size();
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], CellText(row[c], false).size());
  }
  auto line = [&](auto cell) {
    std::string s;
    for (size_t c = 0; c < width.size(); ++c) {
      std::string text = cell(c);
      s += (c ? "  " : "") + text + std::string(width[c] - text.size(), ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line([&](size_t c) { return t.headers[c]; });
  for (const auto& row : t.rows) line([&](size_t c) { return CellText(row[c], false); });
  out << "(" << t.rows.size() << " row" << (t.rows.size() == 1 ? "" : "s") << ")\n";
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
                {"eta_seconds", opt(progress->eta_seconds)}};
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
                                {"age_seconds", now - r.started}});
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
    Table t{{"attempt", "point", "group", "hosts", "age_s"}, {}};
    for (const auto& r : progress->running) {
      t.rows.push_back({r.attempt, r.point, r.group, r.hosts, now - r.started});
    }
    std::cout << "running attempts:\n";
    PrintTable(t, "table", std::cout);
  }
  if (!failed->empty()) {
    Table t{{"point", "attempts", "last_exit_reason", "last_error"}, {}};
    for (const auto& f : *failed) t.rows.push_back({f.point, f.attempts, f.exit_reason, f.error});
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
                  << "), " << p.rule << ": " << p.reason << "; point " << p.point << "\n";
    }
  }
  if (progress->mean_completed_seconds) {
    std::cout << "completed attempts: " << progress->completed_attempts << ", mean duration "
              << Seconds(*progress->mean_completed_seconds) << "\n";
  }
  const std::optional<double>& eta = progress->eta_seconds;
  std::cout << "ETA: "
            << (eta ? Seconds(*eta) +
                          " (remaining points x mean completed duration / running groups)"
                    : std::string("unknown (no point has completed yet)"))
            << "\n";
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

Status RunResults(const DbArgs& a) {
  if (a.split != "test" && a.split != "valid") {
    return Status::InvalidArgument("--split must be test or valid, got " + a.split);
  }
  StatusOr<std::unique_ptr<ResultsDb>> db = OpenReader(a.db);
  if (!db.ok()) return db.status();
  ResultsDb& rdb = **db;
  std::vector<Filter> filters;
  for (const std::string& w : a.where) {
    StatusOr<Filter> f = ParseWhere(rdb, w);
    if (!f.ok()) return f.status();
    filters.push_back(*f);
  }
  std::string sql =
      "SELECT p.id, p.config, r.non_embedding_params, r.embedding_params, r.tokens, "
      "r.wall_seconds, r.tokens_per_second, r.best_epoch FROM points p "
      "JOIN results r ON r.point = p.id WHERE p.state = 'COMPLETED'";
  std::vector<json> params;
  if (!a.sweep.empty()) {
    StatusOr<int64_t> id = orchestrator::ResolveSweep(rdb.connection(), a.sweep);
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
  StatusOr<Statement> st = Statement::Prepare(rdb.connection(), sql);
  if (!st.ok()) return st.status();
  for (size_t i = 0; i < params.size(); ++i) {
    PERFLAW_RETURN_IF_ERROR(BindJson(*st, static_cast<int>(i + 1), params[i]));
  }

  const std::vector<std::string> config_columns = {
      "data.path",    "data.max_seq_len", "data.user_fraction", "model.type",
      "model.layers", "model.d_model",    "model.heads",        "seed"};
  struct Row {
    std::vector<json> head;
    std::string protocol;
    std::map<std::pair<std::string, int64_t>, double> metrics;
    std::vector<json> tail;
  };
  std::vector<Row> rows;
  std::set<std::pair<std::string, int64_t>> metric_keys;
  while (true) {
    StatusOr<bool> more = st->Step();
    if (!more.ok()) return more.status();
    if (!*more) break;
    Row row;
    row.head.push_back(st->Text(0));
    json config = json::parse(st->Text(1), nullptr, false);
    for (const std::string& c : config_columns) row.head.push_back(ConfigValue(config, c));
    auto cell = [&](int col) -> json {
      if (st->IsNull(col)) return nullptr;
      return st->IsInteger(col) ? json(st->Int64(col)) : json(st->Double(col));
    };
    for (int col = 2; col <= 7; ++col) row.tail.push_back(cell(col));
    StatusOr<std::vector<orchestrator::MetricValue>> metrics = rdb.ResultMetrics(st->Text(0));
    if (!metrics.ok()) return metrics.status();
    for (const auto& m : *metrics) {
      if (m.split != a.split) continue;
      row.protocol = m.protocol;
      row.metrics[{m.metric, m.k}] = m.value;
      metric_keys.insert({m.metric, m.k});
    }
    rows.push_back(std::move(row));
  }

  Table t;
  t.headers = {"point"};
  t.headers.insert(t.headers.end(), config_columns.begin(), config_columns.end());
  t.headers.push_back("split");
  t.headers.push_back("protocol");
  for (const auto& [metric, k] : metric_keys) t.headers.push_back(MetricColumn(metric, k));
  for (const char* h : {"non_embedding_params", "embedding_params", "tokens", "wall_seconds",
                        "tokens_per_second", "best_epoch"}) {
    t.headers.push_back(h);
  }
  for (Row& r : rows) {
    std::vector<json> cells = r.head;
    cells.push_back(a.split);
    cells.push_back(r.protocol.empty() ? json(nullptr) : json(r.protocol));
    for (const auto& key : metric_keys) {
      auto it = r.metrics.find(key);
      cells.push_back(it == r.metrics.end() || std::isnan(it->second) ? json(nullptr)
                                                                      : json(it->second));
    }
    cells.insert(cells.end(), r.tail.begin(), r.tail.end());
    t.rows.push_back(std::move(cells));
  }
  if (a.sweep.empty() && a.format == "table") {
    StatusOr<int64_t> sweeps = orchestrator::CountSweeps(rdb.connection());
    if (!sweeps.ok()) return sweeps.status();
    if (*sweeps > 1)
      std::cout << "points of all " << *sweeps << " sweeps (--sweep NAME|ID for one; perflaw "
                << "sweeps lists them)\n";
  }
  PrintTable(t, a.format, std::cout);
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
