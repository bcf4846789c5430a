// Parsing of the text formats into raw interaction rows (internal to apen/; see dataset.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apen/dataset.h"
#include "apen/status.h"

namespace perflaw::apen {

// Rows in file order. Users and items are interned: row r is (user_ids[user[r]],
// item_ids[item[r]]), both indices 0-based in order of first appearance.
struct RawInteractions {
  std::vector<uint32_t> user;
  std::vector<uint32_t> item;
  std::vector<double> time;    // per row; empty when the format/options have no timestamps
  std::vector<double> rating;  // per row; empty unless a rating column was read
  std::vector<std::string> user_ids;
  std::vector<std::string> item_ids;
  // Rank of each interned id in ascending raw-id order (numeric when all ids are integers).
  std::vector<uint32_t> user_rank;
  std::vector<uint32_t> item_rank;

  size_t size() const { return user.size(); }
};

// The format of `content` read from `path` (never kAuto); InvalidArgument naming path:1 when no
// format fits.
StatusOr<Format> DetectFormat(const std::string& path, const std::string& content);

// Parses a text file's content in a resolved text format (not kAuto, not kBinary). Errors name
// path:line. Reads ratings only when options.min_rating is set.
StatusOr<RawInteractions> ParseInteractions(const std::string& path, const std::string& content,
                                            Format format, const DataOptions& options);

// Reads a whole regular file into memory; NotFound when it cannot be opened, InvalidArgument
// when it is not a regular file (a FIFO, device, directory: see input_file.h).
StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace perflaw::apen
