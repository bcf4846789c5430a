#include "apen/dataset.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "apen/cache.h"
#include "apen/hash.h"
#include "apen/input_file.h"
#include "apen/preprocess.h"
#include "apen/reader.h"
#include "apen/text.h"

namespace perflaw::apen {
namespace fs = std::filesystem;

const char* FormatName(Format format) {
  switch (format) {
    case Format::kAuto:
      return "auto";
    case Format::kSasrec:
      return "sasrec";
    case Format::kAtomic:
      return "atomic";
    case Format::kMovieLens:
      return "movielens";
    case Format::kCsv:
      return "csv";
    case Format::kBinary:
      return "binary";
  }
  return "unknown";
}

std::optional<Format> ParseFormat(const std::string& name) {
  for (Format f : {Format::kAuto, Format::kSasrec, Format::kAtomic, Format::kMovieLens,
                   Format::kCsv, Format::kBinary}) {
    if (name == FormatName(f)) return f;
  }
  return std::nullopt;
}

const char* CacheStatusName(CacheStatus status) {
  switch (status) {
    case CacheStatus::kNotRun:
      return "not run";
    case CacheStatus::kDisabled:
      return "disabled";
    case CacheStatus::kNotApplicable:
      return "not applicable";
    case CacheStatus::kHit:
      return "hit";
    case CacheStatus::kBuilt:
      return "built";
    case CacheStatus::kRebuiltStale:
      return "rebuilt (stale)";
    case CacheStatus::kRebuiltCorrupt:
      return "rebuilt (corrupt)";
    case CacheStatus::kWriteFailed:
      return "write failed";
  }
  return "unknown";
}

namespace {

bool ValidDelimiter(const std::string& d) {
  if (d.empty() || d == "tab" || d == "\\t") return true;
  return d.size() == 1 && d[0] != '"' && d[0] != '\n' && d[0] != '\r';
}

}  // namespace

bool DataOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& msg) {
    if (why) *why = msg;
    return false;
  };
  if (path.empty()) return fail("path: no dataset file given");
  if (!(user_fraction > 0 && user_fraction <= 1)) {
    return fail("user_fraction must be in (0, 1], got " + ExactNum(user_fraction));
  }
  if (min_rating && !std::isfinite(*min_rating)) return fail("min_rating must be a finite number");
  if (user_column.empty()) return fail("user_column must not be empty");
  if (item_column.empty()) return fail("item_column must not be empty");
  if (min_rating && rating_column.empty()) {
    return fail("rating_column must not be empty when min_rating is set");
  }
  if (!ValidDelimiter(delimiter)) {
    return fail("delimiter must be one character, \"tab\" or empty (auto), got '" + delimiter +
                "'");
  }
  return true;
}

namespace {

// The keys that change the cached dataset, `key=value;...` (format excluded).
std::string PreprocessingKeys(const DataOptions& o, Format resolved) {
  std::string s = "min_rating=" + (o.min_rating ? ExactNum(*o.min_rating) : std::string("off")) +
                  ";k_core=" + std::to_string(o.k_core) +
                  ";drop_repeats=" + (o.drop_repeats ? "true" : "false");
  const bool table = resolved == Format::kCsv || resolved == Format::kAtomic;
  if (table || resolved == Format::kAuto) {
    s += ";user_column=" + o.user_column + ";item_column=" + o.item_column +
         ";time_column=" + o.time_column;
    if (o.min_rating) s += ";rating_column=" + o.rating_column;
  }
  if (resolved == Format::kCsv || resolved == Format::kAuto) s += ";delimiter=" + o.delimiter;
  return s;
}

}  // namespace

std::string DataOptions::CanonicalString() const {
  return "path=" + path + ";format=" + FormatName(format) +
         ";max_seq_len=" + std::to_string(max_seq_len) +
         ";user_fraction=" + ExactNum(user_fraction) +
         ";subsample_seed=" + std::to_string(subsample_seed) + ";" +
         PreprocessingKeys(*this, format);
}

std::string DataOptions::CacheKeyString(Format resolved) const {
  return "perflaw-data-v1;format=" + std::string(FormatName(resolved)) + ";" +
         PreprocessingKeys(*this, resolved);
}

