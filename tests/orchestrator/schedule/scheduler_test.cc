// The scheduler against simulated worker groups (tests/orchestrator/schedule/fakes.h) on a fake
// clock.
#include "orchestrator/schedule/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/orchestrator/schedule/fakes.h"

namespace perflaw::orchestrator {
namespace {

using testing::FakeClock;
using testing::FakeWorld;

constexpr size_t kRunPoint = 0, kStopPoint = 1, kShutdown = 2;  // ToGroup variant indices

// Records every listener call as a line "t=<time> <event>", plus what tests check most.
class RecordingListener final : public SchedulerListener {
 public:
  explicit RecordingListener(const Clock* clock) : clock_(clock) {}

  void OnAttemptStarted(const std::string& point, uint32_t attempt, int group) override {
    Log("start " + point + "#" + std::to_string(attempt) + "@" + std::to_string(group));
  }
  void OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                      const nlohmann::json& metrics) override {
    Log("epoch " + point + "#" + std::to_string(attempt) + " " + std::to_string(epoch) + " " +
        metrics.dump());
  }
  void OnPointCompleted(const std::string& point, uint32_t attempt,
                        const nlohmann::json& result) override {
    Log("done " + point + "#" + std::to_string(attempt) + " " + result.dump());
    completed[point].push_back(result);
  }
  void OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                       const std::string& message, bool will_retry) override {
    const std::string line = "fail " + point + "#" + std::to_string(attempt) + " " +
                             FailureReasonName(reason) + (will_retry ? " retry" : " final");
    Log(line + " (" + message + ")");
    failures.push_back(line);
  }
  void OnGroupStateChanged(int group, GroupState state, const std::string& why) override {
    Log("group " + std::to_string(group) + " " + GroupStateName(state) + " (" + why + ")");
    group_states.push_back(std::to_string(group) + " " + GroupStateName(state));
  }
  void OnProgress(const Progress& p) override {
    last_progress = p;
    progress_calls++;
  }
  void OnQuiet() override {
    quiet_calls++;
    events_before_last_quiet = log.size();
  }

  std::vector<std::string> log;
  std::map<std::string, std::vector<nlohmann::json>> completed;
  std::vector<std::string> failures;      // "fail p#a reason retry|final"
  std::vector<std::string> group_states;  // "g state"
  Progress last_progress;
  int progress_calls = 0;
  int quiet_calls = 0;
  size_t events_before_last_quiet = 0;

 private:
  void Log(const std::string& what) {
    std::ostringstream line;
    line << "t=" << clock_->Now() << " " << what;
    log.push_back(line.str());
  }
  const Clock* clock_;
};

PendingPoint Point(const std::string& id, double cost, double seconds) {
  PendingPoint p;
  p.id = id;
  p.cost = cost;
  p.config = {{"seconds", seconds}};
  return p;
}

// `count` points of cost 1 and the same duration, named prefix0, prefix1, ...
std::vector<PendingPoint> Points(const std::string& prefix, int count, double seconds) {
  std::vector<PendingPoint> points;
  for (int i = 0; i < count; ++i) points.push_back(Point(prefix + std::to_string(i), 1, seconds));
  return points;
}

SchedulerOptions FastOptions() {
  SchedulerOptions o;
  o.heartbeat_interval = 1;
  o.heartbeat_grace = 3;
  o.point_timeout = 1000;
  o.ready_timeout = 30;
  o.stop_grace = 5;
  return o;
}

// One simulated run: the world, the clock and the listener live as long as the fixture.
struct Sim {
  explicit Sim(int groups, SchedulerOptions options = FastOptions())
      : world(&clock, groups), listener(&clock), scheduler(options, &world, &clock, &listener) {}
  SchedulerSummary Run(std::vector<PendingPoint> points) {
    auto summary = scheduler.Run(std::move(points));
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return summary.ok() ? *summary : SchedulerSummary{};
  }
  FakeClock clock;
  FakeWorld world;
  RecordingListener listener;
  Scheduler scheduler;
};

