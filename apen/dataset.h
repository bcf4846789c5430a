// Datasets: reading the supported file formats, preprocessing, the binary cache, truncation,
// user subsampling and the leave-one-out split. See docs/data.md for the user-facing description.
//
// Pipeline of LoadDataset (the order is part of the contract):
//   read -> rating filter -> stable chronological sort per user -> drop consecutive repeats
//   -> k-core -> dense re-index            (this result is cached, keyed by source content +
//   options)
//   -> user subsample (fraction, seed)     (applied after the cache, so every fraction shares it)
// Truncation to the last max_seq_len items is NOT applied by LoadDataset: consumers apply it with
// TruncateToLast / ItemSpan::Last, so one cached dataset serves every L of a sweep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apen/sequences.h"
#include "apen/status.h"

namespace perflaw::apen {

// Input file formats. Names (for YAML and the CLI): auto, sasrec, atomic, movielens, csv, binary.
enum class Format {
  kAuto,       // detect: binary magic; `.inter` -> atomic; `::` -> movielens; header row -> csv;
               // two integer columns -> sasrec
  kSasrec,     // `user item` per line (whitespace separated), each user's lines in time order
  kAtomic,     // RecBole `.inter`: tab separated, typed header `user_id:token item_id:token ...`
  kMovieLens,  // MovieLens ratings.dat: `user::item::rating::timestamp`
  kCsv,        // CSV/TSV with a header row naming the columns (see DataOptions::*_column)
  kBinary,     // perflaw's binary dataset (the cache payload; written by `perflaw data synth`)
};
const char* FormatName(Format format);
// Parses a format name; nullopt for an unknown name.
std::optional<Format> ParseFormat(const std::string& name);

// How to read and preprocess one dataset. Field names are the `data` keys of a point
// configuration / sweep YAML.
struct DataOptions {
  // The dataset file.
  std::string path;
  // File format; kAuto detects it from the extension and the content.
  Format format = Format::kAuto;
  // Max sequence length L for consumers (0 = keep whole sequences). Not applied by LoadDataset:
  // apply TruncateToLast(dataset.sequences, max_seq_len) or ItemSpan::Last.
  size_t max_seq_len = 0;
  // Keep this fraction of users, 0 < f <= 1 (1 = all). Deterministic in (user, subsample_seed);
  // a smaller fraction with the same seed selects a subset of a larger one.
  double user_fraction = 1.0;
  uint64_t subsample_seed = 0;
  // Drop interactions whose rating is below this value. Unset (the default) keeps everything;
  // setting it needs a rating column (atomic, movielens, csv).
  std::optional<double> min_rating;
  // k-core filter: repeatedly drop users and items with fewer than k interactions until every
  // remaining user and item has at least k. 0 (default) is off.
  uint32_t k_core = 0;
  // Collapse runs of the same item in a user's sequence to one interaction (after sorting).
  bool drop_repeats = false;
  // Column names for csv and atomic files (a `:type` suffix in the header is ignored).
  // time_column "" means: no timestamps, keep file order. The rating column is only read when
  // min_rating is set.
  std::string user_column = "user_id";
  std::string item_column = "item_id";
  std::string time_column = "timestamp";
  std::string rating_column = "rating";
  // csv field delimiter: "" detects tab or comma from the header; otherwise one character, or
  // "tab" / "\\t".
  std::string delimiter;

