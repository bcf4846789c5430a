// "did you mean" hints for unknown keys and names, shared by every config reader (point JSON, sweep
// YAML, CLI values). In apen/ only because it is the lowest layer all of them link.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace perflaw {

// Levenshtein distance between two strings.
size_t EditDistance(const std::string& a, const std::string& b);

// The known word closest to `word` if it is close enough to be a likely typo (distance below
// max(3, |word| / 4 + 1)), else nullptr.
const std::string* ClosestMatch(const std::string& word, const std::vector<std::string>& known);

// "a, b, c".
std::string JoinWords(const std::vector<std::string>& words);

}  // namespace perflaw
