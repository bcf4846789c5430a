// Small text helpers shared by every library: numbers in messages, keys and reports, CSV fields.
// Each number format is a separate function because callers pin their exact text (messages in
// tests, canonical strings in cache keys and point ids).
#pragma once

#include <string>
#include <string_view>

namespace perflaw::apen {

// A number as std::ostream prints it by default (6 significant digits; "inf", "nan"): messages.
std::string ShortNum(double v);
// Every digit a double needs to read back the same ("%.17g"): canonical strings and keys.
std::string ExactNum(double v);
// At most `digits` significant digits ("%.*g"), `non_finite` for NaN and infinities: reports.
std::string SignificantNum(double v, int digits, std::string_view non_finite = "n/a");

// The characters that make CsvField quote a field: RFC 4180's comma, quote and line breaks.
inline constexpr std::string_view kCsvSpecials = ",\"\n\r";
// A CSV field: as it is, or quoted with its quotes doubled when it holds one of `specials`.
std::string CsvField(std::string_view s, std::string_view specials = kCsvSpecials);

}  // namespace perflaw::apen
