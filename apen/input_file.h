// Opening dataset files for reading: the one path every dataset read in apen/ goes through
// (text readers, binary datasets, cache files, content hashes).
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "apen/status.h"

namespace perflaw::apen {

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};
using InputFile = std::unique_ptr<FILE, FileCloser>;

// OK when `path` (after following symlinks) is a regular file. NotFound when it does not exist
// or cannot be examined; InvalidArgument `PATH: not a regular file (is a fifo)` for a FIFO,
// character or block device, directory or socket, which a reader would block on (FIFO) or read
// without end (/dev/zero).
Status CheckRegularFile(const std::string& path);

// Opens a regular file for binary reading. The file is refused before it is read (see
// CheckRegularFile), and it is opened non-blocking and checked again on the open descriptor, so
// a path swapped for a FIFO in between cannot block either.
StatusOr<InputFile> OpenRegularFile(const std::string& path);

}  // namespace perflaw::apen
