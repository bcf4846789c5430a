#include "orchestrator/store/results_db.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "orchestrator/schedule/eta.h"
#include "orchestrator/store/results_schema.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;

double SystemNow() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

template <typename... Args>
Status Run(const SqliteDb& db, std::string_view sql, const Args&... args) {
  StatusOr<Statement> st = Query(db, sql, args...);
  if (!st.ok()) return st.status();
  return st->Run();
}

// SQL that holds for the point `point` when sweep ?1 holds it, or when ?1 is NULL (every sweep).
std::string InSweep(const char* point) {
  return std::string("(?1 IS NULL OR EXISTS (SELECT 1 FROM sweep_points s WHERE s.point = ") +
         point + " AND s.sweep = ?1))";
}

// Runs a statement prepared once for many rows with `args` bound, and resets it for the next.
template <typename... Args>
Status RunRow(Statement& st, const Args&... args) {
  PERFLAW_RETURN_IF_ERROR(st.BindAll(args...));
  PERFLAW_RETURN_IF_ERROR(st.Run());
  return st.Reset();
}

std::optional<double> Finite(double v) {
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

// A JSON number as a double (null, missing or non-numeric -> NaN).
double NumberOr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}
std::optional<int64_t> IntegerOr(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<int64_t>();
}

// Splits one worker RankMetrics JSON ({split, protocol, users, eval_seed, hr@K, ndcg@K, mrr}) into
// rows. Keys: "hr@10" -> (hr, 10), "mrr" -> (mrr, 0).
StatusOr<std::vector<MetricValue>> RankMetricRows(const json& m) {
  if (!m.is_object() || !m.contains("split") || !m.contains("protocol")) {
    return Status::InvalidArgument("rank metrics need split and protocol: " + m.dump());
  }
  std::vector<MetricValue> rows;
  const std::string split = m["split"].get<std::string>();
  const std::string protocol = m["protocol"].get<std::string>();
  for (const auto& item : m.items()) {
    const std::string& key = item.key();
    if (!item.value().is_number()) continue;
    size_t at = key.find('@');
    if (at != std::string::npos) {
      rows.push_back({split, key.substr(0, at), std::stoll(key.substr(at + 1)),
                      item.value().get<double>(), protocol});
    } else if (key == "mrr") {
      rows.push_back({split, key, 0, item.value().get<double>(), protocol});
    }
  }
  return rows;
}

// Dotted paths of the keys whose values differ between two JSON objects ("model.d_model").
void CollectDifferingKeys(const json& a, const json& b, const std::string& prefix,
                          std::vector<std::string>* out) {
  if (!a.is_object() || !b.is_object()) {
    if (a != b) out->push_back(prefix);
    return;
  }
  std::set<std::string> keys;
  for (const auto& item : a.items()) keys.insert(item.key());
  for (const auto& item : b.items()) keys.insert(item.key());
  for (const std::string& key : keys) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!a.contains(key) || !b.contains(key)) {
      out->push_back(path);
    } else {
      CollectDifferingKeys(a[key], b[key], path, out);
    }
  }
}

// "model.d_model: stored 64, now 32; ..." for the first few keys, the values from the whole
// configurations (a key the comparison left out, like an "auto" precision, shows as it is stored).
std::string DescribeDifferences(const std::vector<std::string>& keys, const json& stored,
                                const json& now) {
  auto at = [](const json& j, std::string path) {
    std::replace(path.begin(), path.end(), '.', '/');  // configuration keys hold no '.' or '/'
    const json::json_pointer pointer("/" + path);
    return j.contains(pointer) ? j[pointer].dump() : std::string("(absent)");
  };
  constexpr size_t kShown = 3;
  std::string text;
  for (size_t i = 0; i < keys.size() && i < kShown; ++i) {
    if (i > 0) text += "; ";
    text += keys[i] + ": stored " + at(stored, keys[i]) + ", now " + at(now, keys[i]);
  }
  if (keys.size() > kShown) text += "; and " + std::to_string(keys.size() - kShown) + " more";
  return text;
}

}  // namespace

// ---- names ----

const char* PointStateName(PointState state) {
  switch (state) {
    case PointState::kPending:
      return "PENDING";
    case PointState::kRunning:
      return "RUNNING";
    case PointState::kCompleted:
      return "COMPLETED";
    case PointState::kFailed:
      return "FAILED";
  }
  return "?";
}

std::optional<PointState> ParsePointState(const std::string& name) {
  for (PointState s :
       {PointState::kPending, PointState::kRunning, PointState::kCompleted, PointState::kFailed}) {
    if (name == PointStateName(s)) return s;
  }
  return std::nullopt;
}

