// The progress line's ETA from a run's events.
#include "orchestrator/run/eta_listener.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchestrator/schedule/eta.h"
#include "tests/orchestrator/schedule/fakes.h"

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;

class LastProgress final : public SchedulerListener {
 public:
  void OnAttemptStarted(const std::string&, uint32_t, int) override { ++started; }
  void OnEpochMetrics(const std::string&, uint32_t, uint32_t, const json&) override {}
  void OnPointCompleted(const std::string&, uint32_t, const json&) override { ++completed; }
  void OnAttemptFailed(const std::string&, uint32_t, FailureReason, const std::string&,
                       bool) override {}
  void OnGroupStateChanged(int, GroupState, const std::string&) override {}
  void OnProgress(const Progress& p) override { last = p; }
  int started = 0, completed = 0;
  Progress last;
};

TEST(EtaListenerTest, FitsDurationsLinearInCostWithAFixedPart) {
  testing::FakeClock clock;
  std::vector<PendingPoint> points(4);
  for (int i = 0; i < 4; ++i) {
    points[i].id = "p" + std::to_string(i);
    points[i].cost = i + 1;  // true duration: 10 + 5 * cost seconds
    points[i].config = {{"train", {{"epochs", 10}}}};
  }
  LastProgress inner;
  EtaListener eta(&inner, clock, points);
  Progress p;
  p.live_groups = 1;
  p.pending = 4;
  eta.OnProgress(p);
  EXPECT_FALSE(inner.last.eta_seconds.has_value());  // nothing completed: unknown
  eta.OnAttemptStarted("p3", 1, 0);
  clock.Set(30);
  eta.OnPointCompleted("p3", 1, json::object());  // cost 4: 30 s
  p.pending = 3;
  eta.OnProgress(p);
  ASSERT_TRUE(inner.last.eta_seconds.has_value());
  EXPECT_NEAR(*inner.last.eta_seconds, 90.0, 1e-9);  // one duration known: 3 waiting x 30 s
  eta.OnAttemptStarted("p0", 1, 0);
  clock.Set(45);
  eta.OnPointCompleted("p0", 1, json::object());  // cost 1: 15 s
  eta.OnAttemptStarted("p2", 1, 0);
  clock.Set(50);  // p2 (cost 3, 25 s) has run 5 s; p1 (cost 2, 20 s) waits: 20 + 20 s left
  p.pending = 1;
  p.running = 1;
  eta.OnProgress(p);
  ASSERT_TRUE(inner.last.eta_seconds.has_value());
  EXPECT_NEAR(*inner.last.eta_seconds, 40.0, 1e-9);
  p.live_groups = 4;  // spread over more groups, but never below the running point's 20 s
  eta.OnProgress(p);
  EXPECT_NEAR(*inner.last.eta_seconds, 20.0, 1e-9);
  EXPECT_EQ(inner.last.running_epochs_done, 0);
  EXPECT_EQ(inner.last.running_epochs_max, 10);
  // p2 finished 4 of its 10 epochs in its 5 s: the 6 left at that pace take 7.5 s, less than the
  // model's 20 s; the progress counts its epochs.
  for (uint32_t e = 1; e <= 4; ++e) eta.OnEpochMetrics("p2", 1, e, json::object());
  p.live_groups = 1;
  eta.OnProgress(p);
  EXPECT_NEAR(*inner.last.eta_seconds, 27.5, 1e-9);
  EXPECT_EQ(inner.last.running_epochs_done, 4);
  EXPECT_EQ(inner.started, 3);
  EXPECT_EQ(inner.completed, 2);
  // Nothing left: 0.
  eta.OnPointCompleted("p2", 1, json::object());
  p.pending = p.running = 0;
  eta.OnProgress(p);
  EXPECT_EQ(inner.last.eta_seconds, 0.0);
}

TEST(EtaTest, RunningPointsByModelAndByTheirEpochPace) {
  DurationModel model;
  EXPECT_FALSE(EstimateEta(model, {1.0}, {}, 1).has_value());
  EXPECT_EQ(EstimateEta(model, {}, {}, 1), 0.0);
  model.Add(1, 15);
  model.Add(4, 30);  // 10 + 5 cost
  EXPECT_NEAR(model.alpha(), 10, 1e-9);
  EXPECT_NEAR(model.beta(), 5, 1e-9);
  // A falling trend is no trend: the mean.
  DurationModel falling;
  falling.Add(1, 30);
  falling.Add(4, 10);
  EXPECT_EQ(falling.beta(), 0);
  EXPECT_NEAR(falling.Predict(100), 20, 1e-9);
  // Resumed from a checkpoint at epoch 6: this attempt did epochs 7 and 8 in 4 s (2 s each),
  // 2 epochs are left: 4 s, below the model's 25 - 4 = 21 s.
  EXPECT_NEAR(RemainingSeconds(model, {3, 4, 8, 2, 10}), 4, 1e-9);
  EXPECT_NEAR(RemainingSeconds(model, {3, 4, 0, 0, 10}), 21, 1e-9);  // no epoch yet: the model
  EXPECT_NEAR(RemainingSeconds(model, {3, 40, 0, 0, 10}), 0, 1e-9);  // overdue: 0, not negative
  // Two groups: (waiting 20 + 20) + running 4 = 44 / 2 = 22.
  EXPECT_NEAR(*EstimateEta(model, {2, 2}, {{3, 4, 8, 2, 10}}, 2), 22, 1e-9);
  EXPECT_EQ(EpochLimit(json{{"train", {{"epochs", 12}}}}), 12u);
  EXPECT_EQ(EpochLimit(json::object()), 0u);
}

}  // namespace
}  // namespace perflaw::orchestrator
