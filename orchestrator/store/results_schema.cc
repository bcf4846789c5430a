#include "orchestrator/store/results_schema.h"

#include <string>

namespace perflaw::orchestrator {
namespace {

// Schema migrations, applied in order inside one transaction; migration i brings user_version
// from i to i + 1. Append only: never edit a released entry. Times are Unix seconds (REAL).
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE sweeps (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  yaml        TEXT NOT NULL,
  created_at  REAL NOT NULL,
  started_at  REAL,
  finished_at REAL,
  status      TEXT NOT NULL DEFAULT 'CREATED'
              CHECK (status IN ('CREATED', 'RUNNING', 'COMPLETED', 'INTERRUPTED'))
);
CREATE TABLE points (
  id         TEXT PRIMARY KEY,
  config     TEXT NOT NULL CHECK (json_valid(config)),
  state      TEXT NOT NULL DEFAULT 'PENDING'
             CHECK (state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  failures   INTEGER NOT NULL DEFAULT 0,
  cost       REAL NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
CREATE INDEX points_state ON points (state);
CREATE TABLE sweep_points (
  sweep INTEGER NOT NULL REFERENCES sweeps (id),
  point TEXT NOT NULL REFERENCES points (id),
  PRIMARY KEY (sweep, point)
);
CREATE INDEX sweep_points_point ON sweep_points (point);
CREATE TABLE attempts (
  id          INTEGER PRIMARY KEY,
  point       TEXT NOT NULL REFERENCES points (id),
  group_id    INTEGER NOT NULL,
  hosts       TEXT NOT NULL CHECK (json_valid(hosts)),
  ranks       TEXT NOT NULL CHECK (json_valid(ranks)),
  started_at  REAL NOT NULL,
  ended_at    REAL,
  exit_reason TEXT CHECK (exit_reason IN ('completed', 'failed', 'diverged', 'timeout',
                                          'heartbeat_lost', 'interrupted', 'preempted')),
  error       TEXT,
  CHECK ((ended_at IS NULL) = (exit_reason IS NULL))
);
CREATE INDEX attempts_point ON attempts (point);
CREATE INDEX attempts_open ON attempts (ended_at) WHERE ended_at IS NULL;
CREATE TABLE epoch_metrics (
  point    TEXT NOT NULL REFERENCES points (id),
  attempt  INTEGER NOT NULL REFERENCES attempts (id),
  epoch    INTEGER NOT NULL,
  split    TEXT NOT NULL,
  metric   TEXT NOT NULL,
  k        INTEGER NOT NULL DEFAULT 0,
  value    REAL,
  protocol TEXT NOT NULL,
  PRIMARY KEY (point, attempt, epoch, split, metric, k, protocol)
);
CREATE TABLE results (
  point                TEXT PRIMARY KEY REFERENCES points (id),
  attempt              INTEGER NOT NULL REFERENCES attempts (id),
  result               TEXT NOT NULL CHECK (json_valid(result)),
  embedding_params     INTEGER,
  non_embedding_params INTEGER,
  tokens               INTEGER,
  steps                INTEGER,
  best_epoch           INTEGER,
  wall_seconds         REAL,
  train_seconds        REAL,
  tokens_per_second    REAL,
  device               TEXT,
  world_size           INTEGER,
  created_at           REAL NOT NULL
);
CREATE TABLE result_metrics (
  point    TEXT NOT NULL REFERENCES results (point),
  split    TEXT NOT NULL,
  metric   TEXT NOT NULL,
  k        INTEGER NOT NULL DEFAULT 0,
  value    REAL,
  protocol TEXT NOT NULL,
  users    INTEGER,
  eval_seed INTEGER,
  PRIMARY KEY (point, split, metric, k, protocol)
);
CREATE TABLE dataset_stats (
  id           INTEGER PRIMARY KEY,
  dataset      TEXT NOT NULL,
  options      TEXT NOT NULL,
  max_seq_len  INTEGER NOT NULL,
  users        INTEGER NOT NULL,
  interactions INTEGER NOT NULL,
  tokens       INTEGER NOT NULL,
  apen         REAL,
  sampen       REAL,
  lz_entropy   REAL,
  shannon_bits REAL,
  zlib_ratio   REAL,
  m            INTEGER NOT NULL,
  r            REAL NOT NULL,
  created_at   REAL NOT NULL,
  UNIQUE (dataset, options, max_seq_len, m, r)
);
CREATE TABLE fits (
  id         INTEGER PRIMARY KEY,
  created_at REAL NOT NULL,
  form       TEXT NOT NULL,
  metric     TEXT NOT NULL,
  group_keys TEXT NOT NULL CHECK (json_valid(group_keys)),
  selection  TEXT NOT NULL CHECK (json_valid(selection)),
  params     TEXT NOT NULL CHECK (json_valid(params)),
  n_points   INTEGER NOT NULL,
  converged  INTEGER NOT NULL,
  r2         REAL,
  rmse       REAL,
  loo_rmse   REAL,
  loo_r2     REAL,
  optimum    TEXT CHECK (optimum IS NULL OR json_valid(optimum))
);
)sql",
    // 1 -> 2: adaptive rounds.
    R"sql(
CREATE TABLE rounds (
  sweep      INTEGER NOT NULL REFERENCES sweeps (id),
  round      INTEGER NOT NULL CHECK (round >= 1),
  created_at REAL NOT NULL,
  metric     TEXT NOT NULL,
  form       TEXT NOT NULL,
  verdicts   TEXT NOT NULL CHECK (json_valid(verdicts)),
  decision   TEXT NOT NULL,
  final      INTEGER NOT NULL CHECK (final IN (0, 1)),
  PRIMARY KEY (sweep, round)
);
CREATE TABLE round_points (
  sweep  INTEGER NOT NULL,
  round  INTEGER NOT NULL,
  point  TEXT NOT NULL REFERENCES points (id),
  grp    TEXT NOT NULL,
  layers  REAL NOT NULL,
  d_model REAL NOT NULL,
  rule   TEXT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (sweep, point),
  FOREIGN KEY (sweep, round) REFERENCES rounds (sweep, round)
);
)sql",
    // 2 -> 3: the dataset's transition entropy H(next item | previous item) in bits, Miller-Madow
    // corrected and plug-in, and the pairs it was estimated from (apen/transition.h).
    R"sql(
ALTER TABLE dataset_stats ADD COLUMN transition_bits REAL;
ALTER TABLE dataset_stats ADD COLUMN transition_plugin_bits REAL;
ALTER TABLE dataset_stats ADD COLUMN transition_pairs INTEGER;
)sql",
};
constexpr int kNumMigrations = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kNumMigrations == kResultsSchemaVersion, "one migration per schema version");

}  // namespace

