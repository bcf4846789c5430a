#include "orchestrator/run/plan.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "orchestrator/store/results_db.h"

namespace perflaw::orchestrator {

namespace fs = std::filesystem;

namespace {

// The stored YAML ends with this comment, so that resume resolves relative paths as the run did.
constexpr const char kBaseDirComment[] = "# perflaw: base_dir ";
}  // namespace

std::string YamlForRecord(const Sweep& sweep) {
  std::string yaml = sweep.yaml_text;
  if (!yaml.empty() && yaml.back() != '\n') yaml += '\n';
  return yaml + kBaseDirComment + sweep.base_dir + "\n";
}

// The base_dir recorded by YamlForRecord, or "" when the YAML was stored by something else.
std::string RecordedBaseDir(const std::string& yaml) {
  const size_t at = yaml.rfind(std::string("\n") + kBaseDirComment);
  if (at == std::string::npos) return "";
  const size_t begin = at + 1 + std::strlen(kBaseDirComment);
  const size_t end = yaml.find('\n', begin);
  return yaml.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

StatusOr<std::string> LawGroupBy(const LawSpec& law) {
  std::vector<std::string> keys;
  for (const std::string& key : law.group_by) {
    if (key == "dataset") {
      keys.push_back("dataset");
    } else if (key == "data.max_seq_len") {
      keys.push_back("max_seq_len");
    } else {
      return Status::InvalidArgument("law.group_by: " + key +
                                     " cannot be fitted separately (the law groups by dataset "
                                     "and data.max_seq_len only)");
    }
  }
  if (keys.empty()) return std::string("none");
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ",") + k;
  return out;
}
namespace {
StatusOr<RunPlan> FinishPlan(Sweep sweep, const std::string& where) {
  RunPlan plan;
  StatusOr<std::string> group_by = LawGroupBy(sweep.law);
  if (!group_by.ok()) return Status::InvalidArgument(where + ": " + group_by.status().message());
  plan.law_group_by = *group_by;
  std::string why;
  if (!sweep.resources.IsValid(&why)) return Status::InvalidArgument(where + ": " + why);
  if (!sweep.policy.IsValid(&why)) return Status::InvalidArgument(where + ": " + why);
  plan.sweep = std::move(sweep);
  plan.planned = true;
  return plan;
}
// The database file (when it exists) and the folder that holds its WAL and lock files must be
// writable (access(2) also reports a read-only filesystem, to root too); a folder still to be
// created is checked at its nearest existing ancestor.
Status Unwritable(const std::string& db_path, const std::string& what, int err) {
  return Status::InvalidArgument(db_path + ": " + what + " is not writable (" + std::strerror(err) +
                                 "): make it writable or choose another database");
}

Status CheckWritablePath(const std::string& db_path) {
  std::error_code ec;
  if (fs::exists(db_path, ec) && ::access(db_path.c_str(), W_OK) != 0)
    return Unwritable(db_path, "the database file", errno);
  fs::path dir = fs::absolute(db_path, ec).parent_path();
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  if (::access(dir.c_str(), W_OK) != 0)
    return Unwritable(db_path, "its folder " + dir.string(), errno);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = db_path + suffix;
    if (fs::exists(side, ec) && ::access(side.c_str(), W_OK) != 0)
      return Unwritable(db_path, side, errno);
  }
  return Status::Ok();
}
}  // namespace

// A database a run would write into must be a sound perflaw database (or not exist yet): writing
// into a corrupt file would bury what can still be recovered from it.
Status CheckWritableDatabase(const std::string& db_path) {
  std::error_code ec;
  if (fs::is_directory(db_path, ec))
    return Status::InvalidArgument(db_path + " is a directory; name the database file");
  PERFLAW_RETURN_IF_ERROR(CheckWritablePath(db_path));
  if (!fs::exists(db_path, ec)) return Status::Ok();
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  Status sound = (*db)->IntegrityCheck();
  if (sound.ok()) return Status::Ok();
  return Status::FailedPrecondition(
      sound.message() +
      "; perflaw will not write into it: restore a copy, or recover its rows "
      "with `sqlite3 DB .recover` into a new file");
}

StatusOr<RunPlan> PlanRun(const std::string& sweep_path, const std::string& db_override) {
  StatusOr<Sweep> sweep = LoadSweep(sweep_path);
  if (!sweep.ok()) return sweep.status();
  StatusOr<RunPlan> plan = FinishPlan(std::move(sweep).value(), sweep_path);
  if (!plan.ok()) return plan.status();
  plan->db_path = db_override.empty() ? plan->sweep.db_path
                                      : fs::absolute(db_override).lexically_normal().string();
  PERFLAW_RETURN_IF_ERROR(CheckWritableDatabase(plan->db_path));
  return plan;
}

namespace {
// Where the tree around a copied or moved database now lies: the recorded base directory with
// the database's recorded path relative to it (`db: out/r.db`) taken off the database's real
// path. Without it a copy would read the original's dataset and write into its work_dir. None when
// the database did not move or moved on its own (its recorded path is not inside the base).
std::optional<std::string> MovedBaseDir(const std::string& recorded_base,
                                        const std::string& recorded_db, const std::string& abs_db) {
  if (recorded_db == abs_db) return std::nullopt;
  const fs::path rel = fs::path(recorded_db).lexically_relative(recorded_base);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  fs::path base = abs_db;
  for (size_t n = std::distance(rel.begin(), rel.end()); n > 0; --n) base = base.parent_path();
  if ((base / rel).lexically_normal() != fs::path(abs_db)) return std::nullopt;
  return base.string();
}
}  // namespace

StatusOr<RunPlan> PlanResume(const std::string& db_path, bool retry_failed) {
  PERFLAW_RETURN_IF_ERROR(CheckWritableDatabase(db_path));
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  StatusOr<std::optional<int64_t>> latest = (*db)->LatestSweep();
  if (!latest.ok()) return latest.status();
  if (!*latest) return Status::NotFound(db_path + ": no sweep recorded; use perflaw run");
  StatusOr<SweepRecord> record = (*db)->GetSweep(**latest);
  if (!record.ok()) return record.status();
  db->reset();
  const std::string abs_db = fs::absolute(db_path).lexically_normal().string();
  SweepParseOptions parse;
  parse.base_dir = RecordedBaseDir(record->yaml);
  if (parse.base_dir.empty()) parse.base_dir = fs::path(abs_db).parent_path().string();
  if (std::optional<std::string> declared = DeclaredDbPath(record->yaml, parse.base_dir)) {
    if (std::optional<std::string> moved = MovedBaseDir(parse.base_dir, *declared, abs_db))
      parse.base_dir = *moved;
  }
  const std::string source = db_path + ":sweep " + std::to_string(**latest);
  StatusOr<Sweep> sweep = ParseSweep(record->yaml, source, parse);
  if (!sweep.ok()) return sweep.status();
  StatusOr<RunPlan> plan = FinishPlan(std::move(sweep).value(), source);
  if (!plan.ok()) return plan.status();
  plan->db_path = abs_db;
  plan->resume = true;
  plan->retry_failed = retry_failed;
  return plan;
}

}  // namespace perflaw::orchestrator
