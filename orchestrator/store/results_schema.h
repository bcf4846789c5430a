// The results database's schema: its migrations (kMigrations in results_schema.cc, one per
// version, append only) and the version checks of opening a file. ResultsDb (results_db.h) opens
// and migrates through these; docs/database.md describes the tables.
#pragma once

#include <string>

#include "apen/status.h"
#include "orchestrator/store/sqlite_util.h"

namespace perflaw::orchestrator {

// The schema version this perflaw writes. 2: adaptive rounds (tables rounds, round_points);
// 3: dataset_stats' transition entropy.
inline constexpr int kResultsSchemaVersion = 3;

// The file's PRAGMA user_version (0: a fresh file, or not ours).
StatusOr<int> SchemaVersion(const SqliteDb& db);
// FailedPrecondition: `path` has schema `version`, newer than kResultsSchemaVersion.
Status NewerSchemaError(const std::string& path, int version);
// PRAGMA journal_mode = WAL, IoError where the file system cannot (outside any transaction).
Status EnableWal(const SqliteDb& db);
// Applies the missing migrations in one transaction. Refuses a newer schema and a file that has
// tables but no perflaw schema version.
Status MigrateSchema(const SqliteDb& db);
// A reader's check: the file's version, refused when newer than this perflaw or 0 (not ours).
StatusOr<int> ReadableSchemaVersion(const SqliteDb& db);

}  // namespace perflaw::orchestrator
