#include "worker/result.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

namespace perflaw::worker {

using nlohmann::json;

const char* RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kNotRun:
      return "not run";
    case RunStatus::kOk:
      return "ok";
    case RunStatus::kDiverged:
      return "diverged";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "?";
}

json RankMetricsToJson(const RankMetrics& m) {
  json j = {
      {"split", m.split}, {"protocol", m.protocol}, {"users", m.users}, {"eval_seed", m.eval_seed}};
  for (const auto& [k, v] : m.hr) j["hr@" + std::to_string(k)] = v;
  for (const auto& [k, v] : m.ndcg) j["ndcg@" + std::to_string(k)] = v;
  j["mrr"] = m.mrr;
  return j;
}

RankMetrics RankMetricsFromJson(const json& j) {
  RankMetrics m;
  m.split = j.at("split").get<std::string>();
  m.protocol = j.at("protocol").get<std::string>();
  m.users = j.at("users").get<uint64_t>();
  m.eval_seed = j.at("eval_seed").get<uint64_t>();
  m.mrr = j.at("mrr").get<double>();
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (key.rfind("hr@", 0) == 0)
      m.hr.emplace_back(std::stoul(key.substr(3)), item.value().get<double>());
    if (key.rfind("ndcg@", 0) == 0)
      m.ndcg.emplace_back(std::stoul(key.substr(5)), item.value().get<double>());
  }
  auto by_k = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::sort(m.hr.begin(), m.hr.end(), by_k);
  std::sort(m.ndcg.begin(), m.ndcg.end(), by_k);
  return m;
}

json EpochRecordToJson(const EpochRecord& e) {
  return {{"epoch", e.epoch},
          {"steps", e.steps},
          {"train_loss", e.train_loss},
          {"train_seconds", e.seconds},
          {"train_cpu_seconds", e.cpu_seconds},
          {"eval_seconds", e.eval_seconds},
          {"valid", RankMetricsToJson(e.valid)}};
}

EpochRecord EpochRecordFromJson(const json& j) {
  EpochRecord e;
  e.epoch = j.at("epoch").get<uint32_t>();
  e.steps = j.at("steps").get<uint64_t>();
  e.train_loss = j.at("train_loss").get<double>();
  e.seconds = j.at("train_seconds").get<double>();
  e.cpu_seconds = j.at("train_cpu_seconds").get<double>();
  e.eval_seconds = j.at("eval_seconds").get<double>();
  e.valid = RankMetricsFromJson(j.at("valid"));
  return e;
}

json PointResultToJson(const PointResult& r) {
  json epochs = json::array();
  for (const EpochRecord& e : r.epochs) epochs.push_back(EpochRecordToJson(e));
  return json{{"status", RunStatusName(r.status)},
              {"message", r.message},
              {"user_error", r.user_error},
              {"config", PointConfigToJson(r.config)},
              {"device", r.device},
              {"world_size", r.world_size},
              {"precision", r.precision},
              {"attention", r.attention},
              {"eval_threads", r.eval_threads},
              {"dataset",
               {{"users", r.num_users},
                {"items", r.num_items},
                {"train_interactions", r.num_train_interactions}}},
              {"params",
               {{"embedding", r.params.embedding},
                {"non_embedding", r.params.non_embedding},
                {"total", r.params.embedding + r.params.non_embedding}}},
              {"epochs", epochs},
              {"best_epoch", r.best_epoch},
              {"valid", r.best_valid ? RankMetricsToJson(*r.best_valid) : json(nullptr)},
              {"test", r.test ? RankMetricsToJson(*r.test) : json(nullptr)},
              {"steps", r.steps},
              {"tokens_seen", r.tokens_seen},
              {"wall_seconds", r.wall_seconds},
              {"train_seconds", r.train_seconds},
              {"tokens_per_second", r.tokens_per_second}};
}

std::string SummaryLine(const PointResult& r) {
  std::ostringstream line;
  line << std::fixed << RunStatusName(r.status);
  if (r.status != RunStatus::kOk || !r.test) return line.str() + ": " + r.message;
  const RankMetrics& t = *r.test;
  line << ": " << t.split << " " << std::setprecision(4);
  for (const auto& [k, v] : t.hr) line << "HR@" << k << " " << v << " ";
  for (const auto& [k, v] : t.ndcg) line << "NDCG@" << k << " " << v << " ";
  line << "MRR " << t.mrr << " (" << t.protocol << ", " << t.split << " split, " << t.users
       << " users, eval seed " << t.eval_seed << "; model of "
       << (r.best_epoch ? "epoch " + std::to_string(r.best_epoch) + " of " +
                              std::to_string(r.epochs.size()) + ", chosen on valid NDCG@10"
                        : "the last epoch, " + std::to_string(r.epochs.size()))
       << "); " << std::setprecision(1) << r.wall_seconds << " s wall, " << r.train_seconds
       << " s training; evaluation on " << r.eval_threads
       << (r.eval_threads == 1 ? " thread (" : " threads (") << r.device << ")";
  return line.str();
}

Status WriteResultFile(const PointResult& r, const std::string& path) {
  const std::string tmp = path + ".tmp";
  Status st;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError(path + ": cannot write the result file");
    out << PointResultToJson(r).dump(2) << "\n";
    if (!out.flush()) st = Status::IoError(tmp + ": write failed (disk full?)");
  }
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    st = Status::IoError(path + ": rename failed");
  if (!st.ok()) std::remove(tmp.c_str());  // no half-written file left behind
  return st;
}

}  // namespace perflaw::worker
