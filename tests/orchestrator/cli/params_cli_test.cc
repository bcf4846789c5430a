// One parameter count (law/params.h) across `perflaw sweep check`, `perflaw results` and the law,
// and help texts without CLI11's type names, through the real executable.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "law/forms.h"
#include "law/params.h"
#include "orchestrator/store/law_db.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/sweep/sweep.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::testing {
namespace {

using nlohmann::json;

CommandResult Perflaw(const std::string& args) { return RunCommand(Bin("perflaw") + " " + args); }

// What the worker sent for a finished sasrec point, with its measured non-embedding count.
json Result(uint64_t non_embedding) {
  worker::PointResult r =
      CompletedResult({1000, non_embedding}, /*tokens_seen=*/0, /*best_epoch=*/1);
  r.test = TestMetrics("full", /*users=*/50, /*mrr=*/0, {{10, 0.2}}, {{10, 0.1}});
  return worker::PointResultToJson(r);
}

TEST(ParamsCliTest, SameModelSameCountInSweepCheckResultsAndLaw) {
  TempDir dir;
  dir.Write("s.yaml",
            "name: t\ndata:\n  synthetic: {users: 50, items: 30, mean_length: 8, seed: 3}\n"
            "train: {epochs: 1}\ngrid:\n  model.layers: [1, 2]\n  model.d_model: [16, 32]\n"
            "  model.ffn_multiplier: [1, 4]\n");
  CommandResult check = Perflaw("sweep check --format json " + dir.File("s.yaml"));
  ASSERT_EQ(check.exit_code, 0) << check.err;
  const json points = json::parse(check.out)["points"];
  ASSERT_EQ(points.size(), 8u);
  std::map<std::string, double> by_id;  // sweep check's count per point
  std::vector<orchestrator::NewPoint> news;
  for (const json& p : points) {
    const double count = p["non_embedding_params"].get<double>();
    EXPECT_EQ(count, law::NonEmbeddingParams(orchestrator::ModelShapeOf(
                         *worker::ParsePointConfig(p["config"].dump(), "p"))));
    by_id[p["id"]] = count;
    news.push_back({p["id"], p["config"].dump(), count});
  }
  // layers 1, d_model 16, ffn_multiplier 1: the worker measured 1728 (issue 14; the old formula of
  // sweep check said 1.54e+03).
  const json& first = points[0]["config"]["model"];
  ASSERT_EQ(first["layers"], 1);
  ASSERT_EQ(first["d_model"], 16);
  ASSERT_EQ(first["ffn_multiplier"], 1);
  EXPECT_EQ(points[0]["non_embedding_params"], 1728);

  // A database where the worker reported its count for every point; results shows it.
  {
    auto db = orchestrator::ResultsDb::OpenForWriting(dir.File("r.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    int64_t sweep = *(*db)->RecordSweep("name: t\n", "t");
    ASSERT_TRUE((*db)->AddPoints(sweep, news).ok());
    for (const auto& p : news) {
      auto attempt = (*db)->StartAttempt(p.id, 0, {"host"}, {1});
      ASSERT_TRUE(attempt.ok());
      ASSERT_TRUE((*db)->CompletePoint(p.id, *attempt, Result(by_id[p.id])).ok());
    }
  }
  CommandResult results = Perflaw("results --format json " + dir.File("r.db"));
  ASSERT_EQ(results.exit_code, 0) << results.err;
  const json rows = json::parse(results.out);
  ASSERT_EQ(rows.size(), 8u);
  for (const json& r : rows) EXPECT_EQ(r["non_embedding_params"], by_id.at(r["point"])) << r;

  // The law reads each point's model type and ffn multiplier from its config: the same count.
  orchestrator::LawDbOptions o;
  o.metric = "HR@10";
  auto in = orchestrator::ReadObservations(dir.File("r.db"), o);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->rows.size(), 8u);
  std::multiset<double> law_counts, check_counts;
  for (const law::Observation& r : in->rows)
    law_counts.insert(law::NonEmbeddingParams(law::ShapeOf(r)));
  for (const auto& [id, count] : by_id) check_counts.insert(count);
  EXPECT_EQ(law_counts, check_counts);
  EXPECT_EQ(law_counts.count(1728), 1u);
}

// Every command's help names option values N, FILE, table|json, the option's name..., never
// CLI11's type names.
TEST(ParamsCliTest, HelpShowsNoLibraryTypeNames) {
  const std::regex noise("\\b(U?INT|TEXT|FLOAT|BOOLEAN|NUMBER)\\b|:(POSITIVE|NONNEGATIVE)");
  const std::regex sub_line("\\n  ([a-z][a-z-]*)");  // a name in the Subcommands: list
  std::vector<std::string> commands = {""};  // perflaw, then each (sub)command its help lists
  for (size_t i = 0; i < commands.size(); ++i) {
    const std::string c = commands[i];  // a copy: push_back below may move the vector
    CommandResult r = Perflaw(c + " --help");
    EXPECT_EQ(r.exit_code, 0) << c;
    std::smatch m;
    EXPECT_FALSE(std::regex_search(r.out, m, noise))
        << "perflaw " << c << " --help: " << m.str() << "\n"
        << r.out;
    const size_t at = r.out.find("Subcommands:");
    if (at == std::string::npos) continue;
    const std::string listing = r.out.substr(at);
    for (auto it = std::sregex_iterator(listing.begin(), listing.end(), sub_line);
         it != std::sregex_iterator(); ++it)
      commands.push_back(c + (c.empty() ? "" : " ") + (*it)[1].str());
  }
  EXPECT_GT(commands.size(), 18u);
}

}  // namespace
}  // namespace perflaw::testing
