#include "law/data.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace perflaw::law {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitComma(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::stringstream ss(line);
  while (std::getline(ss, cell, ',')) out.push_back(Trim(cell));
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

// Strict: the whole cell must be one finite number.
bool ParseNumber(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

const char* const kRequired[] = {"dataset", "max_seq_len", "layers", "d_model", "metric", "value"};

struct Columns {
  std::map<std::string, size_t> index;
  bool Has(const std::string& name) const { return index.count(name) > 0; }
};

Status ParseHeader(const std::string& path, const std::string& line, Columns* cols) {
  std::vector<std::string> names = SplitComma(line);
  for (size_t i = 0; i < names.size(); ++i) cols->index[names[i]] = i;
  for (const char* name : kRequired) {
    if (!cols->Has(name)) {
      return Status::InvalidArgument(
          path + ":1: missing column '" + name +
          "' (need dataset, max_seq_len, layers, d_model, metric, value)");
    }
  }
  return Status::Ok();
}

Status NumberCell(const std::vector<std::string>& cells, const Columns& cols,
                  const std::string& name, const std::string& where, bool optional, double* out) {
  auto it = cols.index.find(name);
  if (it == cols.index.end()) return Status::Ok();
  const std::string& text = cells[it->second];
  if (text.empty() && optional) return Status::Ok();
  if (!ParseNumber(text, out)) {
    return Status::InvalidArgument(where + ": column '" + name + "' is not a finite number: '" +
                                   text + "'");
  }
  return Status::Ok();
}

Status CheckPositive(double v, const std::string& name, const std::string& where) {
  if (std::isnan(v) || v > 0) return Status::Ok();
  return Status::InvalidArgument(where + ": column '" + name + "' must be > 0, got " +
                                 FormatNumber(v));
}

Status ParseRow(const std::vector<std::string>& cells, const Columns& cols,
                const std::string& where, Observation* row) {
  if (cells.size() != cols.index.size()) {
    return Status::InvalidArgument(where + ": expected " + std::to_string(cols.index.size()) +
                                   " cells, got " + std::to_string(cells.size()));
  }
  row->origin = where;
  row->dataset = cells[cols.index.at("dataset")];
  row->metric = cells[cols.index.at("metric")];
  if (row->dataset.empty()) return Status::InvalidArgument(where + ": empty 'dataset'");
  if (row->metric.empty()) return Status::InvalidArgument(where + ": empty 'metric'");
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "max_seq_len", where, false, &row->max_seq_len));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "layers", where, false, &row->layers));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "d_model", where, false, &row->d_model));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "value", where, false, &row->value));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "tokens", where, true, &row->tokens));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "apen", where, true, &row->apen));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "transition", where, true, &row->transition));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "users", where, true, &row->users));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "best_epoch", where, true, &row->best_epoch));
  PERFLAW_RETURN_IF_ERROR(NumberCell(cells, cols, "epochs", where, true, &row->epochs));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->max_seq_len, "max_seq_len", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->layers, "layers", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->d_model, "d_model", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->tokens, "tokens", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->apen, "apen", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->transition, "transition", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->users, "users", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->best_epoch, "best_epoch", where));
  PERFLAW_RETURN_IF_ERROR(CheckPositive(row->epochs, "epochs", where));
  if (row->best_epoch > row->epochs)
    return Status::InvalidArgument(where + ": best_epoch " + FormatNumber(row->best_epoch) +
                                   " is after the last epoch " + FormatNumber(row->epochs));
  return Status::Ok();
}

bool IsStringKey(const std::string& key) { return key == "dataset" || key == "metric"; }

bool IsKnownKey(const std::string& key) {
  static const char* const kKeys[] = {"dataset", "max_seq_len", "layers", "d_model",   "metric",
                                      "value",   "tokens",      "apen",   "transition"};
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

double NumericColumn(const Observation& r, const std::string& key) {
  if (key == "max_seq_len") return r.max_seq_len;
  if (key == "layers") return r.layers;
  if (key == "d_model") return r.d_model;
  if (key == "value") return r.value;
  if (key == "tokens") return r.tokens;
  if (key == "transition") return r.transition;
  return r.apen;
}

}  // namespace

std::string FormatNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

StatusOr<std::vector<Observation>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open CSV file '" + path + "'");
  std::string line;
  if (!std::getline(in, line)) return Status::InvalidArgument(path + ":1: empty file, no header");
  Columns cols;
  PERFLAW_RETURN_IF_ERROR(ParseHeader(path, line, &cols));
  std::vector<Observation> rows;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (Trim(line).empty()) continue;
    Observation row;
    PERFLAW_RETURN_IF_ERROR(
        ParseRow(SplitComma(line), cols, path + ":" + std::to_string(line_no), &row));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return Status::InvalidArgument(path + ": no data rows after the header");
  return rows;
}

Status WriteCsv(const std::string& path, const std::vector<Observation>& rows) {
  std::ofstream out(path);
  if (!out) return Status::IoError("cannot write '" + path + "'");
  out << "dataset,max_seq_len,layers,d_model,metric,value,tokens,apen,users,best_epoch,epochs,"
         "transition\n";
  auto opt = [](double v) { return std::isnan(v) ? std::string() : FormatNumber(v); };
  for (const Observation& r : rows) {
    char value[64];
    std::snprintf(value, sizeof(value), "%.17g", r.value);
    out << r.dataset << ',' << FormatNumber(r.max_seq_len) << ',' << FormatNumber(r.layers) << ','
        << FormatNumber(r.d_model) << ',' << r.metric << ',' << value << ',' << opt(r.tokens) << ','
        << opt(r.apen) << ',' << opt(r.users) << ',' << opt(r.best_epoch) << ',' << opt(r.epochs)
        << ',' << opt(r.transition) << '\n';
  }
  return out ? Status::Ok() : Status::IoError("write to '" + path + "' failed");
}

