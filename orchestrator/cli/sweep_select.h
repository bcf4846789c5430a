// `--sweep NAME|ID` of the commands that read a results database (status, results, fit, predict,
// suggest, report).
#pragma once

#include <cstdint>
#include <string>

#include "apen/status.h"
#include "orchestrator/store/sqlite_util.h"

namespace perflaw::orchestrator {

// The sweep `which` names: an id (digits), or a name (the latest sweep of that name).
// InvalidArgument (exit 2) listing the database's sweeps when none matches.
StatusOr<int64_t> ResolveSweep(const SqliteDb& db, const std::string& which);

// How many sweeps the database records.
StatusOr<int64_t> CountSweeps(const SqliteDb& db);

}  // namespace perflaw::orchestrator
