// How a run is planned: the law section as the fit's groups.
#include "orchestrator/run/plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;

TEST(LawGroupByTest, MapsSweepAxesToLawGroups) {
  LawSpec law;
  law.group_by = {};
  EXPECT_EQ(*LawGroupBy(law), "none");
  law.group_by = {"data.max_seq_len"};
  EXPECT_EQ(*LawGroupBy(law), "max_seq_len");
  law.group_by = {"dataset", "data.max_seq_len"};
  EXPECT_EQ(*LawGroupBy(law), "dataset,max_seq_len");
  law.group_by = {"seed"};
  EXPECT_FALSE(LawGroupBy(law).ok());
}

}  // namespace
}  // namespace perflaw::orchestrator
