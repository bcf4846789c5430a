// A real `perflaw run` through mpirun: 1 orchestrator + 2 perflaw-worker ranks on a tiny synthetic
// sweep, then the same sweep again (every point reused), a stop by SIGTERM and `perflaw resume`.
// Label `mpi` (needs perflaw-worker next to perflaw); not part of the unit-test binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/store/results_db.h"
#include "orchestrator/store/sqlite_util.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"

namespace perflaw::orchestrator {
namespace {

using perflaw::testing::CommandResult;
using perflaw::testing::PerflawIn;
using perflaw::testing::TempDir;
namespace fs = std::filesystem;

constexpr const char kTiny[] = R"(name: tiny
data:
  synthetic: {users: 120, items: 60, mean_length: 10, predictability: 0.7, seed: 3}
model: {type: sasrec, heads: 1, dropout: 0.1}
train: {epochs: 1, batch_size: 64}
eval: {protocol: "sampled:20", ks: [10]}
grid:
  model.layers: [1, 2]
  model.d_model: [8, 16]
resources: {ranks_per_point: 1, workers: 2, device: cpu, threads: 1}
policy: {max_attempts: 2, point_timeout: 300, heartbeat_interval: 2, heartbeat_timeout: 30}
law: {metrics: [HR@10], forms: [scaling], group_by: []}
db: out/r.db
work_dir: out/work
)";

// Long enough points that a SIGTERM a few seconds in finds some running.
constexpr const char kSlow[] = R"(name: slow
data:
  synthetic: {users: 3000, items: 300, mean_length: 40, predictability: 0.7, seed: 3}
model: {type: sasrec, heads: 1}
train: {epochs: 10, batch_size: 64}
eval: {protocol: "sampled:20", ks: [10]}
grid:
  model.layers: [1, 2]
  model.d_model: [16, 32]
resources: {ranks_per_point: 1, workers: 2, device: cpu, threads: 1}
policy: {max_attempts: 2, point_timeout: 600, heartbeat_interval: 2, heartbeat_timeout: 30}
law: {enabled: false}
db: out/slow.db
work_dir: out/slow-work
)";

int64_t Count(const std::string& db_path, const std::string& sql) {
  return perflaw::testing::QueryInt(db_path, sql);
}

