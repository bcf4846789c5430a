// Synthetic datasets of a sweep on disk.
#include <gtest/gtest.h>

#include <string>

#include "apen/dataset.h"
#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

TEST(SweepSynthetic, MaterializationIsDeterministicAndLoadable) {
  TempDir a, b;
  const std::string text = SynthSweep("grid:\n  data.max_seq_len: [4, 8]\n", "work_dir: w\n");
  StatusOr<Sweep> sa = ParseSweep(text, a.File("s.yaml"), NoCache());
  StatusOr<Sweep> sb = ParseSweep(text, b.File("s.yaml"), NoCache());
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(Ids(*sa), Ids(*sb));  // the work dir is not part of the identity
  const std::string path = sa->datasets[0].path;
  EXPECT_EQ(fs::path(path).parent_path(), a.path() / "w" / "data");
  EXPECT_FALSE(fs::exists(path));  // parsing writes nothing

  StatusOr<std::vector<std::string>> written = MaterializeSyntheticData(*sa);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, std::vector<std::string>{path});
  ASSERT_TRUE(MaterializeSyntheticData(*sb).ok());
  EXPECT_EQ(ReadAll(path), ReadAll(sb->datasets[0].path));
  written = MaterializeSyntheticData(*sa);  // already there: nothing to do
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(written->empty());

  // What a worker does with the point: the file loads with the point's data options.
  StatusOr<worker::PointConfig> cfg =
      worker::ParsePointConfig(CanonicalJson(sa->points[0].config).dump(), "p");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  apen::CacheOptions no_cache;
  no_cache.enabled = false;
  StatusOr<apen::Dataset> data = apen::LoadDataset(cfg->data, no_cache);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users(), 50u);

  // A damaged file is rewritten.
  std::ofstream(path, std::ios::binary) << "garbage";
  written = MaterializeSyntheticData(*sa);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->size(), 1u);
  EXPECT_EQ(ReadAll(path), ReadAll(sb->datasets[0].path));
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
