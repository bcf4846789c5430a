// Small text helpers shared by every library: numbers in messages, keys and reports, CSV fields.
// Each number format is a separate function because callers pin their exact text (messages in
// tests, canonical strings in cache keys and point ids).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace perflaw::apen {

// A number as std::ostream prints it by default (6 significant digits; "inf", "nan"): messages.
std::string ShortNum(double v);
// Every digit a double needs to read back the same ("%.17g"): canonical strings and keys.
std::string ExactNum(double v);
// At most `digits` significant digits ("%.*g"), `non_finite` for NaN and infinities: reports.
std::string SignificantNum(double v, int digits, std::string_view non_finite = "n/a");

// The one wording of a bad unsigned integer, for every reader of user input (the sweep's YAML, a
// point's JSON, command-line flags): "NAME must be a non-negative integer, got GOT" and "NAME must
// be at most MAX, got GOT". GOT is the value as the user wrote it (quoted where it was text). An
// empty NAME is left out (CLI11 puts the option's name before a validator's message).
std::string NotNonNegativeIntegerMessage(std::string_view name, std::string_view got);
std::string AboveMaximumMessage(std::string_view name, uint64_t max, std::string_view got);

// The characters that make CsvField quote a field: RFC 4180's comma, quote and line breaks.
inline constexpr std::string_view kCsvSpecials = ",\"\n\r";
// A CSV field: as it is, or quoted with its quotes doubled when it holds one of `specials`.
std::string CsvField(std::string_view s, std::string_view specials = kCsvSpecials);

}  // namespace perflaw::apen