const char* AttemptEndName(AttemptEnd end) {
  if (!end) return "completed";
  switch (*end) {
    case FailureReason::kGroupLost:
      return FailureReasonName(FailureReason::kHeartbeatLost);
    case FailureReason::kStorage:
      return FailureReasonName(FailureReason::kInterrupted);
    default:
      return FailureReasonName(*end);
  }
}

bool ResultsDbOptions::IsValid(std::string* why) const {
  if (busy_timeout_ms < 0) {
    *why = "busy_timeout_ms must be >= 0, got " + std::to_string(busy_timeout_ms);
    return false;
  }
  return true;
}

// ---- opening ----

ResultsDb::ResultsDb(SqliteDb db, ResultsDbOptions options)
    : db_(std::move(db)), options_(std::move(options)) {}

double ResultsDb::Now() const { return options_.clock ? options_.clock() : SystemNow(); }

StatusOr<std::unique_ptr<ResultsDb>> ResultsDb::OpenForWriting(const std::string& path,
                                                               const ResultsDbOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument("results database: " + why);
  StatusOr<SqliteDb> db =
      SqliteDb::Open(path, SqliteDb::Mode::kReadWriteCreate, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  std::unique_ptr<ResultsDb> rdb(new ResultsDb(std::move(db).value(), options));
  // Refuse a newer schema before touching the file at all (journal_mode is stored in it).
  StatusOr<int> version = SchemaVersion(rdb->db_);
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) return NewerSchemaError(path, *version);
  PERFLAW_RETURN_IF_ERROR(EnableWal(rdb->db_));
  PERFLAW_RETURN_IF_ERROR(rdb->db_.Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"));
  PERFLAW_RETURN_IF_ERROR(MigrateSchema(rdb->db_));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::IoError(path + ": cannot stat the database: " + std::strerror(errno));
  rdb->file_dev_ = st.st_dev;
  rdb->file_ino_ = st.st_ino;
  return rdb;
}

Status ResultsDb::CheckInPlace() const {
  const std::string& path = db_.path();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::IoError(path + " was removed during the run (" + std::strerror(errno) +
                           "); what was written since is lost");
  if (st.st_dev != file_dev_ || st.st_ino != file_ino_)
    return Status::IoError(path + " was replaced by another file during the run");
  // Permission bits are checked when a file is opened, never again for the descriptor SQLite holds.
  if (::access(path.c_str(), W_OK) != 0)
    return Status::IoError(path + " was made read-only during the run (" + std::strerror(errno) +
                           "); make it writable and perflaw resume it");
  return Status::Ok();
}

StatusOr<std::unique_ptr<ResultsDb>> ResultsDb::OpenReadOnly(const std::string& path,
                                                             const ResultsDbOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument("results database: " + why);
  StatusOr<SqliteDb> db = SqliteDb::Open(path, SqliteDb::Mode::kReadOnly, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  std::unique_ptr<ResultsDb> rdb(new ResultsDb(std::move(db).value(), options));
  PERFLAW_RETURN_IF_ERROR(rdb->db_.Exec("PRAGMA query_only = ON"));
  PERFLAW_RETURN_IF_ERROR(rdb->CheckReadableVersion());
  return rdb;
}

Status ResultsDb::CheckReadableVersion() {
  StatusOr<int> version = ReadableSchemaVersion(db_);
  if (!version.ok()) return version.status();
  schema_version_ = *version;
  return Status::Ok();
}

// ---- sweeps ----

StatusOr<int64_t> ResultsDb::RecordSweep(const std::string& yaml, const std::string& name) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  PERFLAW_RETURN_IF_ERROR(
      Run(db_, "INSERT INTO sweeps (name, yaml, created_at) VALUES (?, ?, ?)", name, yaml, Now()));
  int64_t id = db_.LastInsertRowId();
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return id;
}

Status ResultsDb::MarkSweepStarted(int64_t sweep) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "UPDATE sweeps SET status = 'RUNNING', finished_at = NULL, "
                              "started_at = coalesce(started_at, ?) WHERE id = ?",
                              Now(), sweep));
  if (db_.Changes() != 1) return Status::NotFound("no sweep " + std::to_string(sweep));
  return txn->Commit();
}

Status ResultsDb::MarkSweepFinished(int64_t sweep, const std::string& status) {
  if (status != "COMPLETED" && status != "INTERRUPTED") {
    return Status::InvalidArgument("sweep status must be COMPLETED or INTERRUPTED, got " + status);
  }
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  PERFLAW_RETURN_IF_ERROR(
      Run(db_, "UPDATE sweeps SET status = ?, finished_at = ? WHERE id = ?", status, Now(), sweep));
  if (db_.Changes() != 1) return Status::NotFound("no sweep " + std::to_string(sweep));
  return txn->Commit();
}

