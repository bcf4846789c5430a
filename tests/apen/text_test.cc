// The shared small helpers of apen/text.h, apen/parallel.h and apen/hash.h.
#include "apen/text.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "apen/hash.h"
#include "apen/parallel.h"

namespace perflaw::apen {
namespace {

TEST(ShortNumTest, PrintsAsTheDefaultStream) {
  EXPECT_EQ(ShortNum(0.1), "0.1");
  EXPECT_EQ(ShortNum(3), "3");
  EXPECT_EQ(ShortNum(1234567), "1.23457e+06");
  EXPECT_EQ(ShortNum(-2.5), "-2.5");
  EXPECT_EQ(ShortNum(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(ShortNum(NAN), "nan");
}

TEST(ExactNumTest, PrintsEveryDigitThatReadsBack) {
  EXPECT_EQ(ExactNum(0.5), "0.5");
  EXPECT_EQ(ExactNum(0.1), "0.10000000000000001");
  EXPECT_EQ(ExactNum(12), "12");
  for (double v : {0.1, 1.0 / 3, 6.02214076e23, -1e-300})
    EXPECT_EQ(std::stod(ExactNum(v)), v) << ExactNum(v);
}

TEST(SignificantNumTest, RoundsAndNamesNonFinite) {
  EXPECT_EQ(SignificantNum(3.14159265, 4), "3.142");
  EXPECT_EQ(SignificantNum(3.14159265, 6), "3.14159");
  EXPECT_EQ(SignificantNum(123456, 3), "1.23e+05");
  EXPECT_EQ(SignificantNum(NAN, 4), "n/a");
  EXPECT_EQ(SignificantNum(-std::numeric_limits<double>::infinity(), 4, "-"), "-");
}

TEST(CsvFieldTest, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  // Other specials: a lone CR stays as it is.
  EXPECT_EQ(CsvField("cr\r", ",\"\n"), "cr\r");
  EXPECT_EQ(CsvField("a,b", ",\"\n"), "\"a,b\"");
}

TEST(ParallelForTest, RunsEveryTaskOnceOnAnyThreadCount) {
  for (size_t threads : {1, 2, 3, 8, 64}) {
    for (size_t tasks : {0, 1, 5, 100}) {
      std::vector<std::atomic<int>> runs(tasks);
      std::atomic<size_t> max_worker{0};
      ParallelFor(tasks, threads, [&](size_t t, size_t w) {
        ++runs[t];
        size_t seen = max_worker.load();
        while (w > seen && !max_worker.compare_exchange_weak(seen, w)) {
        }
      });
      for (size_t t = 0; t < tasks; ++t) EXPECT_EQ(runs[t].load(), 1) << t;
      EXPECT_LT(max_worker.load(), std::max<size_t>(1, std::min(threads, tasks)));
    }
  }
}

TEST(ResolveThreadsTest, ZeroMeansTheMachine) {
  EXPECT_EQ(ResolveThreads(3), 3u);
  EXPECT_GE(ResolveThreads(0), 1u);
  EXPECT_GE(ResolveThreads(-1), 1u);
}

TEST(Mix64Test, IsSplitMix64sFinalizer) {
  // SplitMix64 seeded with 0: its first outputs are Mix64(0), Mix64(0x9E37...), ...
  EXPECT_EQ(Mix64(0), 0xE220A8397B1DCDAFULL);
  std::set<uint64_t> seen;
  for (uint64_t x = 0; x < 1000; ++x) seen.insert(Mix64(x));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ValueMessagesTest, OneWordingForEveryReader) {
  EXPECT_EQ(NotNonNegativeIntegerMessage("model.layers", "\"two\""),
            "model.layers must be a non-negative integer, got \"two\"");
  EXPECT_EQ(NotNonNegativeIntegerMessage("", "-5"), "must be a non-negative integer, got -5");
  EXPECT_EQ(AboveMaximumMessage("resources.workers", 4294967295u, "5000000000"),
            "resources.workers must be at most 4294967295, got 5000000000");
}

}  // namespace
}  // namespace perflaw::apen
