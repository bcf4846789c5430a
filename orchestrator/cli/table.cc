#include "orchestrator/cli/table.h"

#include <algorithm>
#include <cstdio>

namespace perflaw::orchestrator {

using nlohmann::json;

std::string CellText(const json& v, bool exact) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float() && !exact) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();  // integers; floats as the shortest text that reads back exactly
}

size_t TextWidth(const Table& t) {
  size_t total = 0;
  for (size_t c = 0; c < t.headers.size(); ++c) {
    size_t w = t.headers[c].size();
    for (const auto& row : t.rows) w = std::max(w, CellText(row[c], false).size());
    total += w + (c ? 2 : 0);
  }
  return total;
}

std::string AlignedText(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c)
      line += (c ? "  " : "") + row[c] + std::string(width[c] - row[c].size(), ' ');
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  return text;
}

std::string CsvLine(const std::vector<std::string>& fields, std::string_view specials) {
  std::string line;
  for (size_t c = 0; c < fields.size(); ++c)
    line += (c ? "," : "") + apen::CsvField(fields[c], specials);
  return line + "\n";
}

void PrintTable(const Table& t, const std::string& format, std::ostream& out) {
  if (format == "json") {
    json rows = json::array();
    for (const auto& row : t.rows) {
      json obj = json::object();
      for (size_t c = 0; c < t.headers.size(); ++c) obj[t.headers[c]] = row[c];
      rows.push_back(obj);
    }
    out << rows.dump(2) << "\n";
    return;
  }
  const bool csv = format == "csv";
  std::vector<std::vector<std::string>> text{t.headers};
  for (const auto& row : t.rows) {
    std::vector<std::string> cells;
    for (const json& cell : row) cells.push_back(CellText(cell, /*exact=*/csv));
    text.push_back(std::move(cells));
  }
  if (csv) {
    for (const auto& row : text) out << CsvLine(row);
    return;
  }
  out << AlignedText(text);
  out << "(" << t.rows.size() << " row" << (t.rows.size() == 1 ? "" : "s") << ")\n";
}

}  // namespace perflaw::orchestrator
