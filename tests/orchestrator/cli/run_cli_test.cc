// perflaw run / resume / orchestrate as a user calls them: bad input is one line, exit code 2,
// nothing written and no mpirun started. (A real MPI run: tests/orchestrator/run/run_mpi.cc, label
// mpi.)
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/run/runner.h"
#include "orchestrator/store/results_db.h"
#include "tests/test_util.h"

namespace perflaw::orchestrator {
namespace {

using perflaw::testing::CommandResult;
using perflaw::testing::PerflawIn;
using perflaw::testing::RunCommand;
using perflaw::testing::TempDir;
namespace fs = std::filesystem;

constexpr const char kSweep[] = R"(name: cli
data:
  synthetic: {users: 50, items: 30, mean_length: 8, predictability: 0.5, seed: 1}
model: {type: sasrec, heads: 1}
train: {epochs: 1}
eval: {protocol: "sampled:10", ks: [10]}
grid:
  model.layers: [1, 2]
resources: {ranks_per_point: 2, workers: 2}
db: out/r.db
work_dir: out/work
)";

// kSweep with its text `from` replaced by `to`.
std::string SweepWith(const std::string& from, const std::string& to) {
  std::string sweep = kSweep;
  sweep.replace(sweep.find(from), from.size(), to);
  return sweep;
}

// A results database at `db` that has recorded kSweep and nothing else.
void CreateDbWithTheSweep(const std::string& db) {
  StatusOr<std::unique_ptr<ResultsDb>> w = ResultsDb::OpenForWriting(db);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->RecordSweep(std::string(kSweep), "cli").ok());
}

class RunCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.Write("sweep.yaml", kSweep); }

  // Runs perflaw in the temp dir; expects exit code 2, one error line and nothing written.
  void ExpectRejected(const std::string& args, const std::string& message) {
    CommandResult r = PerflawIn(dir_, args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.err.find("perflaw: error: "), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_FALSE(fs::exists(dir_.File("out"))) << args << " wrote something";
  }

  TempDir dir_;
};

TEST_F(RunCliTest, BadSweepIsRejectedBeforeAnythingStarts) {
  dir_.Write("bad.yaml", std::string(kSweep) + "modle: {}\n");
  ExpectRejected("run bad.yaml", "bad.yaml:12:1: unknown key modle (did you mean model?)");
  ExpectRejected("run missing.yaml", "missing.yaml");
  dir_.Write("heads.yaml", SweepWith("heads: 1", "heads: 3"));
  ExpectRejected("run heads.yaml", "must divide");
}

TEST_F(RunCliTest, WorkerRankCountsAreChecked) {
  // ranks_per_point is 2: --np must be a positive multiple of it (CLI11 would wrap -1 if unsigned).
  ExpectRejected("run sweep.yaml --np 3", "--np must be a positive multiple of");
  ExpectRejected("run sweep.yaml --np 0", "got 0");
  ExpectRejected("run sweep.yaml --np -2", "got -2");
  dir_.Write("odd.yaml", SweepWith("workers: 2", "workers: 3"));
  ExpectRejected("run odd.yaml", "resources.workers (3) must be a multiple");
  ExpectRejected("run sweep.yaml --progress loud", "--progress");
}

TEST_F(RunCliTest, HostfilesAreCheckedBeforeMpiStarts) {
  ExpectRejected("run sweep.yaml --hostfile nowhere", "--hostfile nowhere: cannot read it");
  dir_.Write("small", "127.0.0.2 slots=2\n127.0.0.3 slots=1\n");
  // 4 workers in groups of 2 need two nodes of 2 slots; spanning would fit 3 slots, not 4.
  ExpectRejected("run sweep.yaml --hostfile small --np 4", "hold 2 worker rank(s)");
  ExpectRejected("run sweep.yaml --hostfile small --np 4 --span-nodes", "hold 3 worker rank(s)");
  dir_.Write("thin", "127.0.0.2 slots=1\n127.0.0.3 slots=1\n");
  ExpectRejected("run sweep.yaml --hostfile thin", "larger than any node");
  dir_.Write("bad", "127.0.0.2 slots=two\n");
  ExpectRejected("run sweep.yaml --hostfile bad", "bad:1: expected slots=N");
  ExpectRejected("run sweep.yaml --span-nodes", "--span-nodes goes with --hostfile");
  ExpectRejected("resume nowhere.db --hostfile small", "nowhere.db");
}

TEST_F(RunCliTest, ADatabaseBeingWrittenIsRefused) {
  fs::create_directories(dir_.File("locked"));
  const std::string db = dir_.File("locked/r.db");
  StatusOr<std::unique_ptr<WriterLock>> lock = WriterLock::Acquire(db);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  CommandResult r = PerflawIn(dir_, "run sweep.yaml --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is being written by another perflaw run (pid "), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(db));
  EXPECT_FALSE(fs::exists(dir_.File("out")));
}

TEST_F(RunCliTest, OneWriterWhateverThePathToTheDatabase) {
  fs::create_directories(dir_.File("real"));
  const std::string db = dir_.File("real/r.db");
  ASSERT_TRUE(ResultsDb::OpenForWriting(db).ok());
  fs::create_symlink(db, dir_.File("link.db"));
  fs::create_directory_symlink(dir_.File("real"), dir_.File("alias"));
  fs::create_hard_link(db, dir_.File("hard.db"));
  StatusOr<std::unique_ptr<WriterLock>> lock = WriterLock::Acquire(db);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  const std::string before = RunCommand("md5sum < " + db).out;
  for (const std::string& path : {dir_.File("link.db"), dir_.File("alias/r.db"),
                                  dir_.File("real/../real/r.db"), dir_.File("hard.db")}) {
    CommandResult r = PerflawIn(dir_, "run sweep.yaml --db " + path);
    EXPECT_EQ(r.exit_code, 2) << path << " " << r.err;
    EXPECT_NE(r.err.find("is being written by another perflaw run"), std::string::npos)
        << path << " " << r.err;
  }
  // The library's own check agrees, and the file is as it was.
  EXPECT_FALSE(WriterLock::CheckFree(dir_.File("hard.db")).ok());
  EXPECT_FALSE(WriterLock::Acquire(dir_.File("link.db")).ok());
  EXPECT_EQ(RunCommand("md5sum < " + db).out, before);
  lock->reset();
  EXPECT_TRUE(WriterLock::CheckFree(dir_.File("hard.db")).ok());
  EXPECT_FALSE(fs::exists(dir_.File("out")));
}

