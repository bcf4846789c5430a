#include "worker/heap.h"

#include <gtest/gtest.h>

namespace perflaw::worker {
namespace {

TEST(HeapTest, ModesByName) {
  EXPECT_EQ(*ParseHeapMode("glibc"), HeapMode::kGlibc);
  EXPECT_EQ(*ParseHeapMode("tuned"), HeapMode::kTuned);
  StatusOr<HeapMode> bad = ParseHeapMode("jemalloc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "--heap must be glibc or tuned, got 'jemalloc'");
}

TEST(HeapTest, OptionsOutsideWhatGlibcTakesAreRefusedNotClipped) {
  std::string why;
  HeapOptions o;
  EXPECT_TRUE(o.IsValid(&why)) << why;
  o.mmap_threshold = size_t{64} << 20;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_NE(why.find("mmap_threshold must be in (0, 32 MiB]"), std::string::npos) << why;
  o = HeapOptions();
  o.trim_threshold = size_t{4} << 30;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_NE(why.find("trim_threshold"), std::string::npos) << why;
  o = HeapOptions();
  o.top_pad = size_t{3} << 30;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_EQ(ConfigureHeap(o).code(), Status::Code::kInvalidArgument);
}

TEST(HeapTest, DefaultsAreAcceptedByGlibc) {
  EXPECT_TRUE(ConfigureHeap(HeapOptions()).ok());
  HeapOptions glibc;
  glibc.mode = HeapMode::kGlibc;
  EXPECT_TRUE(ConfigureHeap(glibc).ok());
}

}  // namespace
}  // namespace perflaw::worker
