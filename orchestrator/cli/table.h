// The one printer of the commands' tabular output: aligned text columns, CSV and JSON
// (`perflaw status/results/sql`, `perflaw data stats`), and the JSON number rule of their reports.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "apen/text.h"

namespace perflaw::orchestrator {

// A table of JSON cells (null, number or string) under named columns.
struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<nlohmann::json>> rows;
};

// A cell as text: "" for null, strings as they are, integers as digits; floats with 6 significant
// digits ("%.6g"), or `exact`ly (the shortest text that reads back the same).
std::string CellText(const nlohmann::json& v, bool exact);

// The width of PrintTable's text form of `t`: its columns' widths (headers included) and the
// two-space gaps between them.
size_t TextWidth(const Table& t);

// Rows of text (the first usually the header) as lines of columns two spaces apart, each column as
// wide as its widest cell, trailing blanks dropped.
std::string AlignedText(const std::vector<std::vector<std::string>>& rows);

// One CSV line (with its "\n") of the fields, each through apen::CsvField with `specials`.
std::string CsvLine(const std::vector<std::string>& fields,
                    std::string_view specials = apen::kCsvSpecials);

// `format` "json": an array of {header: cell} objects (indented 2); "csv": the headers and the
// exact cells; anything else: AlignedText with the 6-digit cells and "(N rows)".
void PrintTable(const Table& t, const std::string& format, std::ostream& out);

// A number for a JSON report: itself, or null for NaN and infinities (JSON has neither).
inline nlohmann::json JsonNumber(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace perflaw::orchestrator
