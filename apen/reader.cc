#include "apen/reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "apen/cache.h"
#include "apen/input_file.h"

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

// Length of the valid UTF-8 sequence at the start of `s` that encodes a printable character
// (not a C1 control, U+0080..U+009F); 0 when there is none.
size_t PrintableUtf8Length(string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = c >= 0xC2 && c <= 0xDF   ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  // C1 controls; overlong forms; surrogates and code points above U+10FFFF.
  if (c == 0xC2 && b(1) < 0xA0) return 0;
  if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xF0 && b(1) < 0x90)) return 0;
  if ((c == 0xED && b(1) >= 0xA0) || (c == 0xF4 && b(1) >= 0x90)) return 0;
  return n;
}

// Text from an input file made safe for a one-line error message: control bytes, DEL and bytes
// that are not valid UTF-8 become \xNN (a binary file must not put raw bytes on a terminal), and
// it is shortened to about `max_bytes` bytes of input.
std::string Printable(string_view s, size_t max_bytes = 40) {
  std::string out;
  size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = c >= 0x80 ? PrintableUtf8Length(s.substr(i)) : 0; n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

// Quoted for error messages, escaped and shortened so the error stays one readable line.
std::string Quote(string_view s) { return "'" + Printable(s) + "'"; }

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

// A timestamp or rating: a finite number. from_chars also reads nan and inf, which would sort
// and filter meaninglessly, so they are rejected naming the column and the value.
Status ParseNumberField(const std::string& path, size_t line, string_view field, const char* what,
                        const std::string& column, double* v) {
  const std::string where = " in column " + Quote(column);
  if (!ParseDouble(field, v)) {
    return LineError(path, line, std::string("non-numeric ") + what + " " + Quote(field) + where);
  }
  if (!std::isfinite(*v)) {
    return LineError(path, line,
                     std::string("non-finite ") + what + " " + Quote(field) + where + " (" + what +
                         "s must be finite numbers)");
  }
  return Status::Ok();
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

// The user and item ids of a line of a numeric format.
Status ParseIds(const std::string& path, size_t line, string_view user, string_view item,
                uint64_t* u, uint64_t* i) {
  if (!ParseUint64(user, u)) return LineError(path, line, "non-numeric user id " + Quote(user));
  if (!ParseUint64(item, i)) return LineError(path, line, "non-numeric item id " + Quote(item));
  return Status::Ok();
}

// The formats with numeric ids, one interaction a line: `parse_line(text, line, &user, &item,
// &raw)` checks a line's fields, returns its ids and appends whatever else it carries (time,
// rating) to raw.
template <typename ParseLine>
StatusOr<RawInteractions> ParseNumericLines(const std::string& path, string_view content,
                                            ParseLine parse_line) {
  RawInteractions raw;
  NumericInterner users, items;
  LineCursor lines(content);
  string_view text;
  size_t line = 0;
  while (lines.Next(&text, &line)) {
    uint64_t u = 0, i = 0;
    PERFLAW_RETURN_IF_ERROR(parse_line(text, line, &u, &i, &raw));
    raw.user.push_back(users.Intern(u));
    raw.item.push_back(items.Intern(i));
  }
  if (raw.size() == 0) return EmptyFileError(path);
  FinishNumeric(users, &raw.user_ids, &raw.user_rank);
  FinishNumeric(items, &raw.item_ids, &raw.item_rank);
  return raw;
}

StatusOr<RawInteractions> ParseSasrec(const std::string& path, string_view content) {
  std::vector<string_view> f;
  return ParseNumericLines(
      path, content,
      [&](string_view text, size_t line, uint64_t* u, uint64_t* i, RawInteractions*) -> Status {
        SplitWhitespace(text, &f);
        if (f.size() != 2) {
          return LineError(path, line,
                           "expected 2 fields `user item`, got " + std::to_string(f.size()));
        }
        return ParseIds(path, line, f[0], f[1], u, i);
      });
}

StatusOr<RawInteractions> ParseMovieLens(const std::string& path, string_view content,
                                         bool read_rating) {
  std::vector<string_view> f;
  return ParseNumericLines(
      path, content,
      [&](string_view text, size_t line, uint64_t* u, uint64_t* i, RawInteractions* raw) -> Status {
        SplitOn(text, "::", &f);
        if (f.size() != 4) {
          return LineError(
              path, line,
              "expected 4 fields `user::item::rating::timestamp`, got " + std::to_string(f.size()));
        }
        PERFLAW_RETURN_IF_ERROR(ParseIds(path, line, Trim(f[0]), Trim(f[1]), u, i));
        double t, r;
        if (read_rating) {
          PERFLAW_RETURN_IF_ERROR(ParseNumberField(path, line, Trim(f[2]), "rating", "rating", &r));
        }
        PERFLAW_RETURN_IF_ERROR(
            ParseNumberField(path, line, Trim(f[3]), "timestamp", "timestamp", &t));
        raw->time.push_back(t);
        if (read_rating) raw->rating.push_back(r);
        return Status::Ok();
      });
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
  constexpr size_t kMaxListed = 20;
  for (size_t k = 0; k < names.size() && k < kMaxListed; ++k) {
    listed += (k == 0 ? "" : ", ") + Printable(names[k]);
  }
  if (names.size() > kMaxListed) {
    listed += ", ... (" + std::to_string(names.size()) + " columns)";
  }
  auto find = [&](const std::string& key, const std::string& want, int* pos) -> Status {
    auto it = std::find(names.begin(), names.end(), want);
    if (it == names.end()) {
      std::string hint = key == "time_column" ? " (time_column \"\" keeps file order)" : "";
      return LineError(
          path, line,
          "unknown column " + Quote(want) + " (" + key + "); the header has: " + listed + hint);
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
      PERFLAW_RETURN_IF_ERROR(
          ParseNumberField(path, line, CleanField(f[c.time]), "timestamp", o.time_column, &v));
      raw.time.push_back(v);
    }
    if (c.rating >= 0) {
      PERFLAW_RETURN_IF_ERROR(
          ParseNumberField(path, line, CleanField(f[c.rating]), "rating", o.rating_column, &v));
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
  StatusOr<InputFile> opened = OpenRegularFile(path);
  if (!opened.ok()) return opened.status();
  const InputFile& f = *opened;
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