TEST(SchedulerTest, DispatchesLargestCostFirstWithTiesInInputOrder) {
  Sim sim(1);
  const auto summary = sim.Run({Point("a", 1, 1), Point("b", 5, 1), Point("c", 3, 1),
                                Point("d", 4, 1), Point("e", 3, 1), Point("f", 2, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(sim.world.Dispatches(),
            (std::vector<std::string>{"b#1@0", "d#1@0", "c#1@0", "e#1@0", "f#1@0", "a#1@0"}));
}

TEST(SchedulerTest, EveryPointCompletesExactlyOnceAndMakespanIsTheLptSchedule) {
  Sim sim(4);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> seconds(1, 50);
  std::vector<PendingPoint> points;
  std::vector<double> durations;
  double total = 0;
  for (int i = 0; i < 41; ++i) {
    const double s = std::round(seconds(rng));  // whole seconds: exact sums on the fake clock
    points.push_back(Point("p" + std::to_string(i), s, s));  // cost proportional to duration
    durations.push_back(s);
    total += s;
  }
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(summary.completed, 41);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_EQ(summary.pending, 0);
  EXPECT_EQ(summary.attempts_started, 41);
  EXPECT_EQ(summary.ignored_messages, 0);
  ASSERT_EQ(sim.listener.completed.size(), 41u);
  for (const auto& [id, results] : sim.listener.completed) EXPECT_EQ(results.size(), 1u) << id;
  ASSERT_EQ(summary.groups.size(), 4u);
  double busy = 0;
  for (int g = 0; g < 4; ++g) {
    busy += summary.groups[g].busy_seconds;
    EXPECT_EQ(sim.world.CountSent(g, kShutdown), 1) << "group " << g;
  }
  EXPECT_DOUBLE_EQ(busy, total);
  const auto bounds = ComputeLptBounds(durations, 4);
  ASSERT_TRUE(bounds.ok());
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, bounds->lpt_makespan);
  EXPECT_GE(summary.makespan_seconds, bounds->lower_bound);
  EXPECT_EQ(sim.listener.last_progress.completed, 41);
  EXPECT_EQ(sim.listener.last_progress.pending, 0);
}

TEST(SchedulerTest, RefillAddsPointsWhenEverythingIsDoneUntilItGivesNone) {
  Sim sim(2);
  int calls = 0;
  size_t quiet_before_refill = 0;
  auto summary = sim.scheduler.Run({Point("a", 2, 2), Point("b", 1, 1)}, [&] {
    ++calls;
    quiet_before_refill = sim.listener.events_before_last_quiet;
    // Every point so far is done, and what the listener saw is flushed (OnQuiet) first.
    EXPECT_EQ(sim.listener.completed.size(), calls == 1 ? 2u : 4u);
    EXPECT_EQ(quiet_before_refill, sim.listener.log.size());
    if (calls == 1) return std::vector<PendingPoint>{Point("c", 3, 3), Point("d", 1, 1)};
    return std::vector<PendingPoint>{};
  });
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(summary->end, RunEnd::kCompleted);
  EXPECT_EQ(summary->points, 4);
  EXPECT_EQ(summary->completed, 4);
  EXPECT_EQ(summary->refills, 1);
  EXPECT_TRUE(summary->refill_error.empty());
  // The refilled points ran after the first ones, largest first, on the same groups.
  const std::vector<std::string> runs = sim.world.Dispatches();
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[2].substr(0, 3), "c#1");
  EXPECT_EQ(runs[3].substr(0, 3), "d#1");
  EXPECT_EQ(sim.world.CountSent(0, kShutdown), 1);
  EXPECT_EQ(sim.listener.last_progress.completed, 4);
}

TEST(SchedulerTest, RefilledPointsThatRepeatAnIdEndTheRunWithTheReason) {
  Sim sim(1);
  auto summary = sim.scheduler.Run({Point("a", 1, 1)},
                                   [] { return std::vector<PendingPoint>{Point("a", 1, 1)}; });
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->end, RunEnd::kCompleted);
  EXPECT_EQ(summary->completed, 1);
  EXPECT_EQ(summary->refills, 0);
  EXPECT_EQ(summary->refill_error, "refilled point 'a' is already in the run");
}

TEST(SchedulerTest, NoRefillAfterAStopRequest) {
  Sim sim(1);
  sim.world.At(0.5, [&] { sim.scheduler.RequestStop(); });
  int calls = 0;
  auto summary = sim.scheduler.Run({Point("a", 1, 3)}, [&] {
    ++calls;
    return std::vector<PendingPoint>{Point("b", 1, 1)};
  });
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(summary->end, RunEnd::kInterrupted);
}

TEST(SchedulerTest, SilentGroupFailsItsPointAsHeartbeatLostAndAnotherGroupRunsIt) {
  Sim sim(2);
  sim.world.group(0).silent_after = 2.5;  // heartbeats at 1 and 2, then nothing
  const auto summary = sim.Run({Point("big", 2, 10), Point("small", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"big#1@0", "small#1@1", "big#2@1"}));
  // Last heartbeat at t=2, limit 1 s * 3: failed at t=5.
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail big#1 heartbeat_lost retry"}));
  EXPECT_NE(std::find(sim.listener.log.begin(), sim.listener.log.end(),
                      "t=5 fail big#1 heartbeat_lost retry (no heartbeat for 3 s (limit 3 s))"),
            sim.listener.log.end());
  EXPECT_EQ(sim.listener.completed.at("big")[0]["group"], 1);
  EXPECT_EQ(summary.groups[0].state, GroupState::kUnresponsive);
  EXPECT_EQ(sim.world.CountSent(0, kRunPoint), 1);  // never used again
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 20);
}

TEST(SchedulerTest, PointPastItsTimeoutIsStoppedFailedAndRetriedElsewhere) {
  SchedulerOptions o = FastOptions();
  o.point_timeout = 15;
  Sim sim(2, o);
  sim.world.group(0).slowdown = 10;  // heartbeats fine, but 10 s of work takes 100 s there
  const auto summary = sim.Run({Point("p", 2, 10), Point("q", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail p#1 timeout retry"}));
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);
  // The stopped group answers preempted for the dead attempt (ignored) and says Ready again.
  EXPECT_EQ(summary.ignored_messages, 1);
  EXPECT_EQ(sim.listener.group_states,
            (std::vector<std::string>{"0 idle", "1 idle", "0 unresponsive", "0 idle"}));
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"p#1@0", "q#1@1", "p#2@1"}));
  EXPECT_EQ(sim.listener.completed.at("p")[0]["attempt"], 2);
}