StatusOr<SweepRecord> ResultsDb::GetSweep(int64_t sweep) const {
  StatusOr<Statement> st =
      FirstRow(Query(db_,
                     "SELECT id, name, yaml, status, created_at, started_at, "
                     "finished_at FROM sweeps WHERE id = ?",
                     sweep),
               Status::NotFound(db_.path() + ": no sweep " + std::to_string(sweep)));
  if (!st.ok()) return st.status();
  return SweepRecord{st->Int64(0),  st->Text(1),           st->Text(2),          st->Text(3),
                     st->Double(4), st->OptionalDouble(5), st->OptionalDouble(6)};
}

StatusOr<std::optional<int64_t>> ResultsDb::LatestSweep() const {
  StatusOr<int64_t> n = QueryInt(db_, "SELECT coalesce(max(id), 0) FROM sweeps");
  if (!n.ok()) return n.status();
  return *n > 0 ? std::optional<int64_t>(*n) : std::nullopt;
}

// ---- points ----

StatusOr<AddPointsResult> ResultsDb::AddPoints(int64_t sweep, const std::vector<NewPoint>& points) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  StatusOr<int64_t> has_sweep = QueryInt(db_, "SELECT count(*) FROM sweeps WHERE id = ?", sweep);
  if (!has_sweep.ok()) return has_sweep.status();
  if (*has_sweep == 0) return Status::NotFound(db_.path() + ": no sweep " + std::to_string(sweep));
  StatusOr<Statement> insert = Statement::Prepare(db_,
                                                  "INSERT OR IGNORE INTO points (id, config, cost, "
                                                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?)");
  StatusOr<Statement> lookup =
      Statement::Prepare(db_, "SELECT config, state FROM points WHERE id = ?");
  StatusOr<Statement> link =
      Statement::Prepare(db_, "INSERT OR IGNORE INTO sweep_points (sweep, point) VALUES (?, ?)");
  StatusOr<Statement> relocate = Statement::Prepare(
      db_, "UPDATE points SET config = ?, updated_at = ? WHERE id = ? AND state != 'COMPLETED'");
  if (!insert.ok()) return insert.status();
  if (!lookup.ok()) return lookup.status();
  if (!link.ok()) return link.status();
  if (!relocate.ok()) return relocate.status();
  AddPointsResult result;
  const double now = Now();
  for (const NewPoint& p : points) {
    if (p.id.empty()) return Status::InvalidArgument("a point needs a non-empty id");
    json config = json::parse(p.config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) {
      return Status::InvalidArgument("point " + p.id + ": configuration is not valid JSON");
    }
    PERFLAW_RETURN_IF_ERROR(RunRow(*insert, p.id, p.config_json, p.cost, now, now));
    if (db_.Changes() == 1) {
      ++result.added;
    } else {
      PERFLAW_RETURN_IF_ERROR(lookup->BindAll(p.id));
      StatusOr<bool> row = lookup->Step();
      if (!row.ok()) return row.status();
      json stored = json::parse(lookup->Text(0), nullptr, false);
      const bool completed = lookup->Text(1) == "COMPLETED";
      PERFLAW_RETURN_IF_ERROR(lookup->Reset());
      if (stored != config) {
        std::vector<std::string> differ;
        CollectDifferingKeys(worker::ExperimentPart(stored), worker::ExperimentPart(config), "",
                             &differ);
        if (!differ.empty()) {
          return Status::FailedPrecondition(
              db_.path() + ": point " + p.id +
              " is already stored with a different configuration (" +
              DescribeDifferences(differ, stored, config) +
              "; the point id must be the hash of its configuration)");
        }
        // The same experiment whose dataset, work_dir or device moved: a point still to run
        // takes the new locations; a completed one keeps the configuration it ran with.
        if (!completed) {
          PERFLAW_RETURN_IF_ERROR(RunRow(*relocate, p.config_json, now, p.id));
        }
        ++result.relocated;
      }
      ++result.existing;
      if (completed) ++result.existing_completed;
    }
    PERFLAW_RETURN_IF_ERROR(RunRow(*link, sweep, p.id));
  }
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return result;
}

namespace {
PointRecord ReadPointRow(const Statement& st) {
  PointRecord p;
  p.id = st.Text(0);
  p.config_json = st.Text(1);
  p.state = ParsePointState(st.Text(2)).value_or(PointState::kPending);
  p.attempts = st.Int64(3);
  p.failures = st.Int64(4);
  p.cost = st.Double(5);
  return p;
}
}  // namespace

