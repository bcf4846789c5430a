#include "apen/text.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace perflaw::apen {

std::string ShortNum(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string ExactNum(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string SignificantNum(double v, int digits, std::string_view non_finite) {
  if (!std::isfinite(v)) return std::string(non_finite);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

std::string NotNonNegativeIntegerMessage(std::string_view name, std::string_view got) {
  const std::string subject = name.empty() ? "" : std::string(name) + " ";
  return subject + "must be a non-negative integer, got " + std::string(got);
}

std::string AboveMaximumMessage(std::string_view name, uint64_t max, std::string_view got) {
  return std::string(name) + " must be at most " + std::to_string(max) + ", got " +
         std::string(got);
}

std::string CsvField(std::string_view s, std::string_view specials) {
  if (s.find_first_of(specials) == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace perflaw::apen
