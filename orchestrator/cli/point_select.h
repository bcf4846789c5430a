// Point ids on the command line and in tables: short unique prefixes, as git shortens commit ids.
// A point id is 32 hex digits (docs/sweep.md); people read and type the first few.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "apen/status.h"
#include "orchestrator/store/sqlite_util.h"

namespace perflaw::orchestrator {

// The fewest characters a typed prefix may have (fewer would match most of a large sweep).
inline constexpr size_t kMinPointPrefix = 4;
// The fewest characters a shown short id has (git's default), unless the whole id is shorter.
inline constexpr size_t kMinShortPointId = 7;

// The point `which` names: its full id, or a prefix of at least kMinPointPrefix characters that
// exactly one point id of the database starts with. InvalidArgument (exit 2) naming `which` when no
// point matches, or listing the candidates when several do.
StatusOr<std::string> ResolvePointId(const SqliteDb& db, const std::string& which);

// For ids sorted ascending (and distinct): the length of each one's shortest prefix that no other
// id starts with, at least min_length (or the id's whole length when it is shorter).
std::vector<size_t> UniquePrefixLengths(const std::vector<std::string>& sorted_ids,
                                        size_t min_length);

// Every point id of the database -> its short id (unique among all of them, so it resolves).
StatusOr<std::unordered_map<std::string, std::string>> ShortPointIds(const SqliteDb& db);

}  // namespace perflaw::orchestrator