StatusOr<std::vector<PointRecord>> ResultsDb::PendingPoints(int64_t sweep) const {
  return AllRows<PointRecord>(
      Query(db_,
            "SELECT p.id, p.config, p.state, p.attempts, p.failures, p.cost FROM points p "
            "JOIN sweep_points s ON s.point = p.id WHERE s.sweep = ? AND p.state = 'PENDING' "
            "ORDER BY p.cost DESC, p.id",
            sweep),
      ReadPointRow);
}

StatusOr<PointRecord> ResultsDb::LoadPoint(const std::string& point) const {
  StatusOr<Statement> st = FirstRow(
      Query(db_, "SELECT id, config, state, attempts, failures, cost FROM points WHERE id = ?",
            point),
      Status::NotFound(db_.path() + ": no point " + point));
  if (!st.ok()) return st.status();
  return ReadPointRow(*st);
}

StatusOr<PointRecord> ResultsDb::GetPoint(const std::string& point) const {
  return LoadPoint(point);
}

// ---- attempts ----

StatusOr<int64_t> ResultsDb::StartAttempt(const std::string& point, int64_t group,
                                          const std::vector<std::string>& hosts,
                                          const std::vector<int>& ranks) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  StatusOr<PointRecord> p = LoadPoint(point);
  if (!p.ok()) return p.status();
  if (p->state != PointState::kPending) {
    return Status::FailedPrecondition("point " + point + " is " + PointStateName(p->state) +
                                      ", only a PENDING point can start an attempt");
  }
  const double now = Now();
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "UPDATE points SET state = 'RUNNING', attempts = attempts + 1, "
                              "updated_at = ? WHERE id = ?",
                              now, point));
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "INSERT INTO attempts (point, group_id, hosts, ranks, started_at) "
                              "VALUES (?, ?, ?, ?, ?)",
                              point, group, json(hosts).dump(), json(ranks).dump(), now));
  int64_t id = db_.LastInsertRowId();
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return id;
}

Status ResultsDb::CheckAttemptOfPoint(const std::string& point, int64_t attempt, bool* open) const {
  StatusOr<Statement> st =
      FirstRow(Query(db_, "SELECT point, ended_at IS NULL FROM attempts WHERE id = ?", attempt),
               Status::NotFound(db_.path() + ": no attempt " + std::to_string(attempt)));
  if (!st.ok()) return st.status();
  if (st->Text(0) != point) {
    return Status::InvalidArgument("attempt " + std::to_string(attempt) + " belongs to point " +
                                   st->Text(0) + ", not " + point);
  }
  *open = st->Int64(1) != 0;
  return Status::Ok();
}

StatusOr<PointRecord> ResultsDb::LoadPointOfAttempt(const std::string& point, int64_t attempt,
                                                    bool* open) const {
  StatusOr<PointRecord> p = LoadPoint(point);
  if (!p.ok()) return p.status();
  PERFLAW_RETURN_IF_ERROR(CheckAttemptOfPoint(point, attempt, open));
  return p;
}

Status ResultsDb::CloseAttempt(int64_t attempt, AttemptEnd end, const std::string& error) {
  return Run(db_,
             "UPDATE attempts SET ended_at = ?, exit_reason = ?, error = ? "
             "WHERE id = ? AND ended_at IS NULL",
             Now(), AttemptEndName(end), error.empty() ? std::optional<std::string>() : error,
             attempt);
}

Status ResultsDb::RecordEpochMetrics(const std::string& point, int64_t attempt, const json& epoch) {
  std::optional<int64_t> number = IntegerOr(epoch, "epoch");
  if (!number) return Status::InvalidArgument("epoch record without an epoch number");
  // Training quantities have no ranking protocol: "none".
  std::vector<MetricValue> rows;
  for (const auto& [key, split, metric] :
       {std::tuple<const char*, const char*, const char*>{"train_loss", "train", "loss"},
        {"steps", "train", "steps"},
        {"train_seconds", "train", "seconds"},
        {"train_cpu_seconds", "train", "cpu_seconds"},
        {"eval_seconds", "valid", "eval_seconds"}}) {
    if (epoch.contains(key)) rows.push_back({split, metric, 0, NumberOr(epoch, key), "none"});
  }
  if (epoch.contains("valid") && epoch["valid"].is_object()) {
    StatusOr<std::vector<MetricValue>> valid = RankMetricRows(epoch["valid"]);
    if (!valid.ok()) return valid.status();
    rows.insert(rows.end(), valid->begin(), valid->end());
  }
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  bool open = false;
  PERFLAW_RETURN_IF_ERROR(CheckAttemptOfPoint(point, attempt, &open));
  StatusOr<Statement> insert = Statement::Prepare(
      db_,
      "INSERT OR REPLACE INTO epoch_metrics (point, attempt, epoch, split, metric, k, value, "
      "protocol) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  for (const MetricValue& m : rows) {
    PERFLAW_RETURN_IF_ERROR(RunRow(*insert, point, attempt, *number, m.split, m.metric, m.k,
                                   Finite(m.value), m.protocol));
  }
  return txn->Commit();
}

