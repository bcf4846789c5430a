#include "orchestrator/cli/point_select.h"

#include <algorithm>

#include "apen/did_you_mean.h"

namespace perflaw::orchestrator {

namespace {

// Candidates listed by an ambiguous prefix; one more is fetched to know there are more.
constexpr int kMaxCandidates = 5;

size_t CommonPrefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

StatusOr<bool> PointExists(const SqliteDb& db, const std::string& id) {
  StatusOr<Statement> st = Statement::Prepare(db, "SELECT 1 FROM points WHERE id = ?");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindAll(id));
  return st->Step();
}

// Ids starting with `prefix`, at most kMaxCandidates + 1. The range on the primary key keeps the
// lookup an index seek; substr() checks the match itself, so the bound only has to be loose.
StatusOr<std::vector<std::string>> IdsWithPrefix(const SqliteDb& db, const std::string& prefix) {
  std::string upper = prefix;
  const bool bounded = static_cast<unsigned char>(upper.back()) < 0x7f;
  if (bounded) ++upper.back();
  StatusOr<Statement> st =
      Statement::Prepare(db,
                         "SELECT id FROM points WHERE id >= ?1 AND (?2 IS NULL OR id < ?2) "
                         "AND substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT ?3");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(st->BindText(1, prefix));
  PERFLAW_RETURN_IF_ERROR(bounded ? st->BindText(2, upper) : st->BindNull(2));
  PERFLAW_RETURN_IF_ERROR(st->BindInt64(3, kMaxCandidates + 1));
  std::vector<std::string> ids;
  PERFLAW_RETURN_IF_ERROR(st->ForEachRow([&](Statement& s) { ids.push_back(s.Text(0)); }));
  return ids;
}

}  // namespace

StatusOr<std::string> ResolvePointId(const SqliteDb& db, const std::string& which) {
  StatusOr<bool> exists = PointExists(db, which);
  if (!exists.ok()) return exists.status();
  if (*exists) return which;
  const std::string none = "point " + which + ": no such point in " + db.path();
  if (which.size() < kMinPointPrefix) {
    return Status::InvalidArgument(none + " (a prefix needs at least " +
                                   std::to_string(kMinPointPrefix) + " characters)");
  }
  StatusOr<std::vector<std::string>> ids = IdsWithPrefix(db, which);
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return Status::InvalidArgument(none);
  if (ids->size() == 1) return ids->front();
  const bool more = ids->size() > static_cast<size_t>(kMaxCandidates);
  if (more) ids->pop_back();
  return Status::InvalidArgument(
      "point " + which + ": ambiguous prefix, it starts " +
      (more ? "more than " + std::to_string(kMaxCandidates) : std::to_string(ids->size())) +
      " point ids in " + db.path() + ": " + JoinWords(*ids) + (more ? ", ..." : "") +
      "; give more characters");
}

std::vector<size_t> UniquePrefixLengths(const std::vector<std::string>& sorted_ids,
                                        size_t min_length) {
  // In sorted order an id shares its longest prefix with a neighbour, so neighbours decide.
  std::vector<size_t> lengths(sorted_ids.size());
  for (size_t i = 0; i < sorted_ids.size(); ++i) {
    size_t shared = 0;
    if (i > 0) shared = CommonPrefix(sorted_ids[i - 1], sorted_ids[i]);
    if (i + 1 < sorted_ids.size())
      shared = std::max(shared, CommonPrefix(sorted_ids[i], sorted_ids[i + 1]));
    lengths[i] = std::min(sorted_ids[i].size(), std::max(min_length, shared + 1));
  }
  return lengths;
}

StatusOr<std::unordered_map<std::string, std::string>> ShortPointIds(const SqliteDb& db) {
  StatusOr<Statement> st = Statement::Prepare(db, "SELECT id FROM points ORDER BY id");
  if (!st.ok()) return st.status();
  std::vector<std::string> ids;
  PERFLAW_RETURN_IF_ERROR(st->ForEachRow([&](Statement& s) { ids.push_back(s.Text(0)); }));
  const std::vector<size_t> lengths = UniquePrefixLengths(ids, kMinShortPointId);
  std::unordered_map<std::string, std::string> short_ids;
  short_ids.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) short_ids.emplace(ids[i], ids[i].substr(0, lengths[i]));
  return short_ids;
}

}  // namespace perflaw::orchestrator
