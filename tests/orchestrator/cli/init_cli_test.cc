// `perflaw init` run as the real executable: the starter sweep it writes passes the real
// `perflaw sweep check`, its grid and max_seq_len follow the data, it never overwrites a file
// without --force, and bad input exits 2 writing nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace perflaw::testing {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Runs `perflaw ARGS` in `cwd`, with the dataset cache in `cache` (outside the folders checked
// for "nothing written").
CommandResult Perflaw(const std::string& cwd, const std::string& cache, const std::string& args) {
  return RunCommand("cd " + Quote(cwd) + " && PERFLAW_CACHE_DIR=" + Quote(cache) + " " +
                    Bin("perflaw") + " " + args);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

size_t CountLines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// Every line that sets a key says what it is in a comment.
void ExpectEveryKeyCommented(const std::string& yaml) {
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == '#') continue;
    EXPECT_NE(line.find(" # "), std::string::npos) << "no comment: " << line;
  }
}

// 20 users, user u with u + 5 interactions (6..25): 90 % of users have at most 23.
std::string TinySasrec() {
  std::string text;
  for (int u = 1; u <= 20; ++u)
    for (int i = 0; i < u + 5; ++i)
      text += std::to_string(u) + " " + std::to_string(1 + (u * 7 + i) % 40) + "\n";
  return text;
}

TEST(InitCliTest, WithoutDataWritesASweepThatSweepCheckAccepts) {
  TempDir dir, cache;
  CommandResult r = Perflaw(dir.path().string(), cache.path().string(), "init");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote sweep.yaml: 16 points"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("perflaw sweep check sweep.yaml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("perflaw run sweep.yaml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("estimated cost"), std::string::npos) << r.out;
  const std::string yaml = ReadFile(dir.File("sweep.yaml"));
  EXPECT_NE(yaml.find("synthetic:"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("model.layers: [1, 2, 3, 4]"), std::string::npos) << yaml;
  ExpectEveryKeyCommented(yaml);
  // Only the sweep file: no temp file left, no database, no work dir.
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{dir.File("sweep.yaml")});

  CommandResult check =
      Perflaw(dir.path().string(), cache.path().string(), "sweep check sweep.yaml");
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("sweep sweep: 16 points (grid 16"), std::string::npos) << check.out;
  EXPECT_EQ(check.out.find("warning"), std::string::npos) << check.out;
}

TEST(InitCliTest, WithDataSizesTheGridAndMaxSeqLenFromTheData) {
  TempDir dir, cache;
  fs::create_directory(dir.path() / "data");
  dir.Write("data/tiny.txt", TinySasrec());
  // DIR does not exist yet: init creates it, and data.path is written relative to it.
  CommandResult r = Perflaw(dir.path().string(), cache.path().string(),
                            "init --data data/tiny.txt --input-format sasrec study");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote study/tiny.yaml: 16 points"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_seq_len 30"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tiny.txt, 20 users, 40 items, 310 interactions"), std::string::npos)
      << r.out;
  const std::string yaml = ReadFile(dir.File("study/tiny.yaml"));
  EXPECT_NE(yaml.find("name: tiny "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("path: ../data/tiny.txt "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("format: sasrec "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("model.layers: [1, 2, 3, 4] "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("model.d_model: [16, 32, 64, 128] "), std::string::npos) << yaml;
  // The 18th of 20 sorted lengths (6..25) is 23, rounded up to 30.
  EXPECT_NE(yaml.find("data.max_seq_len: [30] "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("# 90% of users have at most 23 interactions, rounded up"), std::string::npos)
      << yaml;
  // 20 users: the smallest batch, 2 steps per epoch.
  EXPECT_NE(yaml.find("batch_size: 16 "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("2 steps per epoch over 20 users"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("protocol: full "), std::string::npos) << yaml;
  ExpectEveryKeyCommented(yaml);

  // The real sweep check, from another folder: the relative data path holds.
  CommandResult check = Perflaw(dir.path().string() + "/study", cache.path().string(),
                                "sweep check --format json tiny.yaml");
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("\"max_seq_len\": 30"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("\"grid_points\": 16"), std::string::npos) << check.out;
}

TEST(InitCliTest, RealDatasetGetsAnAtomicSweep) {
  if (!HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  TempDir dir, cache;
  CommandResult r = Perflaw(dir.path().string(), cache.path().string(),
                            "init --data " + Quote(SharedData("ml-100k.inter")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote ml-100k.yaml: 16 points"), std::string::npos) << r.out;
  const std::string yaml = ReadFile(dir.File("ml-100k.yaml"));
  EXPECT_NE(yaml.find("format: auto "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("under 1M interactions (100,000)"), std::string::npos) << yaml;
  // ml-100k's users are long (the median rates 65 films): L is capped at 200.
  EXPECT_NE(yaml.find("data.max_seq_len: [200] "), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("capped at 200"), std::string::npos) << yaml;
  CommandResult check =
      Perflaw(dir.path().string(), cache.path().string(), "sweep check ml-100k.yaml");
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST(InitCliTest, RefusesToOverwriteUnlessForced) {
  TempDir dir, cache;
  ASSERT_EQ(Perflaw(dir.path().string(), cache.path().string(), "init").exit_code, 0);
  const std::string written = ReadFile(dir.File("sweep.yaml"));
  dir.Write("sweep.yaml", "name: mine\n");
  CommandResult r = Perflaw(dir.path().string(), cache.path().string(), "init .");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(CountLines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("perflaw: error: sweep.yaml already exists (--force overwrites it)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(ReadFile(dir.File("sweep.yaml")), "name: mine\n");
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{dir.File("sweep.yaml")});

  r = Perflaw(dir.path().string(), cache.path().string(), "init --force");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir.File("sweep.yaml")), written);
  EXPECT_EQ(FilesUnder(dir.path()), std::vector<std::string>{dir.File("sweep.yaml")});
}

TEST(InitCliTest, BadInputExitsTwoWithOneLineAndWritesNothing) {
  struct Case {
    std::string args;    // after `perflaw init`
    std::string expect;  // in the one stderr line
  };
  const std::vector<Case> cases = {
      {"--data missing.txt", "--data: missing.txt: no such file"},
      {"--data garbage.txt", "garbage.txt"},
      {"--data data", "--data: data is a directory"},
      {"--data tiny.txt --input-format parquet", "--input-format must be one of"},
      {"--input-format sasrec", "--input-format needs --data FILE"},
      {"--name 'a b'", "--name must be letters, digits"},
      {"afile", "DIR: afile is not a directory"},
      {"--data tiny.txt afile/sub", "afile/sub"},
      {"--data tiny.txt --name taken .", "taken.yaml is a directory"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    TempDir dir, cache;
    dir.Write("tiny.txt", TinySasrec());
    dir.Write("garbage.txt", "this is\nnot a dataset at all\n");
    dir.Write("afile", "x");
    fs::create_directory(dir.path() / "data");
    fs::create_directory(dir.path() / "taken.yaml");
    const std::vector<std::string> before = FilesUnder(dir.path());
    CommandResult r = Perflaw(dir.path().string(), cache.path().string(), "init " + c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(CountLines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("perflaw: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(FilesUnder(dir.path()), before) << "a failed init must write nothing";
  }
}

}  // namespace
}  // namespace perflaw::testing
