#include "orchestrator/store/sqlite_util.h"

#include <sqlite3.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <unordered_map>
#include <utility>

namespace perflaw::orchestrator {
namespace {

// Errors that mean "try again later" or the OS refused, rather than a bug in our SQL.
bool IsIoLike(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
         primary == SQLITE_CANTOPEN || primary == SQLITE_FULL || primary == SQLITE_READONLY ||
         primary == SQLITE_PERM;
}

Status StatusFor(int rc, const std::string& message) {
  int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB) return Status::InvalidArgument(message);  // the user's wrong file
  if (primary == SQLITE_CORRUPT) return Status::Corruption(message);
  if (IsIoLike(rc)) return Status::IoError(message);
  return Status::Internal(message);
}

bool OnlyWhitespaceOrComments(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ';') {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      size_t end = s.find('\n', i);
      i = end == std::string_view::npos ? s.size() : end + 1;
    } else if (s.compare(i, 2, "/*") == 0) {
      size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- The statement pool ----

namespace internal {

struct StatementPool {
  // Idle statements of one SQL text beyond this are finalized (nested uses of one text are rare).
  static constexpr size_t kMaxIdlePerSql = 2;
  std::unordered_multimap<std::string, sqlite3_stmt*> idle;

  sqlite3_stmt* Take(std::string_view sql) {
    auto it = idle.find(std::string(sql));
    if (it == idle.end()) return nullptr;
    sqlite3_stmt* stmt = it->second;
    idle.erase(it);
    return stmt;
  }
  void Give(const std::string& sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);  // releases its locks; an error here was reported by the step that failed
    sqlite3_clear_bindings(stmt);
    if (idle.count(sql) >= kMaxIdlePerSql) {
      sqlite3_finalize(stmt);
      return;
    }
    idle.emplace(sql, stmt);
  }
  ~StatementPool() {
    for (auto& [sql, stmt] : idle) sqlite3_finalize(stmt);
  }
};

}  // namespace internal

// ---- SqliteDb ----

void SqliteDb::Closer::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
  if (tidy_wal_of.empty()) return;
  // Never creates the database; fails harmlessly where the file or folder is not writable. SQLite
  // itself decides whether this connection is the last one (another reader or a writer keeps the
  // files).
  sqlite3* tidy = nullptr;
  if (sqlite3_open_v2(tidy_wal_of.c_str(), &tidy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) == SQLITE_OK) {
    sqlite3_exec(tidy, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  }
  sqlite3_close_v2(tidy);
}

StatusOr<SqliteDb> SqliteDb::Open(const std::string& path, Mode mode, int busy_timeout_ms) {
  std::error_code ec;
  if (mode == Mode::kReadOnly && !std::filesystem::exists(path, ec)) {
    return Status::NotFound(path + ": no such results database");
  }
  int flags =
      SQLITE_OPEN_NOMUTEX |
      (mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const bool tidy = mode == Mode::kReadOnly && !std::filesystem::exists(path + "-wal", ec) &&
                    !std::filesystem::exists(path + "-shm", ec);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteDb db;
  db.db_.reset(raw);  // sqlite3_open_v2 may allocate a handle even when it fails
  if (tidy) db.db_.get_deleter().tidy_wal_of = path;
  db.pool_ = std::make_shared<internal::StatementPool>();
  db.path_ = path;
  db.mode_ = mode;
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return StatusFor(rc, path + ": cannot open the database: " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return db;
}

Status SqliteDb::Exec(const char* sql) const {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string msg = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return StatusFor(rc, path_ + ": " + msg);
}

Status SqliteDb::Error(const std::string& what) const {
  int rc = sqlite3_extended_errcode(db_.get());
  return StatusFor(rc, path_ + ": " + what + ": " + sqlite3_errmsg(db_.get()));
}

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_.get()); }
int SqliteDb::Changes() const { return sqlite3_changes(db_.get()); }

// ---- Statement ----

void Statement::Finalizer::operator()(sqlite3_stmt* stmt) const {
  if (auto p = pool.lock()) {
    p->Give(sql, stmt);
  } else {
    sqlite3_finalize(stmt);
  }
}

StatusOr<Statement> Statement::Prepare(const SqliteDb& db, std::string_view sql) {
  if (db.pool_) {
    if (sqlite3_stmt* reused = db.pool_->Take(sql)) {
      Statement st;
      st.stmt_ =
          std::unique_ptr<sqlite3_stmt, Finalizer>(reused, Finalizer{db.pool_, std::string(sql)});
      st.db_ = db.get();
      return st;
    }
  }
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &raw, &tail);
  Statement st;
  st.stmt_ = std::unique_ptr<sqlite3_stmt, Finalizer>(raw, Finalizer{db.pool_, std::string(sql)});
  st.db_ = db.get();
  if (rc != SQLITE_OK) return db.Error("SQL error");
  if (!raw) return Status::InvalidArgument("SQL: empty statement");
  std::string_view rest(tail, sql.data() + sql.size() - tail);
  if (!OnlyWhitespaceOrComments(rest)) {
    return Status::InvalidArgument("SQL: only one statement is allowed, found more after: " +
                                   std::string(sql.substr(0, sql.size() - rest.size())));
  }
  return st;
}