TEST(SchedulerTest, OnlyGroupSurvivesATimeoutAndRunsTheRest) {
  SchedulerOptions o = FastOptions();
  o.point_timeout = 10;
  o.max_attempts = 1;
  Sim sim(1, o);
  const auto summary = sim.Run({Point("slow", 9, 100), Point("a", 1, 1), Point("b", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(summary.completed, 2);
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail slow#1 timeout final"}));
  // Stopped at t=10, answered and Ready at 10.5, then a and b: 1 s each.
  EXPECT_DOUBLE_EQ(sim.clock.Now(), 12.5);

  Sim hung(1, o);  // the same, but the group hangs: it counts as dead once stop_grace has passed
  hung.world.group(0).ignore_stop = true;
  const auto s = hung.Run({Point("slow", 9, 100), Point("a", 1, 1)});
  EXPECT_EQ(s.end, RunEnd::kAllGroupsLost) << s.message;
  EXPECT_EQ(s.pending, 1);
  EXPECT_DOUBLE_EQ(hung.clock.Now(), 15);  // timeout 10 + stop_grace 5
}

TEST(SchedulerTest, PointFailingEverywhereIsFailedAfterMaxAttemptsAndOthersComplete) {
  Sim sim(3);
  std::vector<PendingPoint> points = Points("ok", 6, /*seconds=*/3);
  PendingPoint bad = Point("bad", 10, 2);
  bad.config["fail"] = "diverged";
  points.push_back(bad);
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(summary.completed, 6);
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(summary.attempts_failed, 3);
  EXPECT_EQ(sim.listener.failures,
            (std::vector<std::string>{"fail bad#1 diverged retry", "fail bad#2 diverged retry",
                                      "fail bad#3 diverged final"}));
  EXPECT_EQ(sim.listener.completed.count("bad"), 0u);
  // Each retry went to a group it had not failed on.
  std::set<std::string> bad_groups;
  for (const auto& d : sim.world.Dispatches()) {
    if (d.rfind("bad#", 0) == 0) bad_groups.insert(d.substr(d.find('@')));
  }
  EXPECT_EQ(bad_groups.size(), 3u);
}

TEST(SchedulerTest, NonRetryableFailureFailsThePointAtOnce) {
  Sim sim(2);
  PendingPoint bad = Point("bad", 1, 1);
  bad.config["fail"] = "failed";
  bad.config["retryable"] = false;
  const auto summary = sim.Run({bad, Point("ok", 1, 1)});
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail bad#1 failed final"}));
}

TEST(SchedulerTest, RetryWaitsForAnotherGroupRatherThanReuseTheOneItFailedOn) {
  Sim sim(2);
  sim.world.group(0).fail_points["p"] = 1;
  // p fails on group 0 at t=1, when group 0 is free and group 1 is busy with q until t=10.
  const auto summary = sim.Run({Point("p", 2, 1), Point("q", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"p#1@0", "q#1@1", "p#2@1"}));
}

TEST(SchedulerTest, GroupsToAvoidFromAnEarlierRunAreHonoured) {
  Sim sim(2);
  PendingPoint p = Point("p", 2, 1);
  p.attempts = 4;  // earlier runs: 4 attempts, 1 failure (on group 0), 3 interrupted
  p.failures = 1;
  p.avoid_groups = {0};
  const auto summary = sim.Run({p, Point("q", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"q#1@0", "p#5@1"}));
}

TEST(SchedulerTest, RetryFallsBackToTheSameGroupWhenNoOtherIsAlive) {
  Sim sim(2);
  sim.world.group(0).fail_points["p"] = 1;
  sim.world.group(1).lost_at = 0.5;
  const auto summary = sim.Run({Point("p", 2, 1), Point("q", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(summary.completed, 2);
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"p#1@0", "q#1@1", "p#2@0", "q#2@0"}));
  EXPECT_EQ(sim.listener.failures,
            (std::vector<std::string>{"fail q#1 group_lost retry", "fail p#1 failed retry"}));
  EXPECT_EQ(sim.world.CountSent(1, kShutdown), 0);  // lost groups get nothing
}

TEST(SchedulerTest, GroupThatCannotBeSentToIsLostAndItsPointStaysQueued) {
  Sim sim(2);
  sim.world.group(0).refuse_sends = true;
  const auto summary = sim.Run({Point("a", 2, 1), Point("b", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"a#1@1", "b#1@1"}));
  EXPECT_TRUE(sim.listener.failures.empty());
  EXPECT_EQ(summary.groups[0].state, GroupState::kLost);
  EXPECT_EQ(summary.attempts_started, 2);
}

TEST(SchedulerTest, AllGroupsLostEndsTheRunWithPointsPending) {
  Sim sim(2);
  sim.world.group(0).lost_at = 5;
  sim.world.group(1).lost_at = 7;
  const std::vector<PendingPoint> points = Points("p", 10, /*seconds=*/4);
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kAllGroupsLost);
  // t=0..4 both groups finish one point each; the second ones die at 5 and 7.
  EXPECT_EQ(summary.completed, 2);
  EXPECT_EQ(summary.pending, 8);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_EQ(sim.listener.failures,
            (std::vector<std::string>{"fail p2#1 group_lost retry", "fail p3#1 group_lost retry"}));
  EXPECT_DOUBLE_EQ(sim.clock.Now(), 7);
  EXPECT_EQ(sim.world.CountSent(0, kShutdown) + sim.world.CountSent(1, kShutdown), 0);
  EXPECT_EQ(sim.listener.last_progress.pending, 8);
  EXPECT_EQ(sim.listener.last_progress.live_groups, 0);
}

TEST(SchedulerTest, StopRequestCheckpointsBusyGroupsAndReturnsPointsToPending) {
  Sim sim(2);
  sim.world.At(3, [&] { sim.scheduler.RequestStop(); });
  const std::vector<PendingPoint> points = Points("p", 5, /*seconds=*/10);
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kInterrupted);
  EXPECT_EQ(summary.pending, 5);
  EXPECT_EQ(summary.completed, 0);
  EXPECT_EQ(sim.listener.failures,
            (std::vector<std::string>{"fail p0#1 preempted retry", "fail p1#1 preempted retry"}));
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"p0#1@0", "p1#1@1"}));
  for (int g = 0; g < 2; ++g) {
    EXPECT_EQ(sim.world.CountSent(g, kStopPoint), 1);
    EXPECT_EQ(sim.world.CountSent(g, kShutdown), 1);
  }
  EXPECT_DOUBLE_EQ(sim.clock.Now(), 3.5);  // ended as soon as both answered
}

