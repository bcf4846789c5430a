// Placing a job on a hostfile's nodes (orchestrator/run/hostfile.h): what perflaw run --hostfile gives
// mpirun. The job itself on simulated nodes: tests/multinode/multinode_test.sh.
#include "orchestrator/run/hostfile.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_util.h"

namespace perflaw::orchestrator {
namespace {

using perflaw::testing::TempDir;

std::string Layout(const std::vector<HostSlots>& nodes) {
  std::string s;
  for (const HostSlots& n : nodes) s += n.host + ":" + std::to_string(n.slots) + " ";
  return s;
}

TEST(HostfileTest, ReadsHostsSlotsAndComments) {
  TempDir dir;
  dir.Write("hosts",
            "# nodes\nnode-a slots=4\n\nnode-b slots=2 max_slots=8  # gpu\nnode-c\n"
            "node-a slots=1\n");
  StatusOr<std::vector<HostSlots>> nodes = ReadHostfile(dir.File("hosts"));
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(Layout(*nodes), "node-a:5 node-b:2 node-c:1 ");
}

TEST(HostfileTest, BadHostfilesAreOneLineErrors) {
  TempDir dir;
  EXPECT_EQ(ReadHostfile(dir.File("none")).status().message(),
            "--hostfile " + dir.File("none") + ": cannot read it");
  dir.Write("empty", "# nothing\n\n");
  EXPECT_NE(ReadHostfile(dir.File("empty")).status().message().find("names no host"),
            std::string::npos);
  dir.Write("zero", "a slots=0\n");
  EXPECT_NE(ReadHostfile(dir.File("zero")).status().message().find("zero:1: expected slots=N"),
            std::string::npos);
  dir.Write("junk", "a\nb cores=2\n");
  EXPECT_NE(ReadHostfile(dir.File("junk")).status().message().find("junk:2: unknown entry"),
            std::string::npos);
}

TEST(HostfileTest, GroupsStayOnOneNodeAndRankZeroIsOnTheFirst) {
  const std::vector<HostSlots> nodes = {{"a", 3}, {"b", 2}, {"c", 2}};
  // Groups of 2: a holds one group (its third slot stays empty), b and c one each.
  StatusOr<std::vector<HostSlots>> placed = PlaceRanks(nodes, 6, 2, false);
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  EXPECT_EQ(Layout(*placed), "a:3 b:2 c:2 ");  // a: the orchestrator + 2 workers
  placed = PlaceRanks(nodes, 2, 2, false);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(Layout(*placed), "a:3 ");  // nodes without ranks are left out
  // Groups of 1 fill every slot.
  placed = PlaceRanks(nodes, 7, 1, false);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(Layout(*placed), "a:4 b:2 c:2 ");
}

TEST(HostfileTest, SpanningFillsEverySlot) {
  StatusOr<std::vector<HostSlots>> placed = PlaceRanks({{"a", 1}, {"b", 2}, {"c", 2}}, 4, 2, true);
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  EXPECT_EQ(Layout(*placed), "a:2 b:2 c:1 ");  // ranks 1 (a) and 2 (b) form a spanning group
  EXPECT_EQ(RenderHostfile(*placed).substr(RenderHostfile(*placed).find('\n') + 1),
            "a slots=2\nb slots=2\nc slots=1\n");
}

TEST(HostfileTest, TooFewSlotsAndTooLargeGroupsAreRefused) {
  const std::vector<HostSlots> nodes = {{"a", 3}, {"b", 2}};
  StatusOr<std::vector<HostSlots>> placed = PlaceRanks(nodes, 6, 2, false);
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.status().message(),
            "the hostfile's 2 nodes (5 slots) hold 4 worker rank(s) in whole groups of 2, not 6 "
            "(the orchestrator comes on top of the first node's slots)");
  placed = PlaceRanks(nodes, 4, 4, false);
  ASSERT_FALSE(placed.ok());
  EXPECT_NE(placed.status().message().find("larger than any node of the hostfile (at most 3 "
                                           "slots): give nodes more slots, or --span-nodes"),
            std::string::npos);
  EXPECT_TRUE(PlaceRanks(nodes, 4, 4, true).ok());
  EXPECT_FALSE(PlaceRanks(nodes, 6, 2, true).ok());
}

}  // namespace
}  // namespace perflaw::orchestrator