TEST_F(RunCliTest, LateBadInputIsFoundBeforeMpiStarts) {
  // db: naming a directory, given in the sweep or as --db.
  fs::create_directories(dir_.File("dbdir"));
  dir_.Write("dirdb.yaml", SweepWith("db: out/r.db", "db: dbdir"));
  ExpectRejected("run dirdb.yaml", "dirdb.yaml:10:5: db: " + dir_.File("dbdir") +
                                       " is a directory; name the database file");
  ExpectRejected("run sweep.yaml --db dbdir", dir_.File("dbdir") + " is a directory");
  // A mistyped command gets a suggestion; a control byte in a message is shown escaped.
  ExpectRejected("statuss x.db", "unknown command 'statuss' (did you mean 'status'?)");
  dir_.Write("ctl.yaml", "name: \"a\x1b[31m\"\n");
  ExpectRejected("sweep check ctl.yaml", "got \"a\\x1b[31m\"");
}

TEST_F(RunCliTest, ADatabaseThatFailsItsIntegrityCheckIsNotWrittenInto) {
  const std::string db = dir_.File("bad.db");
  ASSERT_NO_FATAL_FAILURE(CreateDbWithTheSweep(db));
  // An index whose definition no longer matches its b-tree: every query still runs, PRAGMA
  // integrity_check reports the rows missing from it.
  CommandResult corrupt = RunCommand(
      "sqlite3 " + db +
      " \"INSERT INTO points (id, config, created_at, updated_at) VALUES ('p', '{}', 1, 1); "
      "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE INDEX points_state ON "
      "points (created_at)' WHERE name = 'points_state';\"");
  ASSERT_EQ(corrupt.exit_code, 0) << corrupt.err;
  const std::string before = RunCommand("md5sum < " + db).out;
  for (const std::string& args : {"resume " + db, "run sweep.yaml --db " + db}) {
    CommandResult r = PerflawIn(dir_, args);
    EXPECT_EQ(r.exit_code, 2) << args << " " << r.err;
    EXPECT_NE(r.err.find("integrity_check"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("perflaw will not write into it"), std::string::npos) << r.err;
  }
  EXPECT_EQ(RunCommand("md5sum < " + db).out, before);
  EXPECT_FALSE(fs::exists(dir_.File("out")));
}

// Every exit 2 of run/resume on an existing database leaves its folder byte-for-byte as it was:
// no sweep row, no -wal/-shm/lock file.
TEST_F(RunCliTest, EveryBadInputLeavesAnExistingDatabaseAsItWas) {
  fs::create_directories(dir_.File("keep"));
  const std::string db = dir_.File("keep/r.db");
  ASSERT_NO_FATAL_FAILURE(CreateDbWithTheSweep(db));
  auto snapshot = [&] {
    std::string listing;
    for (const auto& entry : fs::directory_iterator(dir_.File("keep")))
      listing += entry.path().filename().string() + " ";
    return listing + RunCommand("md5sum < " + db).out;
  };
  const std::string before = snapshot();
  dir_.Write("heads.yaml", SweepWith("heads: 1", "heads: 3"));
  dir_.Write("odd.yaml", SweepWith("workers: 2", "workers: 3"));
  dir_.Write("typo.yaml", std::string(kSweep) + "modle: {}\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run typo.yaml --db " + db, "unknown key modle"},
      {"run heads.yaml --db " + db, "must divide"},
      {"run odd.yaml --db " + db, "resources.workers (3) must be a multiple"},
      {"run sweep.yaml --db " + db + " --np 3", "--np must be a positive multiple of"},
      {"run sweep.yaml --db " + db + " --np 0", "got 0"},
      {"run sweep.yaml --db " + db + " --np 1000000", "--np"},
      {"run sweep.yaml --db " + db + " --progress loud", "--progress"},
      {"resume " + db + " --np 3", "--np must be a positive multiple of"},
      {"resume " + db + " --progress loud", "--progress"},
  };
  for (const auto& [args, message] : cases) {
    CommandResult r = PerflawIn(dir_, args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(snapshot(), before) << args << " changed the database's folder";
  }
  EXPECT_FALSE(fs::exists(dir_.File("out")));
}

TEST_F(RunCliTest, ResumeNeedsAnExistingDatabase) {
  ExpectRejected("resume nothing.db", "no such results database");
  EXPECT_FALSE(fs::exists(dir_.File("nothing.db")));
}

TEST_F(RunCliTest, OrchestrateChecksItsArgumentsBeforeMpi) {
  ExpectRejected("orchestrate", "give SWEEP.yaml or --resume DB");
  ExpectRejected("orchestrate sweep.yaml --resume x.db", "not both");
  ExpectRejected("orchestrate sweep.yaml --retry-failed", "--retry-failed goes with --resume");
  ExpectRejected("orchestrate --resume x.db --db y.db", "--db goes with SWEEP.yaml");
}

}  // namespace
}  // namespace perflaw::orchestrator