Status ResultsDb::StoreResult(const std::string& point, int64_t attempt, const json& result) {
  const json& params = result.contains("params") ? result["params"] : json::object();
  PERFLAW_RETURN_IF_ERROR(
      Run(db_,
          "INSERT INTO results (point, attempt, result, embedding_params, non_embedding_params, "
          "tokens, "
          "steps, best_epoch, wall_seconds, train_seconds, tokens_per_second, device, world_size, "
          "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          point, attempt, result.dump(), IntegerOr(params, "embedding"),
          IntegerOr(params, "non_embedding"), IntegerOr(result, "tokens_seen"),
          IntegerOr(result, "steps"), IntegerOr(result, "best_epoch"),
          Finite(NumberOr(result, "wall_seconds")), Finite(NumberOr(result, "train_seconds")),
          Finite(NumberOr(result, "tokens_per_second")),
          result.contains("device") && result["device"].is_string()
              ? std::optional<std::string>(result["device"].get<std::string>())
              : std::nullopt,
          IntegerOr(result, "world_size"), Now()));
  StatusOr<Statement> insert = Statement::Prepare(
      db_,
      "INSERT INTO result_metrics (point, split, metric, k, value, protocol, users, eval_seed) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  for (const char* split : {"valid", "test"}) {
    if (!result.contains(split) || !result[split].is_object()) continue;
    const json& m = result[split];
    StatusOr<std::vector<MetricValue>> rows = RankMetricRows(m);
    if (!rows.ok()) return rows.status();
    for (const MetricValue& v : *rows) {
      PERFLAW_RETURN_IF_ERROR(RunRow(*insert, point, v.split, v.metric, v.k, Finite(v.value),
                                     v.protocol, IntegerOr(m, "users"), IntegerOr(m, "eval_seed")));
    }
  }
  return Status::Ok();
}

Status ResultsDb::CompletePoint(const std::string& point, int64_t attempt, const json& result) {
  if (!result.is_object() || result.value("status", std::string()) != "ok") {
    return Status::InvalidArgument("point " + point +
                                   ": CompletePoint needs a result with status \"ok\" (use "
                                   "FailAttempt for others)");
  }
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  bool open = false;
  StatusOr<PointRecord> p = LoadPointOfAttempt(point, attempt, &open);
  if (!p.ok()) return p.status();
  PERFLAW_RETURN_IF_ERROR(CloseAttempt(attempt, std::nullopt, ""));
  if (p->state != PointState::kCompleted) {
    // A late result of an attempt that was already given up on is still a valid result.
    PERFLAW_RETURN_IF_ERROR(StoreResult(point, attempt, result));
    PERFLAW_RETURN_IF_ERROR(Run(
        db_, "UPDATE points SET state = 'COMPLETED', updated_at = ? WHERE id = ?", Now(), point));
  }
  return txn->Commit();
}

StatusOr<PointState> ResultsDb::FailAttempt(const std::string& point, int64_t attempt,
                                            FailureReason reason, const std::string& error,
                                            int64_t max_attempts) {
  if (max_attempts < 1) {
    return Status::InvalidArgument("max_attempts must be >= 1, got " +
                                   std::to_string(max_attempts));
  }
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  bool open = false;
  StatusOr<PointRecord> p = LoadPointOfAttempt(point, attempt, &open);
  if (!p.ok()) return p.status();
  if (!open) return p->state;  // already closed: reporting it twice changes nothing
  PERFLAW_RETURN_IF_ERROR(CloseAttempt(attempt, reason, error));
  PointState next = p->state;
  // Only the point's current attempt moves its state; a completed point stays completed.
  if (p->state == PointState::kRunning) {
    const int64_t failures = p->failures + (CountsAgainstPoint(reason) ? 1 : 0);
    next = failures >= max_attempts ? PointState::kFailed : PointState::kPending;
    PERFLAW_RETURN_IF_ERROR(
        Run(db_, "UPDATE points SET state = ?, failures = ?, updated_at = ? WHERE id = ?",
            PointStateName(next), failures, Now(), point));
  }
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return next;
}

StatusOr<int64_t> ResultsDb::CloseInterruptedAttempts() {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  const double now = Now();
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "UPDATE attempts SET ended_at = ?, exit_reason = 'interrupted', "
                              "error = 'left running by a job that ended' WHERE ended_at IS NULL",
                              now));
  const int64_t closed = db_.Changes();
  PERFLAW_RETURN_IF_ERROR(
      Run(db_, "UPDATE points SET state = 'PENDING', updated_at = ? WHERE state = 'RUNNING'", now));
  PERFLAW_RETURN_IF_ERROR(
      Run(db_, "UPDATE sweeps SET status = 'INTERRUPTED', finished_at = ? WHERE status = 'RUNNING'",
          now));
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return closed;
}

