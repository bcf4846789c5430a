// Helpers of the sweep tests: small datasets and sweeps, parsing without the dataset cache.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "orchestrator/sweep/sweep.h"
#include "tests/test_util.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator::sweep_test {

namespace fs = std::filesystem;
using perflaw::testing::Bin;
using perflaw::testing::RunCommand;
using perflaw::testing::TempDir;

// A small sasrec-format dataset: `users` users, each with 6 items.
inline std::string SasrecText(int users, int offset = 0) {
  std::ostringstream os;
  for (int u = 1; u <= users; ++u)
    for (int i = 0; i < 6; ++i) os << u << " " << 1 + (u * 7 + i * 3 + offset) % 40 << "\n";
  return os.str();
}

inline SweepParseOptions NoCache(const std::string& base_dir = "") {
  SweepParseOptions o;
  o.base_dir = base_dir;
  o.cache.enabled = false;
  return o;
}

// A synthetic sweep with the given grid block (YAML lines) and extra top-level text.
inline std::string SynthSweep(const std::string& grid, const std::string& extra = "") {
  return "name: t\n"
         "data:\n"
         "  synthetic: {users: 50, items: 30, mean_length: 8, seed: 3}\n"
         "train: {epochs: 2}\n"
         "eval: {protocol: \"sampled:20\", ks: [10]}\n" +
         grid + extra;
}

inline StatusOr<Sweep> Parse(const std::string& text, const std::string& base = "/tmp") {
  return ParseSweep(text, "s.yaml", NoCache(base));
}

inline std::set<std::string> Ids(const Sweep& s) {
  std::set<std::string> ids;
  for (const auto& p : s.points) ids.insert(p.id);
  return ids;
}

// The error message of a parse that must fail.
inline std::string ErrorOf(const std::string& text, const std::string& base = "/tmp") {
  StatusOr<Sweep> s = Parse(text, base);
  EXPECT_FALSE(s.ok()) << "expected an error for:\n" << text;
  if (s.ok()) return "";
  EXPECT_TRUE(s.status().IsUserError()) << s.status().ToString();
  EXPECT_EQ(s.status().message().find('\n'), std::string::npos)
      << "one line: " << s.status().message();
  return s.status().message();
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace perflaw::orchestrator::sweep_test