StatusOr<RowFilter> RowFilter::Parse(const std::string& expression, const std::string& option) {
  RowFilter f;
  f.expression_ = expression;
  std::string rest = expression;
  while (true) {
    size_t amp = rest.find("&&");
    std::string clause = Trim(rest.substr(0, amp));
    size_t pos = clause.find_first_of("<>=!");
    if (clause.empty() || pos == std::string::npos || pos == 0) {
      return Status::InvalidArgument(option + ": cannot parse clause '" + clause +
                                     "' (expected key op value, op in <= < >= > == !=)");
    }
    Clause c;
    c.key = Trim(clause.substr(0, pos));
    size_t op_len = (pos + 1 < clause.size() && clause[pos + 1] == '=') ? 2 : 1;
    c.op = clause.substr(pos, op_len);
    c.text = Trim(clause.substr(pos + op_len));
    if (c.op == "=" || c.op == "!") {
      return Status::InvalidArgument(option + ": unknown operator in '" + clause +
                                     "' (use <= < >= > == !=)");
    }
    if (!IsKnownKey(c.key)) {
      return Status::InvalidArgument(option + ": unknown column '" + c.key + "' in '" + clause +
                                     "'");
    }
    if (c.text.empty()) return Status::InvalidArgument(option + ": no value in '" + clause + "'");
    if (IsStringKey(c.key) && c.op != "==" && c.op != "!=") {
      return Status::InvalidArgument(option + ": column '" + c.key +
                                     "' is text; only == and != apply");
    }
    if (!IsStringKey(c.key) && !ParseNumber(c.text, &c.number)) {
      return Status::InvalidArgument(option + ": '" + c.text + "' is not a number in '" + clause +
                                     "'");
    }
    f.clauses_.push_back(c);
    if (amp == std::string::npos) break;
    rest = rest.substr(amp + 2);
  }
  return f;
}

bool RowFilter::Matches(const Observation& row) const {
  for (const Clause& c : clauses_) {
    bool ok;
    if (IsStringKey(c.key)) {
      const std::string& v = c.key == "dataset" ? row.dataset : row.metric;
      ok = (c.op == "==") == (v == c.text);
    } else {
      double v = NumericColumn(row, c.key);
      if (c.op == "<=")
        ok = v <= c.number;
      else if (c.op == "<")
        ok = v < c.number;
      else if (c.op == ">=")
        ok = v >= c.number;
      else if (c.op == ">")
        ok = v > c.number;
      else if (c.op == "==")
        ok = v == c.number;
      else
        ok = v != c.number;
    }
    if (!ok) return false;
  }
  return true;
}

bool GroupKey::operator<(const GroupKey& o) const {
  if (metric != o.metric) return metric < o.metric;
  if (dataset != o.dataset) return dataset < o.dataset;
  double a = max_seq_len.empty() ? 0 : std::atof(max_seq_len.c_str());
  double b = o.max_seq_len.empty() ? 0 : std::atof(o.max_seq_len.c_str());
  if (a != b) return a < b;
  return max_seq_len < o.max_seq_len;
}

std::string GroupKey::Label() const {
  std::string s = "metric=" + metric;
  if (!dataset.empty()) s += " dataset=" + dataset;
  if (!max_seq_len.empty()) s += " max_seq_len=" + max_seq_len;
  return s;
}

StatusOr<GroupBy> GroupBy::Parse(const std::string& text) {
  GroupBy g;
  if (text.empty() || text == "none") return g;
  std::stringstream ss(text);
  std::string key;
  while (std::getline(ss, key, ',')) {
    key = Trim(key);
    if (key == "dataset")
      g.dataset = true;
    else if (key == "max_seq_len")
      g.max_seq_len = true;
    else {
      return Status::InvalidArgument(
          "--group-by: unknown key '" + key +
          "' (use dataset, max_seq_len or none; metric is always a key)");
    }
  }
  return g;
}

std::string GroupBy::ToString() const {
  if (dataset && max_seq_len) return "dataset,max_seq_len";
  if (dataset) return "dataset";
  if (max_seq_len) return "max_seq_len";
  return "none";
}

std::map<GroupKey, std::vector<Observation>> GroupRows(const std::vector<Observation>& rows,
                                                       const GroupBy& by) {
  std::map<GroupKey, std::vector<Observation>> groups;
  for (const Observation& r : rows) {
    GroupKey k;
    k.metric = r.metric;
    if (by.dataset) k.dataset = r.dataset;
    if (by.max_seq_len) k.max_seq_len = FormatNumber(r.max_seq_len);
    groups[k].push_back(r);
  }
  return groups;
}

std::vector<double> DistinctValues(const std::vector<Observation>& rows,
                                   double Observation::*field) {
  std::set<double> s;
  for (const Observation& r : rows) s.insert(r.*field);
  return {s.begin(), s.end()};
}

}  // namespace perflaw::law
