#include "orchestrator/run/writer_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// The pid written into a lock file by its holder ("" if unreadable).
std::string LockHolder(int fd) {
  char buf[64] = {0};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status LockedError(const std::string& db_path, int fd) {
  const std::string holder = LockHolder(fd);
  return Status::FailedPrecondition(db_path + " is being written by another perflaw run" +
                                    (holder.empty() ? "" : " (" + holder + ")") +
                                    "; wait for it to end, or give another --db");
}

// An exclusive flock on the database file itself, when it exists: the same inode behind every
// hard link. Returns the descriptor holding it (-1: no file), or the error.
StatusOr<int> LockDatabaseFile(const std::string& db_path) {
  const int fd = ::open(db_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    return Status::IoError(Errno("cannot open " + db_path, errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::FailedPrecondition(
          db_path +
          " is being written by another perflaw run (through another path to the same "
          "file); wait for it to end, or give another --db");
    return Status::IoError(Errno("cannot lock " + db_path, err));
  }
  return fd;
}

}  // namespace

std::string WriterLockPath(const std::string& db_path) {
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(db_path, ec);
  return (ec ? fs::path(db_path) : real).string() + ".lock";
}

StatusOr<std::unique_ptr<WriterLock>> WriterLock::Acquire(const std::string& db_path) {
  const std::string path = WriterLockPath(db_path);
  // A holder removes the file when it releases: if it went away between our open and our lock,
  // we locked a file nobody else will see, so try again with the new one.
  for (int tries = 0; tries < 5; ++tries) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(Errno("cannot open the writer lock " + path, errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      Status st = err == EWOULDBLOCK ? LockedError(db_path, fd)
                                     : Status::IoError(Errno("cannot lock " + path, err));
      ::close(fd);
      return st;
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      StatusOr<int> db_fd = LockDatabaseFile(db_path);
      if (!db_fd.ok()) {
        ::unlink(path.c_str());
        ::close(fd);
        return db_fd.status();
      }
      const std::string holder = "pid " + std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, holder.data(), holder.size(), 0) < 0) {
        // The pid only improves the message a second writer gets; the lock itself holds.
      }
      return std::unique_ptr<WriterLock>(new WriterLock(fd, *db_fd, path));
    }
    ::close(fd);
  }
  return Status::IoError("cannot take the writer lock " + path + ": it keeps being replaced");
}

Status WriterLock::CheckFree(const std::string& db_path) {
  const std::string path = WriterLockPath(db_path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    Status st;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      st = errno == EWOULDBLOCK ? LockedError(db_path, fd)
                                : Status::IoError(Errno("cannot check " + path, errno));
    }
    ::close(fd);  // releases the probe's lock at once
    PERFLAW_RETURN_IF_ERROR(st);
  }
  StatusOr<int> db_fd = LockDatabaseFile(db_path);
  if (!db_fd.ok()) return db_fd.status();
  if (*db_fd >= 0) ::close(*db_fd);
  return Status::Ok();
}

WriterLock::~WriterLock() {
  if (db_fd_ >= 0) ::close(db_fd_);
  ::unlink(path_.c_str());  // before the unlock, so that a waiter re-checks (see Acquire)
  ::close(fd_);
}

}  // namespace perflaw::orchestrator
