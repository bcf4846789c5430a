// Where a sweep's files lie: paths against the sweep file's folder, and its results database.
#pragma once

#include <optional>
#include <string>

namespace perflaw::orchestrator {

// `p` against the sweep file's folder when relative, normalised.
std::string ResolveAgainst(const std::string& base_dir, const std::string& p);

// The results database of a sweep: its `db:` or NAME.db, against the sweep file's folder.
std::string DbPathOf(const std::string& name, const std::optional<std::string>& db,
                     const std::string& base_dir);

// The database path a sweep's YAML names (`db:`, default NAME.db), resolved against base_dir, read
// without the rest of the sweep (whose files may have moved); none if the YAML does not parse.
std::optional<std::string> DeclaredDbPath(const std::string& yaml_text,
                                          const std::string& base_dir);

}  // namespace perflaw::orchestrator
