#include "orchestrator/cli/sweep_select.h"

#include <vector>

#include "apen/did_you_mean.h"

namespace perflaw::orchestrator {

namespace {

StatusOr<std::vector<std::string>> SweepLabels(const SqliteDb& db) {
  StatusOr<Statement> st =
      Statement::Prepare(db, "SELECT id || ' (' || name || ')' FROM sweeps ORDER BY id");
  if (!st.ok()) return st.status();
  std::vector<std::string> labels;
  while (true) {
    StatusOr<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return labels;
    labels.push_back(st->Text(0));
  }
}

}  // namespace

StatusOr<int64_t> ResolveSweep(const SqliteDb& db, const std::string& which) {
  // More than 18 digits cannot be an id (int64); such a string is looked up as a name.
  const bool is_id = !which.empty() && which.size() <= 18 &&
                     which.find_first_not_of("0123456789") == std::string::npos;
  StatusOr<Statement> st = Statement::Prepare(
      db, is_id ? "SELECT id FROM sweeps WHERE id = ?"
                : "SELECT id FROM sweeps WHERE name = ? ORDER BY id DESC LIMIT 1");
  if (!st.ok()) return st.status();
  PERFLAW_RETURN_IF_ERROR(is_id ? st->BindInt64(1, std::stoll(which)) : st->BindText(1, which));
  StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (*row) return st->Int64(0);
  StatusOr<std::vector<std::string>> labels = SweepLabels(db);
  if (!labels.ok()) return labels.status();
  return Status::InvalidArgument(
      "--sweep " + which + ": no such sweep in " + db.path() +
      (labels->empty() ? " (it has none)" : " (sweeps: " + JoinWords(*labels) + ")"));
}

StatusOr<int64_t> CountSweeps(const SqliteDb& db) {
  StatusOr<Statement> st = Statement::Prepare(db, "SELECT COUNT(*) FROM sweeps");
  if (!st.ok()) return st.status();
  StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return st->Int64(0);
}

}  // namespace perflaw::orchestrator
