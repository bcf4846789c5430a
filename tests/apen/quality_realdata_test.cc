// The data-quality measures on the real datasets in ../shared/data: the fast algorithms against
// the brute-force definitions, user by user, and against the Python/numpy reference.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "apen/dataset.h"
#include "apen/quality.h"
#include "tests/apen/quality_brute_force.h"
#include "tests/test_util.h"

namespace perflaw::apen {
namespace {

Sequences Load(const std::string& name) {
  DataOptions data;
  data.path = testing::SharedData(name);
  CacheOptions cache;
  cache.enabled = false;
  StatusOr<Dataset> dataset = LoadDataset(data, cache);
  EXPECT_TRUE(dataset.ok()) << dataset.status().ToString();
  return dataset.ok() ? dataset.value().sequences : Sequences{};
}

// Mean over users of a brute-force measure where it is finite.
template <typename Fn>
double BruteMean(const Sequences& seqs, size_t max_len, Fn fn) {
  double sum = 0;
  uint64_t defined = 0;
  for (size_t u = 0; u < seqs.num_users(); ++u) {
    const ItemSpan x = seqs.user(u).Last(max_len);
    const double v = fn(brute_force::Seq(x.begin(), x.end()));
    if (std::isfinite(v)) sum += v, ++defined;
  }
  return defined ? sum / double(defined) : std::nan("");
}

void ExpectSameOrBothNaN(double expected, double actual, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what;
  } else {
    EXPECT_NEAR(expected, actual, 1e-12 * std::fabs(expected)) << what;
  }
}

class QualityRealData : public ::testing::TestWithParam<std::string> {};

TEST_P(QualityRealData, MeansMatchTheBruteForceDefinition) {
  if (!testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  const Sequences seqs = Load(GetParam());
  ASSERT_GT(seqs.num_users(), 0u);
  for (auto [m, r] : {std::pair{2, 0.2}, {1, 0.2}, {2, 2.5}, {1, 40.0}}) {
    QualityOptions o;
    o.max_seq_len = 50;
    o.m = m;
    o.r = r;
    o.threads = 2;
    const QualitySummary s = ComputeQuality(seqs, o);
    ASSERT_TRUE(s.ok) << s.message;
    const std::string what = GetParam() + " m=" + std::to_string(m) + " r=" + std::to_string(r);
    ExpectSameOrBothNaN(
        BruteMean(seqs, 50, [&](auto x) { return brute_force::BruteApEn(x, m, r); }), s.apen.mean,
        "ApEn " + what);
    ExpectSameOrBothNaN(
        BruteMean(seqs, 50, [&](auto x) { return brute_force::BruteSampEn(x, m, r); }),
        s.sampen.mean, "SampEn " + what);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedData, QualityRealData,
                         ::testing::Values("ml-100k.inter", "amazon-video.txt"));

// Values printed by the Python/numpy transcription of the definitions, which reads the files
// itself: scripts/bench/apen_reference.py FILE --max-seq-len 50 --m 2 --r R.
TEST(QualityRealDataReference, MatchesThePythonReference) {
  if (!testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  struct Case {
    const char* file;
    double r;
    double apen, sampen;
    uint64_t sampen_infinite;
  };
  const Case cases[] = {
      {"ml-100k.inter", 0.2, 0.02720252172229526, std::nan(""), 0},
      {"ml-100k.inter", 2.5, 0.02576835173588749, 0.845196596100507, 119},
      {"amazon-video.txt", 0.2, 0.20340781085189036, std::nan(""), 0},
      {"amazon-video.txt", 2.5, 0.20284588496468414, 0.5685266951479303, 169},
  };
  for (const Case& c : cases) {
    QualityOptions o;
    o.max_seq_len = 50;
    o.r = c.r;
    const QualitySummary s = ComputeQuality(Load(c.file), o);
    const std::string what = std::string(c.file) + " r=" + std::to_string(c.r);
    EXPECT_NEAR(c.apen, s.apen.mean, 1e-9 * c.apen) << what;
    ExpectSameOrBothNaN(c.sampen, s.sampen.mean, "SampEn " + what);
    EXPECT_EQ(c.sampen_infinite, s.sampen.users_infinite) << what;
  }
}

}  // namespace
}  // namespace perflaw::apen