StatusOr<int64_t> ResultsDb::ResetFailed(int64_t sweep) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "UPDATE points SET state = 'PENDING', failures = 0, updated_at = ? "
                              "WHERE state = 'FAILED' AND id IN "
                              "(SELECT point FROM sweep_points WHERE sweep = ?)",
                              Now(), sweep));
  const int64_t reset = db_.Changes();
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return reset;
}

// ---- queries ----

StatusOr<StateCounts> ResultsDb::Counts(std::optional<int64_t> sweep) const {
  StatusOr<Statement> st = Query(
      db_, "SELECT state, count(*) FROM points p WHERE " + InSweep("p.id") + " GROUP BY state",
      sweep);
  if (!st.ok()) return st.status();
  StateCounts counts;
  PERFLAW_RETURN_IF_ERROR(st->ForEachRow([&](Statement& r) {
    std::optional<PointState> s = ParsePointState(r.Text(0));
    int64_t n = r.Int64(1);
    if (s == PointState::kPending) counts.pending = n;
    if (s == PointState::kRunning) counts.running = n;
    if (s == PointState::kCompleted) counts.completed = n;
    if (s == PointState::kFailed) counts.failed = n;
  }));
  return counts;
}

StatusOr<std::vector<RunningAttempt>> ResultsDb::RunningAttempts(
    std::optional<int64_t> sweep) const {
  return AllRows<RunningAttempt>(
      Query(db_,
            "SELECT a.id, a.point, a.group_id, a.hosts, a.started_at, p.cost, "
            "coalesce((SELECT max(epoch) FROM epoch_metrics e WHERE e.point = a.point AND "
            "e.attempt = a.id), 0), "
            "(SELECT count(DISTINCT epoch) FROM epoch_metrics e WHERE e.point = a.point AND "
            "e.attempt = a.id), "
            "coalesce(json_extract(p.config, '$.train.epochs'), 0) "
            "FROM attempts a JOIN points p ON p.id = a.point "
            "WHERE a.ended_at IS NULL AND " +
                InSweep("a.point") + " ORDER BY a.started_at, a.id",
            sweep),
      [](const Statement& r) {
        return RunningAttempt{r.Int64(0),
                              r.Text(1),
                              r.Int64(2),
                              r.Text(3),
                              r.Double(4),
                              r.Double(5),
                              static_cast<uint32_t>(r.Int64(6)),
                              static_cast<uint32_t>(r.Int64(7)),
                              static_cast<uint32_t>(r.Int64(8))};
      });
}

StatusOr<std::vector<std::pair<double, double>>> ResultsDb::CompletedDurations(
    std::optional<int64_t> sweep) const {
  return AllRows<std::pair<double, double>>(
      Query(db_,
            "SELECT p.cost, a.ended_at - a.started_at FROM attempts a JOIN points p ON p.id = "
            "a.point WHERE a.exit_reason = 'completed' AND " +
                InSweep("a.point") + " ORDER BY a.id",
            sweep),
      [](const Statement& r) { return std::make_pair(r.Double(0), r.Double(1)); });
}

StatusOr<DurationModel> ResultsDb::FitDurations(std::optional<int64_t> sweep) const {
  StatusOr<std::vector<std::pair<double, double>>> durations = CompletedDurations(sweep);
  if (!durations.ok()) return durations.status();
  DurationModel model;
  for (const auto& [cost, seconds] : *durations) model.Add(cost, seconds);
  return model;
}

StatusOr<std::vector<double>> ResultsDb::PendingCosts(std::optional<int64_t> sweep) const {
  return AllRows<double>(
      Query(db_, "SELECT p.cost FROM points p WHERE p.state = 'PENDING' AND " + InSweep("p.id"),
            sweep),
      [](const Statement& r) { return r.Double(0); });
}

StatusOr<SweepProgress> ResultsDb::GetProgress(std::optional<int64_t> sweep) const {
  SweepProgress p;
  p.now = Now();
  StatusOr<StateCounts> counts = Counts(sweep);
  if (!counts.ok()) return counts.status();
  p.counts = *counts;
  StatusOr<std::vector<RunningAttempt>> running = RunningAttempts(sweep);
  if (!running.ok()) return running.status();
  p.running = std::move(running).value();
  StatusOr<DurationModel> model = FitDurations(sweep);
  if (!model.ok()) return model.status();
  StatusOr<std::vector<double>> waiting = PendingCosts(sweep);
  if (!waiting.ok()) return waiting.status();
  p.completed_attempts = model->samples();
  if (model->Identified()) p.mean_completed_seconds = model->mean();
  std::vector<RunningWork> work;
  for (const RunningAttempt& r : p.running)
    work.push_back({r.cost, p.now - r.started, r.last_epoch, r.epochs_this_attempt, r.epochs_max});
  p.eta_seconds =
      EstimateEta(*model, *waiting, work, std::max<int>(1, static_cast<int>(p.running.size())));
  return p;
}

