// Thin RAII wrappers over the SQLite C API: a connection, a prepared statement and a transaction.
// Every failure becomes a perflaw::Status carrying SQLite's own message. User data only ever
// reaches SQLite through Bind(); SqliteDb::Exec() is for fixed SQL written in this code base.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "apen/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace perflaw::orchestrator {

namespace internal {
struct StatementPool;  // compiled statements of one connection, kept for reuse (sqlite_util.cc)
}

// One connection. Move-only; closes the handle when it goes away.
class SqliteDb {
 public:
  enum class Mode {
    kReadWriteCreate,  // the single writer: creates the file if missing
    kReadOnly,         // readers: never create or modify the file (SQLITE_OPEN_READONLY)
  };

  // Opens `path`. A reader on a missing file gets NotFound and nothing is created.
  static StatusOr<SqliteDb> Open(const std::string& path, Mode mode, int busy_timeout_ms);

  SqliteDb() = default;
  SqliteDb(SqliteDb&&) = default;
  SqliteDb& operator=(SqliteDb&&) = default;

  sqlite3* get() const { return db_.get(); }
  const std::string& path() const { return path_; }
  bool read_only() const { return mode_ == Mode::kReadOnly; }
  // A transaction is open (SQLite rolls one back on its own after some errors: full disk, I/O).
  bool InTransaction() const;

  // Runs fixed SQL (possibly several statements). Never pass text that contains user data.
  Status Exec(const char* sql) const;
  // A status for the connection's last error: "<what>: <sqlite message>". Busy/locked/IO errors
  // are IoError, everything else Internal.
  Status Error(const std::string& what) const;
  int64_t LastInsertRowId() const;
  int Changes() const;  // rows changed by the last INSERT/UPDATE/DELETE

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
    // Set on a read-only connection that found no -wal/-shm beside the database: SQLite creates
    // them for a WAL reader but only a read-write connection removes them, when it closes last.
    // Closing, such a connection opens and closes one so that reading leaves the folder as it was.
    std::string tidy_wal_of;
  };
  std::unique_ptr<sqlite3, Closer> db_;
  // Declared after db_, so destroyed (finalizing its statements) before the connection closes.
  std::shared_ptr<internal::StatementPool> pool_;
  friend class Statement;
  std::string path_;
  Mode mode_ = Mode::kReadOnly;
};

// One prepared statement. Move-only; finalized when it goes away. Parameters are 1-based.
class Statement {
 public:
  // Compiles exactly one statement; trailing statements are rejected (InvalidArgument). A statement
  // of the same text that went away on this connection is reused (reset, bindings cleared) instead
  // of compiled again: a sweep runs the same few statements for every point.
  static StatusOr<Statement> Prepare(const SqliteDb& db, std::string_view sql);

  Statement() = default;
  Statement(Statement&&) = default;
  Statement& operator=(Statement&&) = default;

  Status BindNull(int index);
  Status BindInt64(int index, int64_t value);
  Status BindDouble(int index, double value);  // NaN is stored as NULL (SQLite's rule)
  Status BindText(int index, std::string_view value);

  // Binds by C++ type: integers, floating point, strings, nullptr, std::optional of those.
  template <typename T>
  Status Bind(int index, const T& value) {
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
      return BindNull(index);
    } else if constexpr (std::is_same_v<T, bool>) {
      return BindInt64(index, value ? 1 : 0);
    } else if constexpr (std::is_integral_v<T>) {
      return BindInt64(index, static_cast<int64_t>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
      return BindDouble(index, static_cast<double>(value));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      return BindText(index, std::string_view(value));
    } else {
      return value.has_value() ? Bind(index, *value) : BindNull(index);  // std::optional
    }
  }
  // Binds the arguments to parameters 1..n.
  template <typename... Args>
  Status BindAll(const Args&... args) {
    int index = 0;
    Status st;
    ((st.ok() ? (st = Bind(++index, args), 0) : 0), ...);
    return st;
  }

  // Advances: true when a row is ready, false when the statement is done.
  StatusOr<bool> Step();
  // Steps to completion (for statements that return no rows, or whose rows are not needed).
  Status Run();
  // Ready to run again with new bindings.
  Status Reset();
  // Steps through every row, calling fn(*this) on each; stops at the first error.
  template <typename F>
  Status ForEachRow(F&& fn) {
    while (true) {
      StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      fn(*this);
    }
  }

  int ColumnCount() const;
  std::string ColumnName(int col) const;
  bool IsNull(int col) const;
  bool IsInteger(int col) const;
  bool IsFloat(int col) const;
  int64_t Int64(int col) const;
  double Double(int col) const;  // NULL reads as NaN
  std::string Text(int col) const;
  std::optional<double> OptionalDouble(int col) const;
  // True when the statement does not write to the database (sqlite3_stmt_readonly).
  bool ReadOnly() const;
  std::string Sql() const;

 private:
  // Gives the statement back to its connection's pool (or finalizes it when the pool is gone).
  struct Finalizer {
    std::weak_ptr<internal::StatementPool> pool;
    std::string sql;
    void operator()(sqlite3_stmt* stmt) const;
  };
  Status Check(int rc, const char* what) const;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE (the write lock up front, so a transaction never fails half-way on a lock
// upgrade) ... Commit(); rolled back if destroyed without a successful Commit().
// Begun while another transaction is open on the connection (a batch of changes, see DbListener),
// it is a SAVEPOINT instead: Commit releases it into the outer transaction and a rollback undoes
// only its own changes; they become durable when the outer transaction commits.
class Transaction {
 public:
  static StatusOr<Transaction> Begin(const SqliteDb& db);

  Transaction() = default;
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  void Rollback();
  const SqliteDb* db_ = nullptr;  // null once committed or rolled back
  bool nested_ = false;           // a savepoint inside an outer transaction
};

// `sql` prepared, with `args` bound to its parameters 1..n.
template <typename... Args>
StatusOr<Statement> Query(const SqliteDb& db, std::string_view sql, const Args&... args) {
  StatusOr<Statement> st = Statement::Prepare(db, sql);
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(args...));
  return st;
}

// The query stepped to its first row, whose columns can then be read; `missing` when it has none.
StatusOr<Statement> FirstRow(StatusOr<Statement> query, Status missing);

// Every row of the query, each made a T by read(row).
template <typename T, typename Read>
StatusOr<std::vector<T>> AllRows(StatusOr<Statement> query, Read read) {
  if (!query.ok()) return query.status();
  std::vector<T> rows;
  PERFLAW_RETURN_IF_ERROR(query->ForEachRow([&](Statement& r) { rows.push_back(read(r)); }));
  return rows;
}

// Runs a statement that must produce exactly one row and returns its first column as an integer.
template <typename... Args>
StatusOr<int64_t> QueryInt(const SqliteDb& db, std::string_view sql, const Args&... args) {
  StatusOr<Statement> st = FirstRow(Query(db, sql, args...),
                                    Status::Internal("query returned no row: " + std::string(sql)));
  if (!st.ok()) return st.status();
  return st->Int64(0);
}

}  // namespace perflaw::orchestrator
