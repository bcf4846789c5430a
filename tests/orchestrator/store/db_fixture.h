// Stored points for the results-database tests and the CLI tests of its read-only views (results,
// status, curves): a point's configuration and the result a worker sends for it, through the real
// serializer so that a change of shape shows in these tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/store/results_db.h"
#include "orchestrator/store/sqlite_util.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::testing {

inline nlohmann::json StoredConfig(const std::string& path, int layers, int d_model) {
  return {{"data", {{"path", path}, {"max_seq_len", 50}, {"user_fraction", 1.0}}},
          {"model", {{"type", "sasrec"}, {"layers", layers}, {"d_model", d_model}, {"heads", 1}}},
          {"train", {{"lr", 0.001}}},
          {"seed", 0}};
}

// A completed point's result as a worker sends it, before what each test sets for itself.
inline worker::PointResult CompletedResult(worker::ParamCounts params, uint64_t tokens_seen,
                                           uint32_t best_epoch) {
  worker::PointResult r;
  r.status = worker::RunStatus::kOk;
  r.message = "ok";
  r.params = params;
  r.tokens_seen = tokens_seen;
  r.best_epoch = best_epoch;
  return r;
}

// Test-split metrics as a worker reports them: (K, value) pairs for HR@K and NDCG@K.
inline worker::RankMetrics TestMetrics(const std::string& protocol, uint64_t users, double mrr,
                                       std::vector<std::pair<uint32_t, double>> hr,
                                       std::vector<std::pair<uint32_t, double>> ndcg) {
  worker::RankMetrics m;
  m.split = "test";
  m.protocol = protocol;
  m.users = users;
  m.mrr = mrr;
  m.hr = std::move(hr);
  m.ndcg = std::move(ndcg);
  return m;
}

// A completed point's result: test metrics on the full protocol, best epoch 2 of `epochs`.
inline nlohmann::json StoredResult(double ndcg10, int epochs = 3) {
  worker::PointResult r = CompletedResult({100, 2000}, /*tokens_seen=*/5000, /*best_epoch=*/2);
  r.wall_seconds = 3.5;
  r.train_seconds = 3;
  r.tokens_per_second = 1666.5;
  for (int e = 1; e <= epochs; ++e) {
    r.epochs.emplace_back();
    r.epochs.back().epoch = static_cast<uint32_t>(e);
  }
  r.test =
      TestMetrics("full", /*users=*/100, /*mrr=*/ndcg10 / 2, {{10, ndcg10 * 2}}, {{10, ndcg10}});
  return worker::PointResultToJson(r);
}

// `sql` stepped to its first row through `db`'s connection; a test fails where there is none.
inline StatusOr<orchestrator::Statement> FirstRow(const orchestrator::ResultsDb& db,
                                                  const std::string& sql) {
  StatusOr<orchestrator::Statement> st = orchestrator::Statement::Prepare(db.connection(), sql);
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  if (!st.ok()) return st;
  StatusOr<bool> row = st->Step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return st;
}

// The first column of the one row `sql` returns (-1 / "" where it fails, "NULL" for a null).
inline int64_t QueryInt(const orchestrator::ResultsDb& db, const std::string& sql) {
  StatusOr<orchestrator::Statement> st = FirstRow(db, sql);
  return st.ok() ? st->Int64(0) : -1;
}
inline std::string QueryText(const orchestrator::ResultsDb& db, const std::string& sql) {
  StatusOr<orchestrator::Statement> st = FirstRow(db, sql);
  if (!st.ok()) return "";
  return st->IsNull(0) ? "NULL" : st->Text(0);
}

// The same on a read-only connection to the database file at `path`, as a reader beside a run.
inline int64_t QueryInt(const std::string& path, const std::string& sql) {
  StatusOr<std::unique_ptr<orchestrator::ResultsDb>> db =
      orchestrator::ResultsDb::OpenReadOnly(path);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? QueryInt(**db, sql) : -1;
}
inline std::string QueryText(const std::string& path, const std::string& sql) {
  StatusOr<std::unique_ptr<orchestrator::ResultsDb>> db =
      orchestrator::ResultsDb::OpenReadOnly(path);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? QueryText(**db, sql) : "";
}

// A results database in a fresh temporary folder, filled by `populate` before each test.
class PopulatedDbTest : public ::testing::Test {
 protected:
  using Populator = void (*)(const std::string& path);
  PopulatedDbTest(std::string file_name, Populator populate)
      : file_name_(std::move(file_name)), populate_(populate) {}
  void SetUp() override {
    db_ = dir_.File(file_name_);
    ASSERT_NO_FATAL_FAILURE(populate_(db_));
  }

  TempDir dir_;
  std::string db_;

 private:
  std::string file_name_;
  Populator populate_;
};

}  // namespace perflaw::testing