TEST(SchedulerTest, StopRequestGivesUpOnAGroupThatDoesNotAnswerWithinStopGrace) {
  Sim sim(2);
  sim.world.group(1).ignore_stop = true;
  sim.world.At(3, [&] { sim.scheduler.RequestStop(); });
  const auto summary = sim.Run({Point("a", 2, 10), Point("b", 1, 10), Point("c", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kInterrupted);
  EXPECT_EQ(summary.pending, 3);
  EXPECT_EQ(sim.listener.failures,
            (std::vector<std::string>{"fail a#1 preempted retry", "fail b#1 preempted retry"}));
  EXPECT_DOUBLE_EQ(sim.clock.Now(), 8);  // stop at 3 + stop_grace 5
}

TEST(SchedulerTest, LateAndDuplicateMessagesFromEndedAttemptsAreIgnored) {
  Sim sim(2);
  sim.world.group(0).silent_after = 0;  // hangs on p: heartbeat_lost at t=3
  // Group 0 wakes up at t=4: stale heartbeat and result for p#1, then Ready.
  sim.world.Inject(4, 0, Heartbeat{"p", 1, 7, 0});
  sim.world.Inject(4, 0, PointDone{"p", 1, {{"stale", true}}});
  sim.world.Inject(4, 0, Ready{});
  // Group 1 repeats its result for q#1 and sends one for a wrong attempt of p.
  sim.world.Inject(10.5, 1, PointDone{"q", 1, {{"stale", true}}});
  sim.world.Inject(12, 1, PointDone{"p", 1, {{"stale", true}}});
  sim.world.Inject(13, 1, EpochMetrics{"p", 7, 1, {{"stale", true}}});
  const auto summary = sim.Run({Point("p", 2, 10), Point("q", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(summary.ignored_messages, 5);
  ASSERT_EQ(sim.listener.completed.at("p").size(), 1u);
  ASSERT_EQ(sim.listener.completed.at("q").size(), 1u);
  EXPECT_EQ(sim.listener.completed.at("p")[0]["attempt"], 2);
  EXPECT_FALSE(sim.listener.completed.at("q")[0].contains("stale"));
  for (const auto& line : sim.listener.log)
    EXPECT_EQ(line.find("stale"), std::string::npos) << line;
  EXPECT_EQ(sim.listener.group_states,
            (std::vector<std::string>{"0 idle", "1 idle", "0 unresponsive", "0 idle"}));
}

TEST(SchedulerTest, PreemptionByTheWorkerItselfDoesNotUseUpAttempts) {
  SchedulerOptions o = FastOptions();
  o.max_attempts = 1;
  Sim sim(1, o);
  // The worker got SIGTERM on its own and checkpointed: with max_attempts 1 the point must still be
  // retried. (The fake's own result for p#1 at t=1 then arrives stale and is ignored.)
  sim.world.Inject(0.5, 0, PointFailed{"p", 1, FailureReason::kPreempted, "SIGTERM", true});
  const auto summary = sim.Run({Point("p", 1, 1)});
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail p#1 preempted retry"}));
  EXPECT_EQ(summary.completed, 1);
  EXPECT_EQ(summary.failed, 0);
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"p#1@0", "p#2@0"}));
  EXPECT_EQ(sim.listener.completed.at("p")[0]["attempt"], 2);
}

TEST(SchedulerTest, GroupThatNeverSaysReadyIsGivenUpAfterReadyTimeout) {
  Sim sim(2);
  sim.world.group(1).never_ready = true;
  const auto summary = sim.Run({Point("a", 1, 1), Point("b", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"a#1@0", "b#1@0"}));

  Sim none(2);
  none.world.group(0).never_ready = true;
  none.world.group(1).never_ready = true;
  const auto s = none.Run({Point("a", 1, 1)});
  EXPECT_EQ(s.end, RunEnd::kAllGroupsLost);
  EXPECT_EQ(s.pending, 1);
  EXPECT_DOUBLE_EQ(none.clock.Now(), 30);            // ready_timeout
  EXPECT_EQ(none.world.CountSent(0, kShutdown), 1);  // unresponsive groups still get Shutdown
}

TEST(SchedulerTest, TransportErrorClosesRunningAttemptsAsInterrupted) {
  Sim sim(1);
  sim.world.FailPollAt(2.5);
  const auto summary = sim.Run({Point("a", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kTransportError);
  EXPECT_NE(summary.message.find("transport broke"), std::string::npos) << summary.message;
  EXPECT_EQ(summary.pending, 1);
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail a#1 interrupted retry"}));
}

TEST(SchedulerTest, NoPointsEndsAtOnceAndShutsGroupsDown) {
  Sim sim(2);
  const auto summary = sim.Run({});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_EQ(summary.makespan_seconds, 0);
  EXPECT_EQ(sim.world.CountSent(0, kShutdown), 1);
  EXPECT_EQ(sim.world.CountSent(1, kShutdown), 1);
}

// A run with failures, a lost heartbeat, a dead group and a stop request, twice: identical logs.
std::vector<std::string> MixedRun() {
  SchedulerOptions o = FastOptions();
  o.point_timeout = 30;
  Sim sim(3, o);
  sim.world.group(0).silent_after = 7;
  sim.world.group(0).fail_points["p3"] = 1;
  sim.world.group(1).lost_at = 33;
  sim.world.group(2).slowdown = 4;
  sim.world.At(60, [&] { sim.scheduler.RequestStop(); });
  std::vector<PendingPoint> points;
  for (int i = 0; i < 12; ++i) points.push_back(Point("p" + std::to_string(i), 12 - i, 3 + i));
  const auto summary = sim.Run(points);
  std::vector<std::string> log = sim.listener.log;
  log.push_back("end " + summary.message);
  for (const auto& d : sim.world.Dispatches()) log.push_back("sent " + d);
  return log;
}

TEST(SchedulerTest, RunsAreDeterministicOnTheFakeClock) {
  const auto first = MixedRun();
  const auto second = MixedRun();
  EXPECT_EQ(first, second);
  // The scenario really exercises every kind of ending.
  for (const char* what : {" failed retry", " heartbeat_lost ", " group_lost ", " timeout ",
                           " preempted ", "end interrupted"}) {
    EXPECT_TRUE(std::any_of(first.begin(), first.end(), [&](const std::string& line) {
      return line.find(what) != std::string::npos;
    })) << what;
  }
}

TEST(SchedulerTest, ProgressReportsCountsAndTimeButNoEta) {
  Sim sim(1);
  const auto summary = sim.Run({Point("a", 3, 3), Point("b", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted);
  EXPECT_GE(sim.listener.progress_calls, 3);
  EXPECT_EQ(sim.listener.last_progress.completed, 2);
  // The one ETA is orchestrator/schedule/eta.h's (EtaListener), not a second one here.
  EXPECT_FALSE(sim.listener.last_progress.eta_seconds.has_value());
  EXPECT_DOUBLE_EQ(sim.listener.last_progress.elapsed_seconds, 4);
}

// ---- dispatch ahead ----

SchedulerOptions AheadOptions(double seconds) {
  SchedulerOptions o = FastOptions();
  o.dispatch_ahead = seconds;
  return o;
}

// When the RunPoint for "point#attempt" was sent (-1 if never).
double SentAt(const FakeWorld& world, const std::string& point, uint32_t attempt) {
  for (const auto& s : world.sent()) {
    const auto* run = std::get_if<RunPoint>(&s.message);
    if (run && run->point == point && run->attempt == attempt) return s.time;
  }
  return -1;
}

bool Logged(const RecordingListener& listener, const std::string& line) {
  return std::find(listener.log.begin(), listener.log.end(), line) != listener.log.end();
}

TEST(SchedulerTest, ListenerHearsQuietBetweenMessagesAndOnceMoreAfterTheLastEvent) {
  Sim sim(2);
  const auto summary = sim.Run({Point("a", 2, 2), Point("b", 1, 1), Point("c", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  // Points end at different times, so the scheduler waits (quiet) between their answers.
  EXPECT_GE(sim.listener.quiet_calls, 3);
  EXPECT_EQ(sim.listener.events_before_last_quiet, sim.listener.log.size());
}

TEST(SchedulerTest, DispatchAheadSendsTheNextPointBeforeTheCurrentEndsAndStartsItAfter) {
  Sim sim(1, AheadOptions(2));
  sim.world.group(0).fail_points["b"] = 1;  // b#1 answers PointFailed: the next one still starts
  const auto summary =
      sim.Run({Point("a", 30, 10), Point("b", 20, 10), Point("c", 10, 10)});  // 1 s per 3 units
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"a#1@0", "b#1@0", "c#1@0", "b#2@0"}));
  // No rate before the first completion (t=10): b is sent when the group is idle. Then each point
  // goes 2 s before its predecessor's expected end, and starts when that one ends.
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "b", 1), 10);
  EXPECT_NEAR(SentAt(sim.world, "c", 1), 10 + 20.0 / 3 - 2, 1e-9);  // b expected to take 6.67 s
  EXPECT_NEAR(SentAt(sim.world, "b", 2), 20 + 10.0 / 3 - 2, 1e-9);  // only a's rate is known
  EXPECT_TRUE(Logged(sim.listener, "t=20 start c#1@0"));
  EXPECT_TRUE(Logged(sim.listener, "t=30 start b#2@0"));
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail b#1 failed retry"}));
  EXPECT_EQ(summary.sent_ahead, 2);
  EXPECT_EQ(summary.attempts_started, 4);
  EXPECT_EQ(summary.completed, 3);
  EXPECT_EQ(summary.ignored_messages, 0);
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 40);
  EXPECT_DOUBLE_EQ(summary.groups[0].busy_seconds, 40);
}

TEST(SchedulerTest, DispatchAheadKeepsUpToMaxSentAheadPointsWaitingOnAGroup) {
  SchedulerOptions o = AheadOptions(2.5);
  o.max_sent_ahead = 2;
  Sim sim(1, o);
  std::vector<PendingPoint> points;
  for (int i = 1; i <= 6; ++i) points.push_back(Point("p" + std::to_string(i), 1, 1));
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  // From t=1 (p1 done: 1 s per point) the group's known work is topped up to within 2.5 s, at most
  // 2 points waiting: p3 and p4 at t=1, then one more as each point ends.
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "p2", 1), 1);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "p3", 1), 1);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "p4", 1), 1);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "p5", 1), 2);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "p6", 1), 3);
  for (int i = 2; i <= 6; ++i) {
    EXPECT_TRUE(Logged(sim.listener,
                       "t=" + std::to_string(i - 1) + " start p" + std::to_string(i) + "#1@0"));
  }
  EXPECT_EQ(summary.sent_ahead, 4);
  EXPECT_EQ(summary.attempts_started, 6);
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 6);
}