StatusOr<std::vector<FailedPoint>> ResultsDb::FailedPoints(std::optional<int64_t> sweep) const {
  return AllRows<FailedPoint>(
      Query(db_,
            "SELECT p.id, p.attempts, coalesce(a.exit_reason, ''), coalesce(a.error, '') FROM "
            "points p LEFT JOIN attempts a ON a.id = (SELECT max(id) FROM attempts WHERE point = "
            "p.id) WHERE p.state = 'FAILED' AND " +
                InSweep("p.id") + " ORDER BY p.id",
            sweep),
      [](const Statement& r) {
        return FailedPoint{r.Text(0), r.Int64(1), r.Text(2), r.Text(3)};
      });
}

namespace {
// A row of (split, metric, k, value, protocol).
MetricValue ReadMetricRow(const Statement& r) {
  return {r.Text(0), r.Text(1), r.Int64(2), r.Double(3), r.Text(4)};
}
}  // namespace

StatusOr<std::vector<MetricValue>> ResultsDb::ResultMetrics(const std::string& point) const {
  return AllRows<MetricValue>(Query(db_,
                                    "SELECT split, metric, k, value, protocol FROM result_metrics "
                                    "WHERE point = ? ORDER BY split, metric, k",
                                    point),
                              ReadMetricRow);
}

StatusOr<std::vector<MetricValue>> ResultsDb::EpochMetrics(const std::string& point,
                                                           int64_t attempt) const {
  return AllRows<MetricValue>(Query(db_,
                                    "SELECT split, metric, k, value, protocol FROM epoch_metrics "
                                    "WHERE point = ? AND attempt = ? "
                                    "ORDER BY epoch, split, metric, k",
                                    point, attempt),
                              ReadMetricRow);
}

// ---- dataset statistics and fits ----

Status ResultsDb::StoreDatasetStats(const DatasetStatsRecord& s) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  PERFLAW_RETURN_IF_ERROR(Run(
      db_,
      "INSERT INTO dataset_stats (dataset, options, max_seq_len, users, interactions, tokens, "
      "apen, sampen, lz_entropy, shannon_bits, zlib_ratio, m, r, created_at, transition_bits, "
      "transition_plugin_bits, transition_pairs) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (dataset, options, max_seq_len, m, r) DO UPDATE SET users = excluded.users, "
      "interactions = excluded.interactions, tokens = excluded.tokens, apen = excluded.apen, "
      "sampen = excluded.sampen, lz_entropy = excluded.lz_entropy, "
      "shannon_bits = excluded.shannon_bits, zlib_ratio = excluded.zlib_ratio, "
      "created_at = excluded.created_at, transition_bits = excluded.transition_bits, "
      "transition_plugin_bits = excluded.transition_plugin_bits, "
      "transition_pairs = excluded.transition_pairs",
      s.dataset, s.options, s.max_seq_len, s.users, s.interactions, s.tokens, Finite(s.apen),
      Finite(s.sampen), Finite(s.lz_entropy), Finite(s.shannon_bits), Finite(s.zlib_ratio), s.m,
      s.r, Now(), Finite(s.transition_bits), Finite(s.transition_plugin_bits), s.transition_pairs));
  return txn->Commit();
}

StatusOr<StoredFit> ResultsDb::StoreFit(const FitRecord& f) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  const std::string keys = f.group_keys.dump(), selection = f.selection.dump(),
                    params = f.params.dump();
  StatusOr<Statement> same =
      Query(db_,
            "SELECT id FROM fits WHERE form = ? AND metric = ? AND group_keys = ? AND selection = "
            "? AND params = ? AND n_points = ? ORDER BY id LIMIT 1",
            f.form, f.metric, keys, selection, params, f.n_points);
  if (!same.ok()) return same.status();
  StatusOr<bool> found = same->Step();
  if (!found.ok()) return found.status();
  if (*found) return StoredFit{same->Int64(0), /*existed=*/true};
  PERFLAW_RETURN_IF_ERROR(
      Run(db_,
          "INSERT INTO fits (created_at, form, metric, group_keys, selection, params, n_points, "
          "converged, r2, rmse, loo_rmse, loo_r2, optimum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
          "?, ?, ?)",
          Now(), f.form, f.metric, keys, selection, params, f.n_points, f.converged, Finite(f.r2),
          Finite(f.rmse), Finite(f.loo_rmse), Finite(f.loo_r2),
          f.optimum.is_null() ? std::optional<std::string>() : f.optimum.dump()));
  const int64_t id = db_.LastInsertRowId();
  PERFLAW_RETURN_IF_ERROR(txn->Commit());
  return StoredFit{id, /*existed=*/false};
}

