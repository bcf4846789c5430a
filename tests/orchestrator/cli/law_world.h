// A fake world whose points "train" to a known law: between the scheduler and FakeWorld, it gives
// every RunPoint a duration (layers x d_model / 8 seconds on the fake clock) and turns the fake's
// epoch and result messages into real worker records whose test HR@10 is hr(layers, d_model) and
// NDCG@10 half of it. The runner tests and the adaptive-rounds benchmark run ExecuteRun on it.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "orchestrator/schedule/transport.h"
#include "tests/orchestrator/schedule/fakes.h"
#include "worker/result.h"

namespace perflaw::orchestrator::testing {

class LawWorld final : public Transport {
 public:
  using Hr = std::function<double(int layers, int d_model)>;
  LawWorld(FakeWorld* world, Hr hr) : world_(world), hr_(std::move(hr)) {}
  int GroupCount() const override { return world_->GroupCount(); }

  Status Send(int g, const ToGroup& message) override {
    const auto* run = std::get_if<RunPoint>(&message);
    if (!run) return world_->Send(g, message);
    RunPoint timed = *run;
    configs_[run->point] = run->config;
    runs_.push_back(*run);
    timed.config["seconds"] = Layers(run->config) * DModel(run->config) / 8.0;
    return world_->Send(g, timed);
  }

  StatusOr<std::optional<Incoming>> Poll(double timeout) override {
    StatusOr<std::optional<Incoming>> in = world_->Poll(timeout);
    if (!in.ok() || !in->has_value()) return in;
    if (auto* done = std::get_if<PointDone>(&(*in)->message)) {
      done->result = Result(configs_.at(done->point));
    } else if (auto* epoch = std::get_if<EpochMetrics>(&(*in)->message)) {
      worker::EpochRecord record;
      record.epoch = epoch->epoch;
      record.steps = 10;
      record.train_loss = 0.5;
      epoch->metrics = worker::EpochRecordToJson(record);
    }
    return in;
  }

  // The RunPoints as the scheduler sent them.
  const std::vector<RunPoint>& runs() const { return runs_; }

 private:
  static int Layers(const nlohmann::json& c) { return c["model"]["layers"].get<int>(); }
  static int DModel(const nlohmann::json& c) { return c["model"]["d_model"].get<int>(); }

  nlohmann::json Result(const nlohmann::json& config) const {
    worker::PointResult r;
    r.status = worker::RunStatus::kOk;
    r.message = "ok";
    r.params = {1000, 2000};
    r.tokens_seen = 5000;
    worker::RankMetrics test;
    test.split = "test";
    test.protocol = "sampled:10";
    test.users = 50;
    const double hr = hr_(Layers(config), DModel(config));
    test.hr = {{10, hr}};
    test.ndcg = {{10, hr / 2}};
    r.test = test;
    return worker::PointResultToJson(r);
  }

  FakeWorld* world_;
  Hr hr_;
  std::map<std::string, nlohmann::json> configs_;
  std::vector<RunPoint> runs_;
};

}  // namespace perflaw::orchestrator::testing