TEST(SchedulerTest, AttemptFarPastItsEstimateGetsNoMorePointsAndTheSchedulerWaitsQuietly) {
  SchedulerOptions o = AheadOptions(2);
  o.max_sent_ahead = 10;
  Sim sim(1, o);
  // b should take 1 s like a but takes 100: c..g go ahead while its known work ends within 2 s
  // (up to t=4); from t=4 b runs more than 2 s past its estimate, so h waits in the queue until b
  // ends. (A deadline left in the past would make the scheduler poll without waiting: the fake
  // fails the run after a million polls.)
  std::vector<PendingPoint> points = {Point("a", 1, 1), Point("b", 1, 100)};
  for (const char* id : {"c", "d", "e", "f", "g", "h"}) points.push_back(Point(id, 1, 1));
  const auto summary = sim.Run(points);
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "c", 1), 1);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "g", 1), 4);
  EXPECT_GT(SentAt(sim.world, "h", 1), 101);
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 107);
}

TEST(SchedulerTest, StopRequestTakesBackThePointSentAheadBeforeStoppingTheCurrentOne) {
  Sim sim(1, AheadOptions(2));
  sim.world.At(19, [&] { sim.scheduler.RequestStop(); });
  const auto summary = sim.Run({Point("a", 1, 10), Point("b", 1, 10), Point("c", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kInterrupted) << summary.message;
  EXPECT_EQ(summary.pending, 2);
  EXPECT_EQ(summary.sent_ahead, 1);
  EXPECT_EQ(summary.attempts_started, 2);  // c was sent ahead but never started
  std::vector<std::string> stops;
  for (const auto& s : sim.world.sent()) {
    if (const auto* stop = std::get_if<StopPoint>(&s.message)) {
      stops.push_back(stop->point + "#" + std::to_string(stop->attempt));
    }
  }
  EXPECT_EQ(stops, (std::vector<std::string>{"c#1", "b#1"}));
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail b#1 preempted retry"}));
  for (const auto& line : sim.listener.log) EXPECT_EQ(line.find("start c#"), std::string::npos);
  EXPECT_EQ(sim.listener.last_progress.pending, 2);
  EXPECT_EQ(sim.listener.last_progress.running, 0);
}

TEST(SchedulerTest, SilentGroupGivesBackThePointSentAheadAndAnotherGroupRunsItAsItsFirstAttempt) {
  SchedulerOptions o = AheadOptions(2);
  o.heartbeat_grace = 5;
  o.max_sent_ahead = 1;
  Sim sim(2, o);
  sim.world.group(0).silent_after = 6;  // A (10 s) hangs there after its heartbeat at t=5
  const auto summary = sim.Run(
      {Point("A", 10, 10), Point("B", 4, 4), Point("C", 4, 4), Point("D", 1, 3), Point("E", 1, 1)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  // D goes ahead to group 1 at t=6 (C expected to end at 8); E ahead to group 0 at t=8 (A expected
  // at 10). At t=10 group 0 is lost for silence: A and E return to the queue, E as attempt 1 again;
  // group 1 (D until 11) gets A ahead at once and E at 19.
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"A#1@0", "B#1@1", "C#1@1", "D#1@1",
                                                              "E#1@0", "A#2@1", "E#1@1"}));
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "D", 1), 6);
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "E", 1), 8);
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail A#1 heartbeat_lost retry"}));
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);  // "drop E#1"
  EXPECT_FALSE(Logged(sim.listener, "t=10 start E#1@0"));
  EXPECT_TRUE(Logged(sim.listener, "t=11 start A#2@1"));
  EXPECT_TRUE(Logged(sim.listener, "t=21 start E#1@1"));
  int e_starts = 0;
  for (const auto& line : sim.listener.log)
    e_starts += line.find("start E#1@") != std::string::npos;
  EXPECT_EQ(e_starts, 1);
  EXPECT_EQ(sim.listener.completed.size(), 5u);
  for (const auto& [id, results] : sim.listener.completed) EXPECT_EQ(results.size(), 1u) << id;
  EXPECT_EQ(sim.listener.completed.at("E")[0]["group"], 1);
}