// ---- adaptive rounds ----

Status ResultsDb::RecordRound(const RoundRecord& r, const std::vector<NewPoint>& points) {
  StatusOr<Transaction> txn = Transaction::Begin(db_);
  if (!txn.ok()) return txn.status();
  StatusOr<AddPointsResult> added = AddPoints(r.sweep, points);
  if (!added.ok()) return added.status();
  PERFLAW_RETURN_IF_ERROR(Run(db_,
                              "INSERT INTO rounds (sweep, round, created_at, metric, form, "
                              "verdicts, decision, final) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              r.sweep, r.round, Now(), r.metric, r.form, r.verdicts.dump(),
                              r.decision, r.final));
  for (const RoundPointRecord& p : r.points)
    PERFLAW_RETURN_IF_ERROR(Run(db_,
                                "INSERT INTO round_points (sweep, round, point, grp, layers, "
                                "d_model, rule, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                r.sweep, r.round, p.point, p.group, p.layers, p.d_model, p.rule,
                                p.reason));
  return txn->Commit();
}

StatusOr<std::vector<RoundRecord>> ResultsDb::Rounds(int64_t sweep) const {
  if (schema_version_ < 2) return std::vector<RoundRecord>();
  StatusOr<std::vector<RoundRecord>> rounds = AllRows<RoundRecord>(
      Query(db_,
            "SELECT round, created_at, metric, form, verdicts, decision, final FROM rounds "
            "WHERE sweep = ? ORDER BY round",
            sweep),
      [sweep](const Statement& row) {
        RoundRecord r;
        r.sweep = sweep;
        r.round = row.Int64(0);
        r.created = row.Double(1);
        r.metric = row.Text(2);
        r.form = row.Text(3);
        r.verdicts = json::parse(row.Text(4), nullptr, /*allow_exceptions=*/false);
        r.decision = row.Text(5);
        r.final = row.Int64(6) != 0;
        return r;
      });
  if (!rounds.ok()) return rounds.status();
  StatusOr<Statement> pts = Query(db_,
                                  "SELECT round, point, grp, layers, d_model, rule, reason FROM "
                                  "round_points WHERE sweep = ? ORDER BY round, rowid",
                                  sweep);
  if (!pts.ok()) return pts.status();
  PERFLAW_RETURN_IF_ERROR(pts->ForEachRow([&](Statement& row) {
    const int64_t round = row.Int64(0);
    for (RoundRecord& r : *rounds)
      if (r.round == round)
        r.points.push_back(
            {row.Text(1), row.Text(2), row.Double(3), row.Double(4), row.Text(5), row.Text(6)});
  }));
  return rounds;
}

Status ResultsDb::IntegrityCheck() const {
  StatusOr<Statement> st = Statement::Prepare(db_, "PRAGMA integrity_check");
  if (!st.ok()) return st.status();
  std::string report;
  PERFLAW_RETURN_IF_ERROR(
      st->ForEachRow([&](Statement& r) { report += (report.empty() ? "" : "; ") + r.Text(0); }));
  if (report == "ok") return Status::Ok();
  return Status::Corruption(db_.path() + ": integrity_check: " + report);
}

DatasetStatsRecord StatsRecordOf(const apen::DataOptions& options, const apen::Dataset& data,
                                 const apen::QualitySummary& quality) {
  DatasetStatsRecord r;
  r.dataset = options.path;
  r.options = options.CanonicalString();
  r.max_seq_len = static_cast<int64_t>(quality.options.max_seq_len);
  r.users = static_cast<int64_t>(data.num_users());
  r.interactions = static_cast<int64_t>(data.num_interactions());
  r.tokens = static_cast<int64_t>(quality.tokens);
  r.apen = quality.apen.mean;
  r.sampen = quality.sampen.mean;
  r.lz_entropy = quality.lz.mean;
  r.shannon_bits = quality.shannon_bits;
  r.zlib_ratio = quality.zlib_ratio;
  r.transition_bits = quality.transition.bits();
  r.transition_plugin_bits = quality.transition.conditional.plugin;
  r.transition_pairs = static_cast<int64_t>(quality.transition.pairs);
  r.m = quality.options.m;
  r.r = quality.options.r;
  return r;
}

}  // namespace perflaw::orchestrator
