// The one-writer rule of a results database (docs/running.md).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "apen/status.h"

namespace perflaw::orchestrator {

// The one-writer rule as a lock: an exclusive flock(2) on DB.lock beside the database's real path
// (symlinks and ".." resolved), and on the database file itself when it exists (so that a hard link
// to it, a path the lock file cannot know, finds it locked too), held while a run writes. A second
// writer fails at once (no waiting) with a one-line FailedPrecondition; readers (status, results,
// sql, sqlite3) never take it. The lock file is removed on release. (flock does not touch the
// fcntl locks SQLite takes; the database's descriptor is closed only after the run's connections.)
class WriterLock {
 public:
  // Takes the lock for `db_path` (whose directory must exist). Creates only DB.lock.
  static StatusOr<std::unique_ptr<WriterLock>> Acquire(const std::string& db_path);
  // Whether another process holds the lock now; creates and removes nothing. For early checks
  // (perflaw run, before it starts mpirun); the writer itself must Acquire.
  static Status CheckFree(const std::string& db_path);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  WriterLock(int fd, int db_fd, std::string path)
      : fd_(fd), db_fd_(db_fd), path_(std::move(path)) {}
  int fd_;
  int db_fd_;  // the database file's, -1 when it did not exist
  std::string path_;
};

// The path of the lock file of a database: DB.lock beside its real path.
std::string WriterLockPath(const std::string& db_path);

}  // namespace perflaw::orchestrator