TEST(SchedulerTest, GroupPreemptedOnItsOwnDoesNotStartThePointSentAhead) {
  Sim sim(1, AheadOptions(2));
  // b#1 is preempted by the worker itself (SIGTERM) at t=19, after c went ahead at t=18: the group
  // is being stopped and would refuse c, so c is taken back rather than recorded as started.
  sim.world.Inject(19, 0, PointFailed{"b", 1, FailureReason::kPreempted, "SIGTERM", true});
  const auto summary = sim.Run({Point("a", 1, 10), Point("b", 1, 10), Point("c", 1, 10)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.listener.failures, (std::vector<std::string>{"fail b#1 preempted retry"}));
  EXPECT_EQ(sim.world.Dispatches(),
            (std::vector<std::string>{"a#1@0", "b#1@0", "c#1@0", "b#2@0", "c#1@0"}));
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);  // "drop c#1"
  EXPECT_FALSE(Logged(sim.listener, "t=19 start c#1@0"));
  EXPECT_EQ(summary.attempts_started, 4);
  EXPECT_EQ(summary.completed, 3);
}

TEST(SchedulerTest, IdleGroupTakesBackAPointWaitingOnAGroupThatRunsPastItsEstimate) {
  Sim sim(2, AheadOptions(2));
  // Y gives the rate (1 s per unit of cost); X (cost 3) should end at t=3 but takes 30 s. V goes
  // ahead to X's group at t=2; when group 1 falls idle at t=3 with nothing queued, it takes V back.
  const auto summary =
      sim.Run({Point("X", 3, 30), Point("Y", 2, 2), Point("Z", 1, 1), Point("V", 0.5, 0.5)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(),
            (std::vector<std::string>{"X#1@0", "Y#1@1", "Z#1@1", "V#1@0", "V#1@1"}));
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "V", 1), 2);
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);  // "drop V#1"
  EXPECT_TRUE(Logged(sim.listener, "t=3 start V#1@1"));
  EXPECT_EQ(sim.listener.completed.at("V")[0]["group"], 1);
  EXPECT_EQ(summary.completed, 4);
  EXPECT_EQ(summary.attempts_started, 4);
  EXPECT_EQ(summary.ignored_messages, 0);
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 30);
}

