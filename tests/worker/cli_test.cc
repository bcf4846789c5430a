// perflaw-worker as a command.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace perflaw::worker {
namespace {

using perflaw::testing::Bin;
using perflaw::testing::RunCommand;
using perflaw::testing::TempDir;

std::string Worker() { return Bin("perflaw-worker"); }

// A small SASRec-format file: 60 users cycling through 30 items.
void WriteData(const TempDir& dir) {
  std::string text;
  for (int u = 1; u <= 60; ++u)
    for (int j = 0; j < 6 + u % 5; ++j)
      text += std::to_string(u) + " " + std::to_string(1 + (u + j) % 30) + "\n";
  dir.Write("data.txt", text);
}

TEST(WorkerCliTest, TrainsAPointAndWritesTheResult) {
  TempDir dir;
  WriteData(dir);
  dir.Write("p.json", R"({"data": {"path": ")" + dir.File("data.txt") + R"(", "max_seq_len": 8},
    "model": {"d_model": 8, "layers": 1}, "train": {"epochs": 2, "batch_size": 16},
    "eval": {"protocol": "sampled:5", "ks": [1, 10]}, "device": "cpu", "threads": 1})");
  auto r = RunCommand(Worker() + " train --point " + dir.File("p.json") + " --out " +
                      dir.File("r.json") + " --cache-dir " + dir.File("cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir.File("r.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["eval_threads"], 1);
  // One line that says what each number is.
  EXPECT_EQ(r.out.find("ok: test HR@1 "), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  for (const char* part :
       {" NDCG@10 ", " MRR ", "(sampled:5, test split, ", " users, eval seed 0; ",
        " of 2, chosen on valid NDCG@10); ", " s training; evaluation on 1 thread (cpu)"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " in " << r.out;
  EXPECT_EQ(j["epochs"].size(), 2u);
  EXPECT_EQ(j["test"]["protocol"], "sampled:5");
  EXPECT_EQ(j["test"]["split"], "test");
  EXPECT_EQ(j["valid"]["protocol"], "sampled:5");
  EXPECT_TRUE(j["test"].contains("ndcg@10"));
  EXPECT_TRUE(j["test"].contains("hr@1"));
  EXPECT_TRUE(j["test"].contains("mrr"));
  EXPECT_EQ(j["config"]["model"]["d_model"], 8);
  EXPECT_EQ(j["config"]["train"]["optimizer"], "adam");  // defaults are filled in
  EXPECT_EQ(j["params"]["embedding"], 31 * 8 + 8 * 8);
  EXPECT_GT(j["tokens_seen"].get<uint64_t>(), 0u);
  EXPECT_GT(j["wall_seconds"].get<double>(), 0.0);
  EXPECT_EQ(j["dataset"]["users"], 60);
}

TEST(WorkerCliTest, MalformedPointIsAOneLineErrorAndWritesNothing) {
  TempDir dir;
  dir.Write("bad.json", "{\"data\": {\"path\": \"x\"},\n \"model\": {\"layer\": 2}}");
  auto r = RunCommand(Worker() + " train --point " + dir.File("bad.json") + " --out " +
                      dir.File("r.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw-worker: error: " + dir.File("bad.json") +
                       ": unknown key model.layer (did you mean model.layers?)\n");
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.json")));

  dir.Write("broken.json", "{\"data\": \n");
  r = RunCommand(Worker() + " train --point " + dir.File("broken.json") + " --out " +
                 dir.File("r.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("parse error at line 2"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.json")));

  r = RunCommand(Worker() + " train --point " + dir.File("missing.json") + " --out " +
                 dir.File("r.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot open the point file"), std::string::npos);
}

TEST(WorkerCliTest, AnUnwritableOutIsRefusedBeforeTraining) {
  TempDir dir;
  WriteData(dir);
  dir.Write("p.json", R"({"data": {"path": ")" + dir.File("data.txt") + R"("}, "device": "cpu"})");
  auto r = RunCommand(Worker() + " train --point " + dir.File("p.json") + " --out " +
                      dir.File("no/such/dir/r.json") + " --cache-dir " + dir.File("cache"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw-worker: error: --out " + dir.File("no/such/dir/r.json") +
                       ": cannot write there (No such file or directory)\n");
  // Nothing ran: no dataset cache was built, no temporary file is left.
  EXPECT_FALSE(std::filesystem::exists(dir.File("cache")));
  r = RunCommand(Worker() + " train --point " + dir.File("p.json") + " --out " +
                 dir.path().string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is a directory; name the result file"), std::string::npos) << r.err;
}

TEST(WorkerCliTest, MissingDatasetWritesAFailedResult) {
  TempDir dir;
  dir.Write("p.json", R"({"data": {"path": ")" + dir.File("nope.txt") + R"("}, "device": "cpu"})");
  auto r = RunCommand(Worker() + " train --point " + dir.File("p.json") + " --out " +
                      dir.File("r.json") + " --cache-dir " + dir.File("cache"));
  EXPECT_EQ(r.exit_code, 2);
  std::ifstream in(dir.File("r.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["user_error"], true);
  EXPECT_EQ(j["test"], nullptr);
}

TEST(WorkerCliTest, UsageErrorsExitTwo) {
  auto r = RunCommand(Worker() + " train --out x.json");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand(Worker() + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("train"), std::string::npos);
}

}  // namespace
}  // namespace perflaw::worker