void ExpectIntact(const std::string& db_path) {
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Status st = (*db)->IntegrityCheck();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(RunMpiTest, RunsATinySweepThenReusesIt) {
  TempDir dir;
  dir.Write("tiny.yaml", kTiny);
  CommandResult r = PerflawIn(dir, "run tiny.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string db = dir.File("out/r.db");
  EXPECT_EQ(Count(db, "SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 4);
  EXPECT_EQ(Count(db,
                  "SELECT count(*) FROM attempts WHERE exit_reason = 'completed' AND "
                  "json_array_length(hosts) = 1 AND ranks IN ('[1]', '[2]')"),
            4);
  EXPECT_EQ(
      Count(
          db,
          "SELECT count(*) FROM result_metrics WHERE split = 'test' AND metric = 'hr' AND k = 10"),
      4);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM fits WHERE form = 'scaling'"), 1);
  EXPECT_NE(r.out.find("law: fitted"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("points 4/4 done"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(db + ".lock"));

  CommandResult again = PerflawIn(dir, "run tiny.yaml --np 1");
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("4 completed (4 from earlier runs, not rerun)"), std::string::npos)
      << again.out;
  EXPECT_EQ(Count(db, "SELECT count(*) FROM attempts"), 4);
  ExpectIntact(db);
}

// A dataset file, the database and the work_dir copied elsewhere, then moved: the same sweep run
// there reuses every completed point (ids hash the data's content, not its path).
TEST(RunMpiTest, ACopiedOrMovedStudyReusesEveryCompletedPoint) {
  std::string data;  // sasrec format: "user item" lines in time order
  for (int u = 0; u < 150; ++u) {
    for (int j = 0; j < 8 + u % 7; ++j) {
      data += std::to_string(u) + " " + std::to_string((u * 7 + j * (1 + u % 3)) % 60) + "\n";
    }
  }
  auto sweep = [](const std::string& data_dir, const std::string& out) {
    return "name: moved\ndata: {path: " + data_dir +
           "/seq.txt}\nmodel: {type: sasrec, heads: 1}\ntrain: {epochs: 1, batch_size: 64}\n"
           "eval: {protocol: \"sampled:20\", ks: [10]}\ngrid:\n  model.layers: [1, 2]\n"
           "resources: {ranks_per_point: 1, workers: 2, device: cpu, threads: 1}\n"
           "law: {enabled: false}\ndb: " +
           out + "/r.db\nwork_dir: " + out + "/work\n";
  };
  TempDir first;
  fs::create_directories(first.path() / "data");
  first.Write("data/seq.txt", data);
  first.Write("s.yaml", sweep("data", "out"));
  CommandResult r = PerflawIn(first, "run s.yaml --np 2");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  TempDir copy;
  fs::copy(first.path(), copy.path(), fs::copy_options::recursive);
  // The original is gone: resuming the copy reads the copy's dataset and work_dir.
  fs::remove_all(first.path() / "data");
  fs::remove_all(first.path() / "out");
  CommandResult resumed = PerflawIn(copy, "resume out/r.db --np 2");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_FALSE(fs::exists(first.path() / "out"));
  CommandResult again = PerflawIn(copy, "run s.yaml --np 2");
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("2 completed (2 from earlier runs, not rerun)"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("2 stored points had other locations"), std::string::npos) << again.out;
  EXPECT_EQ(Count(copy.File("out/r.db"), "SELECT count(*) FROM attempts"), 2);

  fs::rename(copy.path() / "data", copy.path() / "moved-data");
  fs::rename(copy.path() / "out", copy.path() / "moved-out");
  copy.Write("s.yaml", sweep("moved-data", "moved-out"));
  CommandResult moved = PerflawIn(copy, "run s.yaml --np 2");
  ASSERT_EQ(moved.exit_code, 0) << moved.out << moved.err;
  EXPECT_NE(moved.out.find("2 completed (2 from earlier runs, not rerun)"), std::string::npos)
      << moved.out;
  EXPECT_EQ(Count(copy.File("moved-out/r.db"), "SELECT count(*) FROM attempts"), 2);
  ExpectIntact(copy.File("moved-out/r.db"));
}

// configs/quickstart.yaml with `edits` (old text -> new text) applied; each must match once.
std::string EditedQuickstart(const std::vector<std::pair<std::string, std::string>>& edits) {
  std::ifstream in(std::string(PERFLAW_SOURCE_DIR) + "/configs/quickstart.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] : edits) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "configs/quickstart.yaml no longer has: " << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}

TEST(RunMpiTest, QuickstartWithAdaptiveRoundsRecordsTheRounds) {
  // The quickstart's data and model from a 3 x 3 corner of its grid, fewer epochs, one adaptive
  // round of two points.
  TempDir dir;
  fs::create_directories(dir.path() / "configs");  // its db: and work_dir: are ../out/quickstart
  dir.Write("configs/q.yaml",
            EditedQuickstart({{"model.layers: [1, 2, 3, 4]", "model.layers: [1, 2, 3]"},
                              {"model.d_model: [8, 16, 32, 64, 128]", "model.d_model: [8, 16, 32]"},
                              {"epochs: 40, patience: 5", "epochs: 4, patience: 5"},
                              {"heartbeat_timeout: 60}",
                               "heartbeat_timeout: 60,\n         adaptive: {rounds: 1, "
                               "points_per_round: 2}}"}}));
  CommandResult r = PerflawIn(dir, "run configs/q.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string db = dir.File("out/quickstart/results.db");
  EXPECT_EQ(Count(db, "SELECT count(*) FROM rounds WHERE round = 1 AND final = 0"), 1) << r.err;
  EXPECT_EQ(Count(db, "SELECT count(*) FROM round_points WHERE round = 1"), 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM rounds WHERE round = 2 AND final = 1"), 1);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 11);
  EXPECT_NE(r.err.find("adaptive round 1 of 1 (HR@10, performance form)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("adaptive: 1 round(s), 2 point(s) added; ended: "), std::string::npos)
      << r.out;
  // The law at the end sees the added points.
  EXPECT_NE(r.out.find("| 11 points"), std::string::npos) << r.out;

  CommandResult status = PerflawIn(dir, "status out/quickstart/results.db");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("adaptive rounds (policy.adaptive; HR@10, performance form):\n"
                            "  round 1: added 2 point(s)"),
            std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("  round 2: end: "), std::string::npos) << status.out;
  ExpectIntact(db);
}

TEST(RunMpiTest, SigtermStopsWithCheckpointsAndResumeFinishes) {
  TempDir dir;
  dir.Write("slow.yaml", kSlow);
  // SIGTERM to perflaw run, which forwards it to mpirun and so to every rank.
  CommandResult r = PerflawIn(dir, "run slow.yaml & P=$!; sleep 8; kill -TERM $P; wait $P");
  const std::string db = dir.File("out/slow.db");
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  // A stop is an outcome, not a crash: mpirun must not report the job as failed.
  EXPECT_EQ(r.err.find("non-zero"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(db + ".exit-code"));
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sweeps WHERE status = 'INTERRUPTED'"), 1);
  EXPECT_GE(Count(db,
                  "SELECT count(*) FROM attempts WHERE exit_reason = 'preempted' AND "
                  "error LIKE '%checkpoint written%'"),
            1)
      << r.err;
  EXPECT_EQ(Count(db, "SELECT count(*) FROM attempts WHERE ended_at IS NULL"), 0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM points WHERE state = 'RUNNING'"), 0);
  const int64_t completed = Count(db, "SELECT count(*) FROM points WHERE state = 'COMPLETED'");
  ExpectIntact(db);
  // The summary says what is left; status of the stopped sweep shows no ETA.
  EXPECT_NE(r.out.find("pending; to finish them: "), std::string::npos) << r.out;
  CommandResult status = PerflawIn(dir, "status out/slow.db");
  EXPECT_NE(status.out.find("ETA: none (sweep INTERRUPTED: nothing runs)"), std::string::npos)
      << status.out;

  CommandResult resumed = PerflawIn(dir, "resume out/slow.db");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(Count(db, "SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 4);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM results"), 4);
  // Completed points were not run again: one completed attempt each.
  EXPECT_EQ(Count(db, "SELECT count(*) FROM attempts WHERE exit_reason = 'completed'"), 4);
  // Each interrupted point continued from its checkpoint: its completed attempt reports epochs from
  // the one after the last epoch its preempted attempt finished.
  const std::string pairs =
      "FROM attempts p JOIN attempts c ON c.point = p.point AND c.exit_reason = 'completed' "
      "WHERE p.exit_reason = 'preempted' AND "
      "(SELECT max(epoch) FROM epoch_metrics WHERE attempt = p.id) IS NOT NULL";
  EXPECT_GE(Count(db, "SELECT count(*) " + pairs), 1);
  EXPECT_EQ(Count(db, "SELECT count(*) " + pairs +
                          " AND (SELECT min(epoch) FROM epoch_metrics WHERE attempt = c.id) != "
                          "(SELECT max(epoch) FROM epoch_metrics WHERE attempt = p.id) + 1"),
            0);
  EXPECT_NE(resumed.out.find("4 completed (" + std::to_string(completed) + " from earlier runs"),
            std::string::npos)
      << resumed.out;
  ExpectIntact(db);
}

}  // namespace
}  // namespace perflaw::orchestrator
