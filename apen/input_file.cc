#include "apen/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace perflaw::apen {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

Status NotRegular(const std::string& path, mode_t mode) {
  return Status::InvalidArgument(path + ": not a regular file (is " + FileKind(mode) + ")");
}

Status CannotOpen(const std::string& path) {
  return Status::NotFound(path + ": cannot open file (missing or unreadable)");
}

}  // namespace

Status CheckRegularFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return CannotOpen(path);
  if (!S_ISREG(st.st_mode)) return NotRegular(path, st.st_mode);
  return Status::Ok();
}

StatusOr<InputFile> OpenRegularFile(const std::string& path) {
  PERFLAW_RETURN_IF_ERROR(CheckRegularFile(path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return CannotOpen(path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return CannotOpen(path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return NotRegular(path, st.st_mode);
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    return CannotOpen(path);
  }
  return InputFile(f);
}

}  // namespace perflaw::apen