Status Statement::Check(int rc, const char* what) const {
  if (rc == SQLITE_OK) return Status::Ok();
  return StatusFor(rc, std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Statement::BindNull(int index) {
  return Check(sqlite3_bind_null(stmt_.get(), index), "bind");
}
Status Statement::BindInt64(int index, int64_t value) {
  return Check(sqlite3_bind_int64(stmt_.get(), index, value), "bind");
}
Status Statement::BindDouble(int index, double value) {
  return Check(sqlite3_bind_double(stmt_.get(), index, value), "bind");
}
Status Statement::BindText(int index, std::string_view value) {
  return Check(sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8),
               "bind");
}

StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_.get());
  std::string head = sql ? std::string(sql).substr(0, 60) : std::string("?");
  const char* file = sqlite3_db_filename(db_, "main");
  return StatusFor(rc, std::string(file && *file ? file : "database") + ": " + sqlite3_errmsg(db_) +
                           " (in: " + head + ")");
}

Status Statement::Run() {
  while (true) {
    StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

Status Statement::Reset() {
  sqlite3_reset(stmt_.get());  // returns the last step's error, already reported by Step()
  return Check(sqlite3_clear_bindings(stmt_.get()), "reset");
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_.get()); }
std::string Statement::ColumnName(int col) const {
  const char* name = sqlite3_column_name(stmt_.get(), col);
  return name ? name : "";
}
bool Statement::IsNull(int col) const {
  return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL;
}
bool Statement::IsInteger(int col) const {
  return sqlite3_column_type(stmt_.get(), col) == SQLITE_INTEGER;
}
bool Statement::IsFloat(int col) const {
  return sqlite3_column_type(stmt_.get(), col) == SQLITE_FLOAT;
}
int64_t Statement::Int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
double Statement::Double(int col) const {
  if (IsNull(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_.get(), col);
}
std::string Statement::Text(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), col);
  int n = sqlite3_column_bytes(stmt_.get(), col);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(n))
              : std::string();
}
std::optional<double> Statement::OptionalDouble(int col) const {
  if (IsNull(col)) return std::nullopt;
  return sqlite3_column_double(stmt_.get(), col);
}
bool Statement::ReadOnly() const { return sqlite3_stmt_readonly(stmt_.get()) != 0; }
std::string Statement::Sql() const {
  const char* sql = sqlite3_sql(stmt_.get());
  return sql ? sql : "";
}

bool SqliteDb::InTransaction() const { return db_ && !sqlite3_get_autocommit(db_.get()); }

// ---- Transaction ----

namespace {
constexpr char kSavepoint[] = "perflaw_change";
}  // namespace

StatusOr<Transaction> Transaction::Begin(const SqliteDb& db) {
  const bool nested = !sqlite3_get_autocommit(db.get());
  StatusOr<Statement> begin = Statement::Prepare(
      db, nested ? std::string("SAVEPOINT ") + kSavepoint : std::string("BEGIN IMMEDIATE"));
  if (!begin.ok()) return begin.status();
  PERFLAW_RETURN_IF_ERROR(begin->Run());
  Transaction t;
  t.db_ = &db;
  t.nested_ = nested;
  return t;
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), nested_(other.nested_) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    Rollback();
    db_ = std::exchange(other.db_, nullptr);
    nested_ = other.nested_;
  }
  return *this;
}

Transaction::~Transaction() { Rollback(); }

Status Transaction::Commit() {
  if (!db_) return Status::Internal("commit of a transaction that is not open");
  StatusOr<Statement> commit = Statement::Prepare(
      *db_, nested_ ? std::string("RELEASE ") + kSavepoint : std::string("COMMIT"));
  Status st = commit.ok() ? commit->Run() : commit.status();
  if (st.ok()) db_ = nullptr;  // on failure the destructor rolls back
  return st;
}

void Transaction::Rollback() {
  if (!db_) return;
  // Errors are ignored: SQLite may already have rolled back (e.g. after an I/O error), the outer
  // transaction with it.
  if (!sqlite3_get_autocommit(db_->get())) {
    const std::string sql =
        nested_ ? std::string("ROLLBACK TO ") + kSavepoint + "; RELEASE " + kSavepoint
                : std::string("ROLLBACK");
    sqlite3_exec(db_->get(), sql.c_str(), nullptr, nullptr, nullptr);
  }
  db_ = nullptr;
}

StatusOr<Statement> FirstRow(StatusOr<Statement> query, Status missing) {
  if (!query.ok()) return query.status();
  StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return missing;
  return query;
}

}  // namespace perflaw::orchestrator
