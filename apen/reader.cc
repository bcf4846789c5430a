#include "apen/reader.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "apen/cache.h"

namespace perflaw::apen {
namespace {

using std::string_view;

Status LineError(const std::string& path, size_t line, const std::string& msg) {
  return Status::InvalidArgument(path + ":" + std::to_string(line) + ": " + msg);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

string_view Trim(string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Quoted for error messages, shortened so the error stays one readable line.
std::string Quote(string_view s) {
  std::string out(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return "'" + out + "'";
}

// Non-blank lines with 1-based line numbers, without the line terminator.
class LineCursor {
 public:
  explicit LineCursor(string_view content) : rest_(content) {
    if (rest_.substr(0, 3) == "\xEF\xBB\xBF") rest_.remove_prefix(3);  // UTF-8 byte order mark
  }
  bool Next(string_view* text, size_t* number) {
    while (!rest_.empty()) {
      size_t nl = rest_.find('\n');
      string_view line = rest_.substr(0, nl);
      rest_ = nl == string_view::npos ? string_view() : rest_.substr(nl + 1);
      ++number_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (Trim(line).empty()) continue;
      *text = line;
      *number = number_;
      return true;
    }
    return false;
  }

 private:
  string_view rest_;
  size_t number_ = 0;
};

void SplitWhitespace(string_view s, std::vector<string_view>* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) out->push_back(s.substr(start, i - start));
  }
}

void SplitOn(string_view s, string_view delim, std::vector<string_view>* out) {
  out->clear();
  while (true) {
    size_t pos = s.find(delim);
    out->push_back(s.substr(0, pos));
    if (pos == string_view::npos) return;
    s.remove_prefix(pos + delim.size());
  }
}

// A csv/atomic field: surrounding blanks and one pair of double quotes removed.
string_view CleanField(string_view s) {
  s = Trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool ParseUint64(string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(string_view s, double* v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

// Interns integer ids: a direct table for small ids, a hash map for the rest.
class NumericInterner {
 public:
  uint32_t Intern(uint64_t id) {
    if (id < kDirectLimit) {
      if (id >= direct_.size()) direct_.resize(std::max<size_t>(id + 1, direct_.size() * 2), kNone);
      uint32_t& slot = direct_[id];
      if (slot == kNone) slot = Add(id);
      return slot;
    }
    auto [it, inserted] = map_.try_emplace(id, 0);
    if (inserted) it->second = Add(id);
    return it->second;
  }
  const std::vector<uint64_t>& values() const { return values_; }

 private:
  static constexpr uint64_t kDirectLimit = 1ULL << 26;
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  uint32_t Add(uint64_t id) {
    values_.push_back(id);
    return static_cast<uint32_t>(values_.size() - 1);
  }
  std::vector<uint32_t> direct_;
  std::unordered_map<uint64_t, uint32_t> map_;
  std::vector<uint64_t> values_;
};

// Interns token ids (views into the file content, which outlives the interner).
class StringInterner {
 public:
  uint32_t Intern(string_view id) {
    auto [it, inserted] = map_.try_emplace(id, static_cast<uint32_t>(values_.size()));
    if (inserted) values_.push_back(id);
    return it->second;
  }
  const std::vector<string_view>& values() const { return values_; }

 private:
  std::unordered_map<string_view, uint32_t> map_;
  std::vector<string_view> values_;
};

// rank[i] = position of element i when sorted by `less`.
template <typename Less>
std::vector<uint32_t> RanksBy(size_t n, Less less) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), less);
  std::vector<uint32_t> rank(n);
  for (size_t r = 0; r < n; ++r) rank[order[r]] = static_cast<uint32_t>(r);
  return rank;
}

void FinishNumeric(const NumericInterner& in, std::vector<std::string>* ids,
                   std::vector<uint32_t>* rank) {
  const auto& v = in.values();
  ids->resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) (*ids)[i] = std::to_string(v[i]);
  *rank = RanksBy(v.size(), [&](uint32_t a, uint32_t b) { return v[a] < v[b]; });
}

// Numeric order when every token is an unsigned integer, else lexicographic.
void FinishTokens(const StringInterner& in, std::vector<std::string>* ids,
                  std::vector<uint32_t>* rank) {
  const auto& v = in.values();
  ids->assign(v.begin(), v.end());
  std::vector<uint64_t> num(v.size());
  bool numeric = true;
  for (size_t i = 0; i < v.size() && numeric; ++i) numeric = ParseUint64(v[i], &num[i]);
  if (numeric) {
    *rank = RanksBy(v.size(), [&](uint32_t a, uint32_t b) {
      return num[a] != num[b] ? num[a] < num[b] : v[a] < v[b];
    });
  } else {
    *rank = RanksBy(v.size(), [&](uint32_t a, uint32_t b) { return v[a] < v[b]; });
  }
}

Status EmptyFileError(const std::string& path) {
  return Status::InvalidArgument(path + ": empty file (no interactions)");
}

StatusOr<RawInteractions> ParseSasrec(const std::string& path, string_view content) {
  RawInteractions raw;
  NumericInterner users, items;
  LineCursor lines(content);
  string_view text;
  size_t line = 0;
  std::vector<string_view> f;
  while (lines.Next(&text, &line)) {
    SplitWhitespace(text, &f);
    if (f.size() != 2) {
      return LineError(path, line,
                       "expected 2 fields `user item`, got " + std::to_string(f.size()));
    }
    uint64_t u, i;
    if (!ParseUint64(f[0], &u)) return LineError(path, line, "non-numeric user id " + Quote(f[0]));
    if (!ParseUint64(f[1], &i)) return LineError(path, line, "non-numeric item id " + Quote(f[1]));
    raw.user.push_back(users.Intern(u));
    raw.item.push_back(items.Intern(i));
  }
  if (raw.size() == 0) return EmptyFileError(path);
  FinishNumeric(users, &raw.user_ids, &raw.user_rank);
  FinishNumeric(items, &raw.item_ids, &raw.item_rank);
  return raw;
}

StatusOr<RawInteractions> ParseMovieLens(const std::string& path, string_view content,
                                         bool read_rating) {
  RawInteractions raw;
  NumericInterner users, items;
  LineCursor lines(content);
  string_view text;
  size_t line = 0;
  std::vector<string_view> f;
  while (lines.Next(&text, &line)) {
    SplitOn(text, "::", &f);
    if (f.size() != 4) {
      return LineError(
          path, line,
          "expected 4 fields `user::item::rating::timestamp`, got " + std::to_string(f.size()));
    }
    uint64_t u, i;
    double t, r;
    if (!ParseUint64(Trim(f[0]), &u))
      return LineError(path, line, "non-numeric user id " + Quote(f[0]));
    if (!ParseUint64(Trim(f[1]), &i))
      return LineError(path, line, "non-numeric item id " + Quote(f[1]));
    if (read_rating && !ParseDouble(Trim(f[2]), &r)) {
      return LineError(path, line, "non-numeric rating " + Quote(f[2]));
    }
    if (!ParseDouble(Trim(f[3]), &t))
      return LineError(path, line, "non-numeric timestamp " + Quote(f[3]));
    raw.user.push_back(users.Intern(u));
    raw.item.push_back(items.Intern(i));
    raw.time.push_back(t);
    if (read_rating) raw.rating.push_back(r);
  }
  if (raw.size() == 0) return EmptyFileError(path);
  FinishNumeric(users, &raw.user_ids, &raw.user_rank);
  FinishNumeric(items, &raw.item_ids, &raw.item_rank);
  return raw;
}

// Column positions in a header row; -1 = not read.
struct Columns {
  int user = -1, item = -1, time = -1, rating = -1;
  size_t count = 0;
};

// Header names without a RecBole `:type` suffix.
std::string ColumnName(string_view field) {
  field = CleanField(field);
  return std::string(field.substr(0, field.find(':')));
}

StatusOr<Columns> FindColumns(const std::string& path, size_t line,
                              const std::vector<string_view>& header, const DataOptions& o) {
  std::vector<std::string> names;
  for (string_view h : header) names.push_back(ColumnName(h));
  Columns c;
  c.count = names.size();
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  auto find = [&](const std::string& key, const std::string& want, int* pos) -> Status {
    auto it = std::find(names.begin(), names.end(), want);
    if (it == names.end()) {
      std::string hint = key == "time_column" ? " (time_column \"\" keeps file order)" : "";
      return LineError(
          path, line,
          "unknown column '" + want + "' (" + key + "); the header has: " + listed + hint);
    }
    *pos = static_cast<int>(it - names.begin());
    return Status::Ok();
  };
  PERFLAW_RETURN_IF_ERROR(find("user_column", o.user_column, &c.user));
  PERFLAW_RETURN_IF_ERROR(find("item_column", o.item_column, &c.item));
  if (!o.time_column.empty()) PERFLAW_RETURN_IF_ERROR(find("time_column", o.time_column, &c.time));
  if (o.min_rating) PERFLAW_RETURN_IF_ERROR(find("rating_column", o.rating_column, &c.rating));
  return c;
}

char CsvDelimiter(const DataOptions& o, string_view header) {
  if (o.delimiter == "tab" || o.delimiter == "\\t") return '\t';
  if (o.delimiter.size() == 1) return o.delimiter[0];
  return header.find('\t') != string_view::npos ? '\t' : ',';
}

// atomic and csv: a header row naming the columns, then one interaction per row.
StatusOr<RawInteractions> ParseTable(const std::string& path, string_view content, char delim,
                                     const DataOptions& o) {
  LineCursor lines(content);
  string_view text;
  size_t line = 0;
  if (!lines.Next(&text, &line)) return EmptyFileError(path);
  std::vector<string_view> f;
  const string_view d(&delim, 1);
  SplitOn(text, d, &f);
  StatusOr<Columns> cols = FindColumns(path, line, f, o);
  if (!cols.ok()) return cols.status();
  const Columns c = *cols;

  RawInteractions raw;
  StringInterner users, items;
  while (lines.Next(&text, &line)) {
    SplitOn(text, d, &f);
    if (f.size() != c.count) {
      return LineError(
          path, line,
          "expected " + std::to_string(c.count) + " fields, got " + std::to_string(f.size()));
    }
    string_view u = CleanField(f[c.user]), i = CleanField(f[c.item]);
    if (u.empty()) return LineError(path, line, "empty user id");
    if (i.empty()) return LineError(path, line, "empty item id");
    raw.user.push_back(users.Intern(u));
    raw.item.push_back(items.Intern(i));
    double v;
    if (c.time >= 0) {
      if (!ParseDouble(CleanField(f[c.time]), &v)) {
        return LineError(path, line, "non-numeric timestamp " + Quote(f[c.time]));
      }
      raw.time.push_back(v);
    }
    if (c.rating >= 0) {
      if (!ParseDouble(CleanField(f[c.rating]), &v)) {
        return LineError(path, line, "non-numeric rating " + Quote(f[c.rating]));
      }
      raw.rating.push_back(v);
    }
  }
  if (raw.size() == 0) return Status::InvalidArgument(path + ": no interactions after the header");
  FinishTokens(users, &raw.user_ids, &raw.user_rank);
  FinishTokens(items, &raw.item_ids, &raw.item_rank);
  return raw;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::InvalidArgument(path + ": is a directory, not a dataset file");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::NotFound(path + ": cannot open file (missing or unreadable)");
  std::string content;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) content.append(buf.data(), n);
  if (std::ferror(f.get())) return Status::IoError(path + ": read error");
  return content;
}

StatusOr<Format> DetectFormat(const std::string& path, const std::string& content) {
  if (HasBinaryMagic(content.data(), content.size())) return Format::kBinary;
  if (EndsWith(path, ".inter")) return Format::kAtomic;
  LineCursor lines(content);
  string_view text;
  size_t line = 0;
  if (!lines.Next(&text, &line)) return EmptyFileError(path);
  if (text.find("::") != string_view::npos) return Format::kMovieLens;
  std::vector<string_view> f;
  SplitWhitespace(text, &f);
  uint64_t v;
  if (f.size() == 2 && ParseUint64(f[0], &v) && ParseUint64(f[1], &v)) return Format::kSasrec;
  if (EndsWith(path, ".csv") || EndsWith(path, ".tsv") || text.find(',') != string_view::npos ||
      text.find('\t') != string_view::npos) {
    return Format::kCsv;
  }
  return LineError(path, line,
                   "cannot detect the file format (not `user item` integers, `u::i::r::t`, a "
                   "csv/tsv header or a .inter file); set the format explicitly");
}

StatusOr<RawInteractions> ParseInteractions(const std::string& path, const std::string& content,
                                            Format format, const DataOptions& options) {
  switch (format) {
    case Format::kSasrec:
      return ParseSasrec(path, content);
    case Format::kMovieLens:
      return ParseMovieLens(path, content, options.min_rating.has_value());
    case Format::kAtomic:
      return ParseTable(path, content, '\t', options);
    case Format::kCsv: {
      string_view head(content);
      head = head.substr(0, head.find('\n'));
      return ParseTable(path, content, CsvDelimiter(options, head), options);
    }
    case Format::kAuto:
    case Format::kBinary:
      break;
  }
  return Status::Internal("ParseInteractions: format must be a resolved text format");
}

}  // namespace perflaw::apen
