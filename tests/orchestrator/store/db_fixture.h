// Stored points for the CLI tests of the read-only views (results, status, curves): a point's
// configuration and the result a worker sends for it, through the real serializer so that a change
// of shape shows in these tests.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "worker/result.h"

namespace perflaw::testing {

inline nlohmann::json StoredConfig(const std::string& path, int layers, int d_model) {
  return {{"data", {{"path", path}, {"max_seq_len", 50}, {"user_fraction", 1.0}}},
          {"model", {{"type", "sasrec"}, {"layers", layers}, {"d_model", d_model}, {"heads", 1}}},
          {"train", {{"lr", 0.001}}},
          {"seed", 0}};
}

// A completed point's result: test metrics on the full protocol, best epoch 2 of `epochs`.
inline nlohmann::json StoredResult(double ndcg10, int epochs = 3) {
  worker::PointResult r;
  r.status = worker::RunStatus::kOk;
  r.message = "ok";
  r.params = {100, 2000};
  r.tokens_seen = 5000;
  r.wall_seconds = 3.5;
  r.train_seconds = 3;
  r.tokens_per_second = 1666.5;
  r.best_epoch = 2;
  for (int e = 1; e <= epochs; ++e) {
    r.epochs.emplace_back();
    r.epochs.back().epoch = static_cast<uint32_t>(e);
  }
  worker::RankMetrics test;
  test.split = "test";
  test.protocol = "full";
  test.users = 100;
  test.hr = {{10, ndcg10 * 2}};
  test.ndcg = {{10, ndcg10}};
  test.mrr = ndcg10 / 2;
  r.test = test;
  return worker::PointResultToJson(r);
}

}  // namespace perflaw::testing
