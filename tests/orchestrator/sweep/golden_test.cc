// Golden values of the shipped configs: the ids, parameter counts, token and cost estimates of the
// points that configs/quickstart.yaml and configs/study-cpu.yaml expand to, as computed before the
// sweep code was split and made to carry typed point configurations. Point ids are stored in
// results databases, so these must never change; the estimates order dispatch.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "orchestrator/sweep/sweep.h"
#include "tests/test_util.h"

namespace perflaw::orchestrator {
namespace {

SweepParseOptions NoCache() {
  SweepParseOptions o;
  o.cache.enabled = false;
  return o;
}

// "ID PARAMS TOKENS COST" per point, numbers exactly (%.17g).
std::vector<std::string> Lines(const Sweep& s) {
  std::vector<std::string> out;
  for (const GridPoint& p : s.points) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %.17g %.17g %.17g", p.id.c_str(), p.non_embedding_params,
                  p.tokens, p.cost);
    out.push_back(buf);
  }
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return all;
}

TEST(SweepGolden, QuickstartIdsAndCosts) {
  StatusOr<Sweep> s =
      LoadSweep(std::string(PERFLAW_SOURCE_DIR) + "/configs/quickstart.yaml", NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> expected = {
      "ad0bc03a6eaedf7a6e958825cae516c5 480 745000 357600000",
      "d49532b33a39afb5260134dbc142cbe6 1728 745000 1287360000",
      "fe933e0a0a662b46d19e54616dae7a57 6528 745000 4863360000",
      "db6819fd3b47dac3881c3bedc0b7b300 25344 745000 18881280000",
      "f2a32dbd1ad03ded664250250c87b54e 99840 745000 74380800000",
      "602101c07427850eee8c44843525b0fd 944 745000 703280000",
      "0aecdfd5e75e60e8eb26f0e251ab17c0 3424 745000 2550880000",
      "df64015a3771a2485e5e898c0efd19ed 12992 745000 9679040000",
      "f76bcf84ccccd9aff1f2cde56fcdd616 50560 745000 37667200000",
      "327348209eac83715485a60ef5f10f2a 199424 745000 148570880000",
      "29b5a635451c1c9b4b53694bd363636d 1408 745000 1048960000",
      "55948e429d14bf58b8376e869411dfc8 5120 745000 3814400000",
      "5c91c8d6631b2a505a608e8f28b552c6 19456 745000 14494720000",
      "bcc260e397c30b0919a15676c595c7fc 75776 745000 56453120000",
      "579944b766dc788947dc1df9591c00e5 299008 745000 222760960000",
      "2da02459574c59ca775db840da8496d6 1872 745000 1394640000",
      "6a7dbb20b4d5bc29cf303b1b842fe67a 6816 745000 5077920000",
      "2cce867e7ae1ff24fc8014c0c4aa6b78 25920 745000 19310400000",
      "2c2f97a6379a65817b355de5b481c425 100992 745000 75239040000",
      "212723cd65a5b0930c277bc25da9a7a6 398592 745000 296951040000",
  };
  EXPECT_EQ(Joined(Lines(*s)), Joined(expected));
}

TEST(SweepGolden, StudyCpuIdsAndCosts) {
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  StatusOr<Sweep> s =
      LoadSweep(std::string(PERFLAW_SOURCE_DIR) + "/configs/study-cpu.yaml", NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> lines = Lines(*s);
  ASSERT_EQ(lines.size(), 38u);
  EXPECT_EQ(lines.front(), "c6758e0d6e6666b92f3cc3f9a6ea74b1 1728 783140 1353265920");
  EXPECT_EQ(lines.back(), "440522384af2dc5697d634021c555d01 201856 4261100 860128601600");
  EXPECT_EQ(Sha256Hex(Joined(lines)),
            "eee38b06bc53ac598d5f44dba1afc2082f2edca7046e2060cae367e4059f54b8")
      << Joined(lines);
}

}  // namespace
}  // namespace perflaw::orchestrator