std::string DefaultCacheDir() {
  if (const char* d = std::getenv("PERFLAW_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/perflaw";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/perflaw";
  return "";
}

bool KeepUser(uint64_t u, double fraction, uint64_t seed) {
  if (fraction >= 1) return true;
  return UnitFromHash(Mix64(Mix64(seed ^ 0x5u) ^ u)) < fraction;
}

Dataset SubsampleUsers(const Dataset& in, double fraction, uint64_t seed) {
  Dataset out;
  out.num_items = in.num_items;
  out.source_path = in.source_path;
  out.source_hash = in.source_hash;
  out.options = in.options;
  out.cache_status = in.cache_status;
  out.cache_path = in.cache_path;
  out.cache_message = in.cache_message;
  out.item_ids = in.item_ids;
  const bool ids = in.user_ids.size() == in.num_users();
  for (size_t u = 0; u < in.num_users(); ++u) {
    if (!KeepUser(u, fraction, seed)) continue;
    ItemSpan x = in.sequences.user(u);
    out.sequences.AddUser(x.data, x.size);
    if (ids) out.user_ids.push_back(in.user_ids[u]);
  }
  return out;
}

Sequences TruncateToLast(const Sequences& seqs, size_t max_len) {
  if (max_len == 0) return seqs;
  Sequences out;
  out.offsets.reserve(seqs.offsets.size());
  for (size_t u = 0; u < seqs.num_users(); ++u) {
    ItemSpan x = seqs.user(u).Last(max_len);
    out.AddUser(x.data, x.size);
  }
  return out;
}

size_t LeaveOneOutSplit::NumUsersWithTargets() const {
  size_t n = 0;
  for (size_t u = 0; u < num_users(); ++u) n += HasTargets(u);
  return n;
}

uint64_t LeaveOneOutSplit::NumTrainInteractions() const {
  uint64_t n = 0;
  for (size_t u = 0; u < num_users(); ++u) n += Train(u).size;
  return n;
}

namespace {

// An error about a user-supplied binary file is the user's, not internal corruption.
Status AsUserError(const Status& st) {
  if (st.code() == Status::Code::kCorruption) return Status::InvalidArgument(st.message());
  return st;
}

Status NothingLeft(const DataOptions& o, Format format) {
  return Status::FailedPrecondition(o.path + ": no interactions left after preprocessing (" +
                                    PreprocessingKeys(o, format) + ")");
}

// Applies drop_repeats / k_core to an already dense dataset (binary input).
StatusOr<Dataset> PreprocessDense(Dataset d, const DataOptions& o) {
  if (!o.drop_repeats && o.k_core <= 1) return d;
  const size_t num_users = d.num_users();
  UserSequences us{std::move(d.sequences), std::vector<uint32_t>(num_users)};
  std::iota(us.users.begin(), us.users.end(), 0u);
  if (o.drop_repeats) DropConsecutiveRepeats(&us);
  ApplyKCore(&us, o.k_core, size_t{d.num_items} + 1);
  if (us.seqs.num_interactions() == 0) return NothingLeft(o, Format::kBinary);
  // Dense ids already are in raw order: ranks are the identity (item slot 0 is padding).
  std::vector<uint32_t> user_rank(num_users), item_rank(size_t{d.num_items} + 1);
  std::iota(user_rank.begin(), user_rank.end(), 0u);
  std::iota(item_rank.begin(), item_rank.end(), 0u);
  const bool ids = d.user_ids.size() == num_users && d.item_ids.size() == d.num_items && num_users;
  std::vector<std::string> item_slots;
  if (ids) {
    item_slots.push_back("");
    item_slots.insert(item_slots.end(), d.item_ids.begin(), d.item_ids.end());
  }
  Dataset out =
      Reindex(us, user_rank, item_rank, ids ? &d.user_ids : nullptr, ids ? &item_slots : nullptr);
  out.source_path = d.source_path;
  out.source_hash = d.source_hash;
  return out;
}

// Whether the file starts with the binary dataset magic; NotFound when it cannot be opened,
// InvalidArgument when it is not a regular file.
StatusOr<bool> StartsWithBinaryMagic(const std::string& path) {
  StatusOr<InputFile> f = OpenRegularFile(path);
  if (!f.ok()) return f.status();
  char head[8];
  size_t n = std::fread(head, 1, sizeof(head), f->get());
  return HasBinaryMagic(head, n);
}

StatusOr<Dataset> LoadBinaryInput(const DataOptions& o) {
  if (o.min_rating) {
    return Status::InvalidArgument("min_rating: " + o.path +
                                   " is a binary dataset, which has no ratings");
  }
  StatusOr<Dataset> d = ReadBinaryDataset(o.path);
  if (!d.ok()) return AsUserError(d.status());
  StatusOr<Dataset> pre = PreprocessDense(std::move(d).value(), o);
  if (!pre.ok()) return pre.status();
  Dataset out = std::move(pre).value();
  out.source_path = o.path;
  out.cache_status = CacheStatus::kNotApplicable;
  return out;
}

// Parses and preprocesses a text file up to the cached dataset.
StatusOr<Dataset> BuildFromText(const DataOptions& o, const std::string& content, Format format) {
  StatusOr<RawInteractions> parsed = ParseInteractions(o.path, content, format, o);
  if (!parsed.ok()) return parsed.status();
  RawInteractions& raw = *parsed;
  if (o.min_rating) FilterByRating(&raw, *o.min_rating);
  UserSequences us = GroupChronologically(raw);
  if (o.drop_repeats) DropConsecutiveRepeats(&us);
  ApplyKCore(&us, o.k_core, raw.item_ids.size());
  if (us.seqs.num_interactions() == 0) return NothingLeft(o, format);
  return Reindex(us, raw.user_rank, raw.item_rank, &raw.user_ids, &raw.item_ids);
}

std::string CacheFilePath(const std::string& dir, const DataOptions& o, const std::string& key) {
  std::error_code ec;
  fs::path abs = fs::absolute(o.path, ec);
  std::string stem = fs::path(o.path).filename().string();
  return (fs::path(dir) / (stem + "-" + Hex64(HashString(abs.string() + "\n" + key)) + ".pfds"))
      .string();
}

// Reads the cache file if it exists; records why it cannot be used.
std::optional<Dataset> TryCache(const std::string& path, uint64_t source_hash,
                                const std::string& key, CacheStatus* miss, std::string* why) {
  std::error_code ec;
  *miss = CacheStatus::kBuilt;
  if (!fs::exists(path, ec)) return std::nullopt;
  uint64_t key_hash = 0;
  // Any failure to read the cache file, even an exception (a forged or damaged file that got past
  // the checks), only means the entry is rebuilt from the source.
  StatusOr<Dataset> d = Status::Corruption(path + ": unreadable cache file");
  try {
    d = ReadBinaryDataset(path, &key_hash);
  } catch (const std::exception& e) {
    d = Status::Corruption(path + ": unreadable cache file (" + e.what() + ")");
  }
  if (!d.ok()) {
    *miss = CacheStatus::kRebuiltCorrupt;
    *why = d.status().message();
    return std::nullopt;
  }
  if (d->source_hash != source_hash || key_hash != HashString(key) || d->options != key) {
    *miss = CacheStatus::kRebuiltStale;
    *why = path + ": cache made from another version of the source or other options";
    return std::nullopt;
  }
  return std::move(d).value();
}

}  // namespace

StatusOr<Dataset> LoadDataset(const DataOptions& o, const CacheOptions& cache) {
  std::string why;
  if (!o.IsValid(&why)) return Status::InvalidArgument(why);
  // Refuse FIFOs, devices and directories before anything opens the path: a FIFO blocks a reader
  // forever and /dev/zero never ends.
  PERFLAW_RETURN_IF_ERROR(CheckRegularFile(o.path));
  Format format = o.format;
  if (format == Format::kAuto || format == Format::kBinary) {
    StatusOr<bool> binary = StartsWithBinaryMagic(o.path);
    if (!binary.ok()) return binary.status();
    if (*binary) format = Format::kBinary;
  }
  if (format == Format::kBinary) {
    DataOptions resolved = o;
    resolved.format = format;
    StatusOr<Dataset> d = LoadBinaryInput(o);
    if (!d.ok()) return d;
    d->options = resolved.CanonicalString();
    if (o.user_fraction >= 1) return d;
    return SubsampleUsers(*d, o.user_fraction, o.subsample_seed);
  }
  StatusOr<std::string> content = ReadFileToString(o.path);
  if (!content.ok()) return content.status();
  if (format == Format::kAuto) {
    StatusOr<Format> detected = DetectFormat(o.path, *content);
    if (!detected.ok()) return detected.status();
    format = *detected;
  }
  if (o.min_rating && format == Format::kSasrec) {
    return Status::InvalidArgument("min_rating: " + o.path +
                                   " is in sasrec format, which has no ratings");
  }
  const std::string key = o.CacheKeyString(format);
  const uint64_t source_hash = HashBytes(content->data(), content->size());
  const std::string dir = cache.dir.empty() ? DefaultCacheDir() : cache.dir;
  const bool use_cache = cache.enabled && !dir.empty();

  std::string cache_path, cache_message;
  CacheStatus status = use_cache ? CacheStatus::kBuilt : CacheStatus::kDisabled;
  std::optional<Dataset> cached;
  if (use_cache) {
    cache_path = CacheFilePath(dir, o, key);
    cached = TryCache(cache_path, source_hash, key, &status, &cache_message);
  }
  Dataset d;
  if (cached) {
    d = std::move(*cached);
    status = CacheStatus::kHit;
  } else {
    StatusOr<Dataset> built = BuildFromText(o, *content, format);
    if (!built.ok()) return built.status();
    d = std::move(built).value();
    d.source_hash = source_hash;
    d.options = key;
    d.source_path = o.path;
    if (use_cache) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      Status st = ec ? Status::IoError(dir + ": cannot create cache directory: " + ec.message())
                     : WriteBinaryDataset(cache_path, d, HashString(key));
      if (!st.ok()) {
        status = CacheStatus::kWriteFailed;
        cache_message = st.message();
        cache_path.clear();
      }
    }
  }
  d.source_path = o.path;
  DataOptions resolved = o;
  resolved.format = format;
  d.options = resolved.CanonicalString();
  d.cache_status = status;
  d.cache_path = cache_path;
  d.cache_message = cache_message;
  if (o.user_fraction >= 1) return d;
  return SubsampleUsers(d, o.user_fraction, o.subsample_seed);
}

}  // namespace perflaw::apen