TEST(SchedulerTest, PointTakenBackWaitsForItsGroupsAnswerAndIsNeverRunTwice) {
  Sim sim(2, AheadOptions(2));
  // As above, but group 0 does not drop V (as a worker that had already started it when the stop
  // came): V must not go to idle group 1; group 0's result for it, at t=30.5, is recorded then.
  sim.world.group(0).ignore_stop = true;
  const auto summary =
      sim.Run({Point("X", 3, 30), Point("Y", 2, 2), Point("Z", 1, 1), Point("V", 0.5, 0.5)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(), (std::vector<std::string>{"X#1@0", "Y#1@1", "Z#1@1", "V#1@0"}));
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);
  EXPECT_TRUE(Logged(sim.listener, "t=30.5 start V#1@0"));
  EXPECT_EQ(sim.listener.completed.at("V").size(), 1u);
  EXPECT_EQ(sim.listener.completed.at("V")[0]["group"], 0);
  EXPECT_EQ(summary.completed, 4);
  EXPECT_EQ(summary.attempts_started, 4);
  EXPECT_EQ(summary.ignored_messages, 0);  // V's EpochMetrics only shows group 0 alive
  EXPECT_DOUBLE_EQ(summary.makespan_seconds, 30.5);
}

TEST(SchedulerTest, IdleGroupWaitingForAPointToComeBackTakesNoOther) {
  Sim sim(2, AheadOptions(1));
  // Y gives the rate at t=2 (1/1.4 s per unit); then Z (estimated to t=3.8, ends at 3) goes to
  // group 1 and V and W wait on group 0 behind X (estimated to t=2.1, runs 30 s). Group 0 ignores
  // stops. Idle group 1 takes back W at t=3 and then waits for group 0's answer: it must not take
  // V too.
  sim.world.group(0).ignore_stop = true;
  const auto summary = sim.Run({Point("X", 3, 30), Point("Y", 2.8, 2), Point("Z", 2.5, 1),
                                Point("V", 0.5, 0.5), Point("W", 0.4, 0.4)});
  EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
  EXPECT_EQ(sim.world.Dispatches(),
            (std::vector<std::string>{"X#1@0", "Y#1@1", "Z#1@1", "V#1@0", "W#1@0"}));
  EXPECT_EQ(sim.world.CountSent(0, kStopPoint), 1);
  EXPECT_EQ(summary.completed, 5);
  EXPECT_EQ(summary.attempts_started, 5);
}

TEST(SchedulerTest, TimedOutGroupHasUntilStopGraceToAnswerAboutAPointTakenBack) {
  SchedulerOptions o = AheadOptions(2);
  o.point_timeout = 5;
  o.stop_grace = 2;
  Sim sim(3, o);
  // V waits on group 0 behind X (30 s); idle group 2 takes it back at t=3, but group 0 does not
  // answer (it ignores stops). X times out at t=5 (and is retried on group 2): group 0 may still
  // answer about V until t=7, so V goes to group 1 (idle since U ended at t=5) only then.
  sim.world.group(0).ignore_stop = true;
  sim.Run({Point("X", 3, 30), Point("Y", 2.8, 1), Point("Z", 2.5, 3), Point("U", 1.5, 4),
           Point("V", 0.5, 0.5)});
  EXPECT_DOUBLE_EQ(SentAt(sim.world, "V", 1), 1);
  for (const char* early : {"t=5 start V#1@1", "t=5 start V#1@2", "t=3 start V#1@2"}) {
    EXPECT_FALSE(Logged(sim.listener, early)) << early;
  }
  EXPECT_TRUE(Logged(sim.listener, "t=7 start V#1@1"));
  EXPECT_EQ(sim.listener.completed.count("V"), 1u);
}

TEST(SchedulerTest, DispatchAheadKeepsEveryPointOnceAndStaysNearTheLptSchedule) {
  for (double ahead : {0.5, 2.0, 10.0}) {
    Sim sim(4, AheadOptions(ahead));
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> seconds(1, 50);
    std::vector<PendingPoint> points;
    std::vector<double> durations;
    for (int i = 0; i < 41; ++i) {
      const double s = std::round(seconds(rng));
      points.push_back(Point("p" + std::to_string(i), s, s));
      durations.push_back(s);
    }
    const auto summary = sim.Run(points);
    EXPECT_EQ(summary.end, RunEnd::kCompleted) << summary.message;
    EXPECT_EQ(summary.completed, 41);
    EXPECT_EQ(summary.attempts_started, 41);
    EXPECT_GT(summary.sent_ahead, 0);
    ASSERT_EQ(sim.listener.completed.size(), 41u);
    for (const auto& [id, results] : sim.listener.completed) EXPECT_EQ(results.size(), 1u) << id;
    const auto bounds = ComputeLptBounds(durations, 4);
    ASSERT_TRUE(bounds.ok());
    // A point bound to a group early may wait up to `ahead` there instead of starting elsewhere.
    EXPECT_LE(summary.makespan_seconds, bounds->lpt_makespan + ahead) << "ahead " << ahead;
  }
}