  // Rejects bad values with a message that starts with the offending key.
  bool IsValid(std::string* why) const;
  // All preprocessing keys in a fixed order, `key=value;...`: what identifies this configuration.
  std::string CanonicalString() const;
  // Only the keys that change the cached (pre-subsample) dataset, with `format` resolved.
  std::string CacheKeyString(Format resolved_format) const;
};

// Where and whether to cache preprocessed datasets.
struct CacheOptions {
  // Use (read and write) the cache. Binary inputs are never cached (they already are binary).
  bool enabled = true;
  // Cache directory; "" = $PERFLAW_CACHE_DIR, else $XDG_CACHE_HOME/perflaw, else
  // ~/.cache/perflaw. Created on first write.
  std::string dir;
};
// The directory CacheOptions{}.dir resolves to ("" when no environment variable gives one).
std::string DefaultCacheDir();

// What LoadDataset did with the cache.
enum class CacheStatus {
  kNotRun,          // LoadDataset has not run (the initial value)
  kDisabled,        // CacheOptions::enabled was false
  kNotApplicable,   // binary input or synthetic data: nothing to cache
  kHit,             // read from a valid cache file
  kBuilt,           // parsed the source and wrote a new cache file
  kRebuiltStale,    // a cache file existed for another source content / options: rebuilt
  kRebuiltCorrupt,  // a cache file existed but failed its checks (magic, version, checksum)
  kWriteFailed,     // parsed the source; writing the cache failed (see cache_message)
};
const char* CacheStatusName(CacheStatus status);

// A preprocessed dataset: every user's items oldest first, dense item ids 1..num_items (0 is
// padding). Users and items are numbered in ascending order of their raw ids (numeric order when
// all ids are integers, else byte-wise lexicographic), so already-dense ids such as
// amazon-video.txt's keep their values.
struct Dataset {
  Sequences sequences;
  uint32_t num_items = 0;
  // Raw ids from the source file, when known (empty for synthetic and binary data):
  // user u's raw id is user_ids[u]; dense item i's raw id is item_ids[i - 1].
  std::vector<std::string> user_ids;
  std::vector<std::string> item_ids;
  std::string source_path;   // the file read ("synthetic" for GenerateSynthetic)
  uint64_t source_hash = 0;  // 64-bit hash of the source file's bytes (of the options if synthetic)
  std::string options;       // canonical options string (DataOptions / SynthOptions)
  CacheStatus cache_status = CacheStatus::kNotRun;
  std::string cache_path;     // the cache file used or written ("" if none)
  std::string cache_message;  // why the cache was rebuilt or could not be written

  size_t num_users() const { return sequences.num_users(); }
  size_t num_interactions() const { return sequences.num_interactions(); }
};

// Reads and preprocesses `options.path` (see the pipeline at the top). Errors in the input name
// file:line (InvalidArgument / NotFound); bad options name the key.
StatusOr<Dataset> LoadDataset(const DataOptions& options, const CacheOptions& cache = {});

// Keeps the users with hash(user, seed) < fraction (the user index is the dense one). Item ids
// and num_items are unchanged. fraction 1 keeps everyone.
Dataset SubsampleUsers(const Dataset& dataset, double fraction, uint64_t seed);
// Whether user `u` is kept by SubsampleUsers(., fraction, seed).
bool KeepUser(uint64_t u, double fraction, uint64_t seed);

// Each user's last max_len items (a copy); max_len 0 keeps everything.
Sequences TruncateToLast(const Sequences& seqs, size_t max_len);

// Leave-one-out split over a user's sequence x[0..n), as views into the dataset (no copies):
//   n >= 3: train = x[0..n-2); valid: history x[0..n-2), target x[n-2];
//           test: history x[0..n-1), target x[n-1].
//   n < 3:  train = the whole sequence; the user has no valid or test target.
// Apply max_seq_len to histories with ItemSpan::Last(L). The Sequences must outlive the split.
class LeaveOneOutSplit {
 public:
  explicit LeaveOneOutSplit(const Sequences& seqs) : seqs_(&seqs) {}

  size_t num_users() const { return seqs_->num_users(); }
  // True when user u has a valid and a test target (n >= 3).
  bool HasTargets(size_t u) const { return seqs_->user(u).size >= 3; }
  ItemSpan Train(size_t u) const {
    ItemSpan x = seqs_->user(u);
    return HasTargets(u) ? ItemSpan{x.data, x.size - 2} : x;
  }
  // Valid/test accessors require HasTargets(u).
  ItemSpan ValidHistory(size_t u) const { return Prefix(u, 2); }
  uint32_t ValidTarget(size_t u) const { return seqs_->user(u)[seqs_->user(u).size - 2]; }
  ItemSpan TestHistory(size_t u) const { return Prefix(u, 1); }
  uint32_t TestTarget(size_t u) const { return seqs_->user(u)[seqs_->user(u).size - 1]; }
  // Users with targets, and train interactions in total.
  size_t NumUsersWithTargets() const;
  uint64_t NumTrainInteractions() const;

 private:
  ItemSpan Prefix(size_t u, size_t drop) const {
    ItemSpan x = seqs_->user(u);
    return {x.data, x.size - drop};
  }
  const Sequences* seqs_;
};

}  // namespace perflaw::apen
