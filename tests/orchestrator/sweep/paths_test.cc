// Paths of a sweep: relative to the YAML file.
#include <gtest/gtest.h>

#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

// ---- Paths, synthetic data ----

TEST(SweepPaths, RelativeToTheYamlFile) {
  TempDir dir;
  fs::create_directories(dir.path() / "conf" / "data");
  dir.Write("conf/data/d.txt", SasrecText(20));
  dir.Write(
      "conf/s.yaml",
      "name: rel\ndata: {path: data/d.txt}\neval: {ks: [10]}\ndb: ../out/r.db\nwork_dir: w\n");
  StatusOr<Sweep> s = LoadSweep(dir.File("conf/s.yaml"), NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(CanonicalJson(s->points[0].config)["data"]["path"],
            (dir.path() / "conf/data/d.txt").string());
  EXPECT_EQ(s->db_path, (dir.path() / "out/r.db").string());
  EXPECT_EQ(s->work_dir, (dir.path() / "conf/w").string());
  EXPECT_EQ(s->yaml_text.substr(0, 9), "name: rel");
  // Defaults: NAME.db and NAME-work beside the YAML.
  dir.Write("conf/t.yaml", "data: {path: data/d.txt}\neval: {ks: [10]}\n");
  StatusOr<Sweep> t = LoadSweep(dir.File("conf/t.yaml"), NoCache());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "t");
  EXPECT_EQ(t->db_path, (dir.path() / "conf/t.db").string());
  EXPECT_EQ(t->work_dir, (dir.path() / "conf/t-work").string());
  EXPECT_FALSE(fs::exists(dir.path() / "conf/t.db"));  // parsing writes nothing
  EXPECT_FALSE(LoadSweep(dir.File("conf/missing.yaml")).ok());
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