TEST(SchedulerTest, RejectsBadOptionsAndPointsWithoutSendingAnything) {
  struct Case {
    SchedulerOptions options;
    const char* names;
  };
  std::vector<Case> cases;
  auto with = [](auto edit, const char* name) {
    SchedulerOptions o;
    edit(o);
    return Case{o, name};
  };
  cases.push_back(with([](SchedulerOptions& o) { o.max_attempts = 0; }, "max_attempts"));
  cases.push_back(with([](SchedulerOptions& o) { o.point_timeout = 0; }, "point_timeout"));
  cases.push_back(
      with([](SchedulerOptions& o) { o.heartbeat_interval = -1; }, "heartbeat_interval"));
  cases.push_back(with([](SchedulerOptions& o) { o.heartbeat_grace = 1; }, "heartbeat_grace"));
  cases.push_back(with([](SchedulerOptions& o) { o.ready_timeout = NAN; }, "ready_timeout"));
  cases.push_back(with([](SchedulerOptions& o) { o.stop_grace = -1; }, "stop_grace"));
  cases.push_back(with([](SchedulerOptions& o) { o.max_poll_wait = 0; }, "max_poll_wait"));
  cases.push_back(
      with([](SchedulerOptions& o) { o.progress_interval = INFINITY; }, "progress_interval"));
  cases.push_back(with([](SchedulerOptions& o) { o.dispatch_ahead = -0.5; }, "dispatch_ahead"));
  cases.push_back(with([](SchedulerOptions& o) { o.max_sent_ahead = 0; }, "max_sent_ahead"));
  std::string why;
  EXPECT_TRUE(SchedulerOptions().IsValid(&why)) << why;
  for (const auto& c : cases) {
    Sim sim(1, c.options);
    const auto result = sim.scheduler.Run({Point("a", 1, 1)});
    ASSERT_FALSE(result.ok()) << c.names;
    EXPECT_NE(result.status().message().find(c.names), std::string::npos)
        << result.status().message();
    EXPECT_TRUE(sim.world.sent().empty());
  }
  auto bad_points = [](std::vector<PendingPoint> points, const char* expect) {
    Sim sim(1);
    const auto result = sim.scheduler.Run(std::move(points));
    ASSERT_FALSE(result.ok()) << expect;
    EXPECT_EQ(result.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(result.status().message().find(expect), std::string::npos)
        << result.status().message();
    EXPECT_TRUE(sim.world.sent().empty());
  };
  bad_points({Point("a", 1, 1), Point("a", 2, 1)}, "duplicate id");
  bad_points({Point("", 1, 1)}, "empty id");
  bad_points({Point("a", -1, 1)}, "cost");
  PendingPoint spent = Point("a", 1, 1);
  spent.attempts = spent.failures = 3;
  bad_points({spent}, "max_attempts is 3");

  Sim twice(1);
  ASSERT_TRUE(twice.scheduler.Run({}).ok());
  const auto again = twice.scheduler.Run({});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kFailedPrecondition);
}

TEST(TransportWireTest, EveryMessageRoundTrips) {
  const std::vector<ToGroup> to = {
      RunPoint{"abc", 3, {{"model", {{"layers", 2}}}}, "/ckpt/abc", 10}, StopPoint{"abc", 3},
      Shutdown{}};
  for (const auto& m : to) {
    const std::string bytes = EncodeMessage(m);
    auto back = DecodeToGroup(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(EncodeMessage(*back), bytes);
    EXPECT_EQ(back->index(), m.index());
  }
  const std::vector<FromGroup> from = {
      Ready{},
      Heartbeat{"abc", 3, 123456789012ULL, 4},
      EpochMetrics{"abc", 3, 4, {{"loss", 0.25}}},
      PointDone{"abc", 3, {{"hr@10", 0.5}}},
      PointFailed{"abc", 3, FailureReason::kDiverged, "NaN at step 7", false},
      GroupLost{"rank 3 died"}};
  for (const auto& m : from) {
    const std::string bytes = EncodeMessage(m);
    auto back = DecodeFromGroup(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(EncodeMessage(*back), bytes);
    EXPECT_EQ(back->index(), m.index());
  }
  const auto failed = DecodeFromGroup(
      EncodeMessage(FromGroup(PointFailed{"p", 2, FailureReason::kHeartbeatLost, "m", false})));
  ASSERT_TRUE(failed.ok());
  const auto& f = std::get<PointFailed>(*failed);
  EXPECT_EQ(f.reason, FailureReason::kHeartbeatLost);
  EXPECT_EQ(f.attempt, 2u);
  EXPECT_FALSE(f.retryable);
}

TEST(TransportWireTest, BadBytesAreErrorsNamingTheProblem) {
  auto error = [](const std::string& bytes) {
    auto r = DecodeFromGroup(bytes);
    EXPECT_FALSE(r.ok()) << bytes;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(error("{not json").find("control message"), std::string::npos);
  EXPECT_NE(error("[1]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error(R"({"type":"bogus"})").find("unknown message type 'bogus'"), std::string::npos);
  EXPECT_NE(error(R"({"type":"heartbeat","point":"p","step":1,"epoch":0})").find("'attempt'"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"heartbeat","point":"p","attempt":-1,"step":1,"epoch":0})")
                .find("key 'attempt' has the wrong type"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"point_failed","point":"p","attempt":1,"reason":"oops",)"
                  R"("message":"","retryable":true})")
                .find("unknown failure reason 'oops'"),
            std::string::npos);
  EXPECT_FALSE(DecodeToGroup(R"({"type":"ready"})").ok());  // a reply is not an order
}

TEST(LptBoundsTest, KnownInstanceAndErrors) {
  // LPT puts 3,3 on both machines, then 2,2 one each, then the last 2: 7; the optimum is 6 (3+3,
  // 2+2+2).
  auto b = ComputeLptBounds({2, 3, 2, 3, 2}, 2);
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->lower_bound, 6);
  EXPECT_DOUBLE_EQ(b->lpt_makespan, 7);
  b = ComputeLptBounds({10, 1, 1}, 4);  // the longest job dominates
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->lower_bound, 10);
  EXPECT_DOUBLE_EQ(b->lpt_makespan, 10);
  b = ComputeLptBounds({}, 3);
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->lpt_makespan, 0);
  EXPECT_FALSE(ComputeLptBounds({1}, 0).ok());
  EXPECT_FALSE(ComputeLptBounds({1, -2}, 2).ok());
  EXPECT_FALSE(ComputeLptBounds({NAN}, 2).ok());
}

}  // namespace
}  // namespace perflaw::orchestrator
