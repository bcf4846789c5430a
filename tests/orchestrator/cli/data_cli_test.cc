// `perflaw data ...` run as the real executable: bad input (exit 2, one stderr line naming
// file:line or the option, nothing written) and the happy paths of stats, prepare and synth.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace perflaw::testing {
namespace {

namespace fs = std::filesystem;

std::string Perflaw() { return Bin("perflaw"); }

size_t CountLines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every file under `dir`, recursively (to check that a failed command wrote nothing).
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct BadCase {
  std::string name;
  std::string file;     // written to <dir>/<file> when `content` is not null
  const char* content;  // nullptr: no input file
  std::string args;     // after `perflaw`, with {dir} replaced by the temp dir
  std::string expect;   // must occur in the single stderr line
};

void RunBadCase(const BadCase& c) {
  SCOPED_TRACE(c.name);
  TempDir dir;
  if (c.content) dir.Write(c.file, c.content);
  std::string args = c.args;
  for (size_t pos; (pos = args.find("{dir}")) != std::string::npos;) {
    args.replace(pos, 5, dir.path().string());
  }
  const std::vector<std::string> before = FilesUnder(dir.path());
  // The cache goes into the temp dir, so "nothing written" covers it too (synth has no cache).
  const bool synth = c.args.rfind("data synth", 0) == 0;
  CommandResult r =
      RunCommand(Perflaw() + " " + args + (synth ? "" : " --cache-dir " + dir.File("cache")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(CountLines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("perflaw: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(c.expect), std::string::npos) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(FilesUnder(dir.path()), before) << "a failed command must write nothing";
}

TEST(DataCliBadInputTest, EachCaseExitsTwoWithOneLineAndWritesNothing) {
  const std::vector<BadCase> cases = {
      {"malformed line", "bad.txt", "1 2\n1 2 3\n", "data stats {dir}/bad.txt",
       "bad.txt:2: expected 2 fields"},
      {"non-numeric id", "ids.txt", "1 2\n1 3\nx 4\n", "data stats {dir}/ids.txt",
       "ids.txt:3: non-numeric user id 'x'"},
      {"unknown column", "u.csv", "user,item_id,timestamp\n1,2,3\n",
       "data stats {dir}/u.csv --user-column uid", "u.csv:1: unknown column 'uid'"},
      {"default column missing from header", "d.csv", "user,item,timestamp\n1,2,3\n",
       "data stats {dir}/d.csv", "d.csv:1: unknown column 'user_id'"},
      {"missing field in a row", "m.csv", "user_id,item_id,timestamp\n1,2,3\n1,3\n",
       "data stats {dir}/m.csv", "m.csv:3: expected 3 fields, got 2"},
      {"non-numeric timestamp", "t.csv", "user_id,item_id,timestamp\n1,2,noon\n",
       "data stats {dir}/t.csv", "t.csv:2: non-numeric timestamp 'noon'"},
      {"empty file", "empty.txt", "", "data stats {dir}/empty.txt", "empty.txt: empty file"},
      {"blank lines only", "blank.txt", "\n\n  \n", "data prepare {dir}/blank.txt",
       "blank.txt: empty file"},
      {"header-only file", "h.inter", "user_id:token\titem_id:token\ttimestamp:float\n",
       "data stats {dir}/h.inter", "h.inter: no interactions after the header"},
      {"missing file", "", nullptr, "data stats {dir}/nope.txt", "nope.txt: cannot open"},
      {"directory as dataset", "", nullptr, "data stats {dir}", "is a directory"},
      {"movielens with 3 fields", "r.dat", "1::2::5::10\n1::3::4\n", "data stats {dir}/r.dat",
       "r.dat:2: expected 4 fields"},
      {"undetectable format", "w.txt", "hello world again\n", "data stats {dir}/w.txt",
       "w.txt:1: cannot detect"},
      {"--m 0", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --m 0", "--m"},
      {"--m not a number", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --m abc", "--m"},
      {"negative --r", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --r -1", "--r"},
      {"--user-fraction 0", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --user-fraction 0",
       "--user-fraction must be in (0, 1]"},
      {"--user-fraction 1.5", "ok.txt", "1 2\n1 3\n",
       "data prepare {dir}/ok.txt --user-fraction 1.5", "--user-fraction must be in (0, 1]"},
      {"bad --format", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --format xml",
       "--format must be table, json or csv"},
      {"bad --input-format", "ok.txt", "1 2\n1 3\n",
       "data stats {dir}/ok.txt --input-format parquet", "--input-format must be one of"},
      {"bad --delimiter", "ok.csv", "user_id,item_id\n1,2\n",
       "data stats {dir}/ok.csv --delimiter ab", "--delimiter must be one character"},
      {"--min-rating on sasrec", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --min-rating 3",
       "min_rating"},
      {"--max-seq-len negative", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --max-seq-len -5",
       "--max-seq-len"},
      {"unknown flag", "ok.txt", "1 2\n1 3\n", "data stats {dir}/ok.txt --bogus 1", "--bogus"},
      {"corrupt binary input", "c.bin", "PFLWDATA but not really a dataset file at all.......",
       "data stats {dir}/c.bin", "c.bin: corrupt binary dataset"},
      {"k-core removes everything", "k.txt", "1 1\n1 2\n2 2\n2 3\n",
       "data stats {dir}/k.txt --k-core 2", "no interactions left"},
      {"synth --predictability 1.5", "", nullptr,
       "data synth --out {dir}/s.txt --predictability 1.5", "--predictability must be in [0, 1]"},
      {"synth --users 0", "", nullptr, "data synth --out {dir}/s.bin --users 0",
       "--users must be at least 1"},
      {"synth --mean-length below min", "", nullptr, "data synth --out {dir}/s.txt --mean-length 1",
       "--mean-length"},
      {"synth --markov-out-degree > items", "", nullptr,
       "data synth --out {dir}/s.txt --items 5 --markov-out-degree 6", "--markov-out-degree"},
      {"synth bad --out-format", "", nullptr, "data synth --out {dir}/s.txt --out-format parquet",
       "--out-format must be sasrec or binary"},
      {"synth --out in a missing directory", "", nullptr, "data synth --out {dir}/no/s.txt",
       "--out: directory"},
      {"synth --interactions and --mean-length", "", nullptr,
       "data synth --out {dir}/s.txt --interactions 100 --mean-length 5", "--interactions"},
      {"synth without --out", "", nullptr, "data synth --users 5", "--out"},
  };
  ASSERT_GE(cases.size(), 12u);
  for (const BadCase& c : cases) RunBadCase(c);
}

// A small dataset with known counts: 4 users, 5 items, 14 interactions.
const char* kSmall =
    "1 1\n1 2\n1 3\n1 4\n"
    "2 2\n2 3\n2 4\n2 5\n"
    "3 1\n3 3\n3 5\n"
    "4 2\n4 4\n4 5\n";

TEST(DataCliTest, StatsTableHasOneRowPerLength) {
  TempDir dir;
  dir.Write("s.txt", kSmall);
  CommandResult r = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") +
                               " --max-seq-len 0,2 --max-seq-len 3 --no-cache");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("users          4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("items          5\n"), std::string::npos);
  EXPECT_NE(r.out.find("interactions   14\n"), std::string::npos);
  EXPECT_NE(r.out.find("median_length  3.5\n"), std::string::npos);
  std::vector<std::string> lines = Lines(r.out);
  auto header = std::find_if(lines.begin(), lines.end(),
                             [](const std::string& l) { return l.rfind("L ", 0) == 0; });
  ASSERT_NE(header, lines.end()) << r.out;
  for (const char* col : {"apen_mean", "apen_weighted_mean", "sampen_mean", "lz_bits_mean",
                          "shannon_bits", "zlib_ratio", "d_prime", "tokens", "transition_bits",
                          "transition_plugin_bits", "transition_mi_bits"}) {
    EXPECT_NE(header->find(col), std::string::npos) << col;
  }
  ASSERT_EQ(lines.end() - header, 4) << r.out;
  EXPECT_EQ(header[1].rfind("all ", 0), 0u);
  EXPECT_EQ(header[2].rfind("2 ", 0), 0u);
  EXPECT_EQ(header[3].rfind("3 ", 0), 0u);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(DataCliTest, StatsJsonAndCsvShapes) {
  TempDir dir;
  dir.Write("s.txt", kSmall);
  CommandResult j = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") +
                               " --format json --max-seq-len 0,2 --m 1 --r 0.5 --no-cache");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  nlohmann::json out = nlohmann::json::parse(j.out);
  EXPECT_EQ(out["dataset"]["users"], 4);
  EXPECT_EQ(out["dataset"]["items"], 5);
  EXPECT_EQ(out["dataset"]["interactions"], 14);
  EXPECT_DOUBLE_EQ(out["dataset"]["mean_length"].get<double>(), 3.5);
  EXPECT_DOUBLE_EQ(out["dataset"]["density"].get<double>(), 14.0 / 20.0);
  ASSERT_EQ(out["quality"].size(), 2u);
  EXPECT_EQ(out["quality"][0]["max_seq_len"], 0);
  EXPECT_EQ(out["quality"][0]["max_seq_len_label"], "all");
  EXPECT_EQ(out["quality"][0]["tokens"], 14);
  EXPECT_EQ(out["quality"][1]["tokens"], 8);
  EXPECT_EQ(out["quality"][1]["m"], 1);
  EXPECT_DOUBLE_EQ(out["quality"][1]["r"].get<double>(), 0.5);
  for (const char* key : {"apen", "sampen", "lz_bits"}) {
    EXPECT_TRUE(out["quality"][0][key].contains("weighted_mean")) << key;
  }
  // Pairs (1,2) (2,3) (3,4) (2,3) (3,4) (4,5) (1,3) (3,5) (2,4) (4,5): contexts 1, 2, 3, 4.
  const nlohmann::json& t = out["quality"][0]["transition"];
  EXPECT_EQ(t["pairs"], 10);
  EXPECT_EQ(t["contexts"], 4);
  EXPECT_EQ(t["distinct_pairs"], 7);
  EXPECT_EQ(t["singleton_pairs"], 4);
  EXPECT_GT(t["bits"].get<double>(), t["conditional_bits"]["plugin"].get<double>());
  EXPECT_EQ(out["quality"][1]["transition"]["pairs"], 4);  // L = 2: one pair per user

  CommandResult c = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") +
                               " --format csv --max-seq-len 1,2,3 --no-cache");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::vector<std::string> lines = Lines(c.out);
  ASSERT_EQ(lines.size(), 4u) << c.out;
  auto fields = [](const std::string& l) { return std::count(l.begin(), l.end(), ',') + 1; };
  for (const auto& l : lines) EXPECT_EQ(fields(l), fields(lines[0])) << l;
  EXPECT_EQ(lines[0].rfind("dataset,users,items,interactions", 0), 0u);
  EXPECT_NE(lines[1].find(",4,5,14,"), std::string::npos) << lines[1];
}

TEST(DataCliTest, StatsStoresRowsInTheResultsDatabase) {
  TempDir dir;
  dir.Write("s.txt", kSmall);
  const std::string db = dir.File("r.db");
  CommandResult r = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") +
                               " --max-seq-len 0,2 --no-cache --db " + db);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stored 2 row(s) in dataset_stats of " + db), std::string::npos) << r.err;
  CommandResult q = RunCommand(Perflaw() + " sql " + db +
                               " \"SELECT max_seq_len, tokens, transition_pairs, "
                               "transition_bits > transition_plugin_bits AS corrected FROM "
                               "dataset_stats ORDER BY max_seq_len\" --format json");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  nlohmann::json rows = nlohmann::json::parse(q.out);
  ASSERT_EQ(rows.size(), 2u) << q.out;
  EXPECT_EQ(rows[0]["tokens"], 14);
  EXPECT_EQ(rows[0]["transition_pairs"], 10);
  EXPECT_EQ(rows[0]["corrected"], 1);
  EXPECT_EQ(rows[1]["transition_pairs"], 4);
  CommandResult bad = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") +
                                 " --no-cache --measures apen --db " + db);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--db stores every measure"), std::string::npos) << bad.err;
}

TEST(DataCliTest, PrepareThenStatsReuseTheCache) {
  TempDir dir;
  dir.Write("s.txt", kSmall);
  const std::string cache = " --cache-dir " + dir.File("cache");
  CommandResult p = RunCommand(Perflaw() + " data prepare " + dir.File("s.txt") + cache);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("cache         built " + dir.File("cache")), std::string::npos) << p.out;
  ASSERT_EQ(FilesUnder(dir.File("cache")).size(), 1u);
  CommandResult again = RunCommand(Perflaw() + " data prepare " + dir.File("s.txt") + cache);
  EXPECT_NE(again.out.find("cache         hit "), std::string::npos) << again.out;
  CommandResult s = RunCommand(Perflaw() + " data stats " + dir.File("s.txt") + cache +
                               " --format json --user-fraction 0.5");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out)["dataset"]["cache"], "hit");
  EXPECT_EQ(FilesUnder(dir.File("cache")).size(), 1u);
  // A changed source is detected and the cache rebuilt in place.
  dir.Write("s.txt", std::string(kSmall) + "5 1\n5 2\n");
  CommandResult stale = RunCommand(Perflaw() + " data prepare " + dir.File("s.txt") + cache);
  EXPECT_NE(stale.out.find("rebuilt (stale)"), std::string::npos) << stale.out;
  EXPECT_NE(stale.out.find("users         5"), std::string::npos) << stale.out;
  EXPECT_EQ(FilesUnder(dir.File("cache")).size(), 1u);
}

TEST(DataCliTest, SynthWritesFilesThatStatsReads) {
  TempDir dir;
  CommandResult b = RunCommand(Perflaw() + " data synth --out " + dir.File("s.bin") +
                               " --users 300 --items 80 --interactions 4321 --seed 5");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("(binary): users 300, items 80, interactions 4321"), std::string::npos)
      << b.out;
  CommandResult s = RunCommand(Perflaw() + " data stats " + dir.File("s.bin") + " --format json");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  nlohmann::json out = nlohmann::json::parse(s.out);
  EXPECT_EQ(out["dataset"]["users"], 300);
  EXPECT_EQ(out["dataset"]["interactions"], 4321);
  EXPECT_EQ(out["dataset"]["cache"], "not applicable");

  CommandResult t =
      RunCommand(Perflaw() + " data synth --out " + dir.File("s.txt") +
                 " --users 300 --items 80 --interactions 4321 --seed 5 --format sasrec");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  CommandResult st =
      RunCommand(Perflaw() + " data stats " + dir.File("s.txt") + " --format json --no-cache");
  ASSERT_EQ(st.exit_code, 0) << st.err;
  nlohmann::json text = nlohmann::json::parse(st.out);
  EXPECT_EQ(text["dataset"]["interactions"], 4321);
  // Same seed, same data: the measures agree between the two files.
  EXPECT_EQ(text["quality"][0]["lz_bits"]["mean"], out["quality"][0]["lz_bits"]["mean"]);
  EXPECT_EQ(FilesUnder(dir.path()).size(), 2u) << "no temp files may be left";
}

TEST(DataCliTest, HelpOnEachCommand) {
  for (const char* cmd : {"data", "data stats", "data prepare", "data synth"}) {
    CommandResult r = RunCommand(Perflaw() + " " + cmd + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
  }
  CommandResult r = RunCommand(Perflaw() + " data stats --help");
  for (const char* flag : {"--max-seq-len", "--m", "--r", "--k-core", "--user-fraction",
                           "--cache-dir", "--no-cache", "--input-format"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace perflaw::testing