StatusOr<int> SchemaVersion(const SqliteDb& db) {
  StatusOr<Statement> st = Statement::Prepare(db, "PRAGMA user_version");
  if (!st.ok()) return st.status();
  StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>(st->Int64(0)) : 0;
}

Status NewerSchemaError(const std::string& path, int version) {
  return Status::FailedPrecondition(
      path + ": the results database has schema version " + std::to_string(version) +
      ", newer than this perflaw understands (" + std::to_string(kResultsSchemaVersion) +
      "); use a newer perflaw");
}

Status EnableWal(const SqliteDb& db) {
  // journal_mode cannot change inside a transaction; once set it is stored in the file.
  StatusOr<Statement> wal = Statement::Prepare(db, "PRAGMA journal_mode = WAL");
  if (!wal.ok()) return wal.status();
  StatusOr<bool> row = wal->Step();
  if (!row.ok()) return row.status();
  const std::string mode = *row ? wal->Text(0) : std::string("?");
  if (mode != "wal") {
    return Status::IoError(db.path() +
                           ": cannot switch the database to WAL mode (journal_mode is " + mode +
                           "); is it on a file system without shared memory, e.g. NFS?");
  }
  return Status::Ok();
}

Status MigrateSchema(const SqliteDb& db) {
  StatusOr<Transaction> txn = Transaction::Begin(db);
  if (!txn.ok()) return txn.status();
  StatusOr<int> version = SchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > kResultsSchemaVersion) return NewerSchemaError(db.path(), *version);
  if (*version == 0) {
    // A fresh file has no tables; anything else without a version is not ours.
    StatusOr<Statement> tables = Statement::Prepare(db, "SELECT count(*) FROM sqlite_master");
    if (!tables.ok()) return tables.status();
    StatusOr<bool> row = tables->Step();
    if (!row.ok()) return row.status();
    if (*row && tables->Int64(0) > 0) {
      return Status::FailedPrecondition(db.path() +
                                        ": not a perflaw results database (it has tables but no "
                                        "perflaw schema version)");
    }
  }
  for (int v = *version; v < kResultsSchemaVersion; ++v) {
    PERFLAW_RETURN_IF_ERROR(db.Exec(kMigrations[v]));
    // PRAGMA takes no parameters; the value is our own integer.
    const std::string set_version = "PRAGMA user_version = " + std::to_string(v + 1);
    PERFLAW_RETURN_IF_ERROR(db.Exec(set_version.c_str()));
  }
  return txn->Commit();
}

StatusOr<int> ReadableSchemaVersion(const SqliteDb& db) {
  StatusOr<int> version = SchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > kResultsSchemaVersion) return NewerSchemaError(db.path(), *version);
  if (*version == 0) {
    return Status::FailedPrecondition(db.path() + ": not a perflaw results database");
  }
  return *version;
}

}  // namespace perflaw::orchestrator
