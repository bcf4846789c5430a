// The worker group's protocol logic (worker/group_server.h) without mpirun: a fake link to rank 0,
// fake group ranks, a scripted runner and a fake clock (tests/worker/group_fakes.h).
#include "worker/group_server.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "tests/worker/group_fakes.h"

namespace perflaw::worker {
namespace {

using testing::FakeClock;
using testing::FakeGroupRanks;
using testing::FakeLink;
using testing::FakeRunner;
using testing::Order;
namespace msg = protocol;

// One rank's server on a thread of its own.
class Serving {
 public:
  explicit Serving(GroupServer* server) : thread_([this, server] { summary_ = server->Run(); }) {}
  ~Serving() {
    if (thread_.joinable()) thread_.join();
  }
  StatusOr<GroupServerSummary> Join() {
    thread_.join();
    return summary_;
  }

 private:
  StatusOr<GroupServerSummary> summary_ = Status::Internal("not finished");
  std::thread thread_;
};

template <typename T>
std::vector<T> All(const std::vector<msg::FromGroup>& sent) {
  std::vector<T> out;
  for (const msg::FromGroup& m : sent)
    if (const auto* t = std::get_if<T>(&m)) out.push_back(*t);
  return out;
}

// The sent messages as "ready", "done p1#1", "failed p1#1 preempted", "heartbeat p1#1", "epoch
// ...".
std::vector<std::string> Trace(const std::vector<msg::FromGroup>& sent, bool heartbeats = false) {
  std::vector<std::string> out;
  for (const msg::FromGroup& m : sent) {
    if (std::holds_alternative<msg::Ready>(m)) out.push_back("ready");
    if (const auto* d = std::get_if<msg::PointDone>(&m))
      out.push_back("done " + d->point + "#" + std::to_string(d->attempt));
    if (const auto* f = std::get_if<msg::PointFailed>(&m))
      out.push_back("failed " + f->point + "#" + std::to_string(f->attempt) + " " +
                    msg::FailureReasonName(f->reason));
    if (const auto* h = std::get_if<msg::Heartbeat>(&m); h && heartbeats)
      out.push_back("heartbeat " + h->point + "#" + std::to_string(h->attempt));
    if (const auto* e = std::get_if<msg::EpochMetrics>(&m))
      out.push_back("epoch " + e->point + "#" + std::to_string(e->attempt) + " " +
                    std::to_string(e->epoch));
  }
  return out;
}

using Strings = std::vector<std::string>;

// A group of one: the leader alone, with its link.
class GroupServerTest : public ::testing::Test {
 protected:
  GroupServerTest() { options_.refusal_delay = 0; }
  // A test that failed half-way leaves no thread waiting.
  ~GroupServerTest() override {
    fake_.ReleaseAll();
    link_.Deliver(msg::Shutdown{});
    serving_.reset();
  }

  void Start() {
    server_.emplace(options_, ranks_.channel(0), &link_, runner_ ? runner_ : fake_.AsRunner(),
                    clock_.AsFunction());
    serving_.emplace(&*server_);
    ASSERT_TRUE(link_.WaitForCount<msg::Ready>(1));
  }
  GroupServerSummary Finish() {
    StatusOr<GroupServerSummary> summary = serving_->Join();
    EXPECT_TRUE(summary.ok()) << summary.status().message();
    return summary.ok() ? *summary : GroupServerSummary{};
  }
  GroupServerSummary Shutdown() {
    link_.Deliver(msg::Shutdown{});
    return Finish();
  }
  bool WaitTrace(const Strings& expected) {
    const bool done = link_.WaitUntil(
        [&](const std::vector<msg::FromGroup>& sent) { return Trace(sent) == expected; });
    EXPECT_EQ(Trace(link_.sent()), expected);
    return done;
  }
  // Starts serving with `order` running, held in the runner until fake_.Release: later orders
  // queue behind it. Returns whether the runner started it.
  bool StartBlockedOn(const msg::RunPoint& order) {
    fake_.Block(order.point);
    Start();
    link_.Deliver(order);
    return fake_.WaitStarted(order.point);
  }
  // Checks the index-th PointFailed sent so far.
  void ExpectFailed(size_t index, bool retryable, const std::string& message) {
    const auto failed = All<msg::PointFailed>(link_.sent());
    ASSERT_GT(failed.size(), index);
    EXPECT_EQ(failed[index].retryable, retryable) << message;
    EXPECT_EQ(failed[index].message, message);
  }
  // Lets the control thread run a few turns (its naps are real time, at most 2 ms).
  static void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }

  GroupServerOptions options_;
  FakeClock clock_;
  FakeLink link_;
  FakeGroupRanks ranks_{1};
  FakeRunner fake_;
  PointRunner runner_;  // instead of fake_ when set
  std::optional<GroupServer> server_;
  std::optional<Serving> serving_;
};

TEST(GroupServerSummaryTest, StartsAsNotRun) {
  const GroupServerSummary summary;
  EXPECT_EQ(summary.end, ServeEnd::kNotRun);
  EXPECT_EQ(summary.message, "not run");
  EXPECT_STREQ(ServeEndName(summary.end), "not_run");
}

TEST_F(GroupServerTest, SaysReadyAtStartAndLeavesOnShutdown) {
  Start();
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.end, ServeEnd::kShutdown);
  EXPECT_EQ(Trace(link_.sent()), Strings({"ready"}));
  EXPECT_EQ(link_.flushes(), 1);  // the last sends are delivered before the thread ends
  EXPECT_EQ(summary.attempts, 0);
  EXPECT_TRUE(fake_.calls().empty());
}

TEST_F(GroupServerTest, RunsAnOrderAndAnswersWithItsResultThenReady) {
  fake_.ReportEpochs(2);
  Start();
  link_.Deliver(Order("p1", 3));
  ASSERT_TRUE(WaitTrace({"ready", "epoch p1#3 1", "epoch p1#3 2", "done p1#3", "ready"}));
  const auto done = All<msg::PointDone>(link_.sent());
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result["status"], "ok");
  const auto epochs = All<msg::EpochMetrics>(link_.sent());
  EXPECT_EQ(epochs[1].metrics["steps"], 20);
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].point, "p1");
  EXPECT_EQ(calls[0].attempt, 3u);
  EXPECT_TRUE(calls[0].had_stop_flag);
  EXPECT_TRUE(calls[0].had_on_epoch);
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.attempts, 1);
}

TEST_F(GroupServerTest, RunnerSeesTheOrderAndItsParsedConfig) {
  std::string checkpoint_dir;
  uint32_t layers = 0;
  runner_ = [&](const AttemptContext& attempt) {
    checkpoint_dir = attempt.order->checkpoint_dir;
    layers = attempt.config->model.layers;
    PointResult ok;
    ok.status = RunStatus::kOk;
    return ok;
  };
  Start();
  msg::RunPoint order = Order("p1");
  order.config["model"] = {{"layers", 3}};
  link_.Deliver(order);
  ASSERT_TRUE(WaitTrace({"ready", "done p1#1", "ready"}));
  Shutdown();
  EXPECT_EQ(checkpoint_dir, "/tmp/ckpt-p1");
  EXPECT_EQ(layers, 3u);
}

// The reply to each way an attempt can end (docs/scheduler.md).
TEST(ReplyToTest, MapsEachEndToItsReasonAndRetryableFlag) {
  const msg::RunPoint run = Order("p", 2);
  struct Case {
    RunStatus status;
    bool user_error, storage_error;
    msg::FailureReason reason;
    bool retryable;
  };
  const Case cases[] = {
      {RunStatus::kInterrupted, false, false, msg::FailureReason::kPreempted, true},
      {RunStatus::kDiverged, false, false, msg::FailureReason::kDiverged, false},
      {RunStatus::kFailed, false, true, msg::FailureReason::kStorage, true},
      {RunStatus::kFailed, true, false, msg::FailureReason::kFailed, false},
      {RunStatus::kFailed, false, false, msg::FailureReason::kFailed, true},
      {RunStatus::kNotRun, false, false, msg::FailureReason::kFailed, true},
  };
  for (const Case& c : cases) {
    PointResult result;
    result.status = c.status;
    result.message = "why";
    result.user_error = c.user_error;
    result.storage_error = c.storage_error;
    const msg::FromGroup reply = ReplyTo(run, result);
    const auto* failed = std::get_if<msg::PointFailed>(&reply);
    ASSERT_NE(failed, nullptr) << RunStatusName(c.status);
    EXPECT_EQ(failed->point, "p");
    EXPECT_EQ(failed->attempt, 2u);
    EXPECT_EQ(failed->reason, c.reason) << RunStatusName(c.status);
    EXPECT_EQ(failed->retryable, c.retryable) << RunStatusName(c.status);
    EXPECT_EQ(failed->message, "why");
  }
  PointResult ok;
  ok.status = RunStatus::kOk;
  const msg::FromGroup reply = ReplyTo(run, ok);
  const auto* done = std::get_if<msg::PointDone>(&reply);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->attempt, 2u);
  EXPECT_EQ(done->result["status"], "ok");
}

TEST_F(GroupServerTest, AFailedAttemptIsAnsweredWithItsReason) {
  PointResult diverged;
  diverged.status = RunStatus::kDiverged;
  diverged.message = "diverged at step 5";
  fake_.SetResult("p1", diverged);
  Start();
  link_.Deliver(Order("p1"));
  ASSERT_TRUE(WaitTrace({"ready", "failed p1#1 diverged", "ready"}));
  ExpectFailed(0, /*retryable=*/false, "diverged at step 5");
  Shutdown();
}

TEST_F(GroupServerTest, AnInvalidConfigurationFailsWithoutRetryAndWithoutRunning) {
  Start();
  msg::RunPoint order = Order("p1");
  order.config = {{"data", {{"path", "x.txt"}}}, {"modle", {}}};
  link_.Deliver(order);
  ASSERT_TRUE(WaitTrace({"ready", "failed p1#1 failed", "ready"}));
  const auto failed = All<msg::PointFailed>(link_.sent());
  EXPECT_FALSE(failed[0].retryable);  // a user error: a retry would fail the same way
  EXPECT_NE(failed[0].message.find("point p1"), std::string::npos) << failed[0].message;
  EXPECT_NE(failed[0].message.find("modle"), std::string::npos) << failed[0].message;
  EXPECT_TRUE(fake_.calls().empty());
  Shutdown();
}

TEST_F(GroupServerTest, AnExceptionFromTheRunnerIsARetryableFailure) {
  runner_ = [](const AttemptContext&) -> PointResult { throw std::runtime_error("boom"); };
  Start();
  link_.Deliver(Order("p1"));
  ASSERT_TRUE(WaitTrace({"ready", "failed p1#1 failed", "ready"}));
  ExpectFailed(0, /*retryable=*/true, "boom");
  Shutdown();
}

TEST_F(GroupServerTest, OrdersSentAheadWaitAndNoReadyIsSentWhileOneWaits) {
  ASSERT_TRUE(StartBlockedOn(Order("p1")));
  link_.Deliver(Order("p2"));
  link_.Deliver(Order("p3"));
  ASSERT_TRUE(link_.WaitAllTaken());
  fake_.Release("p1");
  ASSERT_TRUE(WaitTrace({"ready", "done p1#1", "done p2#1", "done p3#1", "ready"}));
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].point, "p2");
  EXPECT_EQ(calls[2].point, "p3");
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.attempts, 3);
}

TEST_F(GroupServerTest, ShutdownComesAfterTheOrdersBeforeIt) {
  ASSERT_TRUE(StartBlockedOn(Order("p1")));
  link_.Deliver(Order("p2"));
  link_.Deliver(msg::Shutdown{});
  ASSERT_TRUE(link_.WaitAllTaken());
  fake_.Release("p1");
  const GroupServerSummary summary = Finish();
  EXPECT_EQ(summary.end, ServeEnd::kShutdown);
  EXPECT_EQ(summary.attempts, 2);
  // After p1 a queued order (p2) was waiting: no Ready; after p2 only Shutdown was (not a point).
  EXPECT_EQ(Trace(link_.sent()), Strings({"ready", "done p1#1", "done p2#1"}));
}

TEST_F(GroupServerTest, StopPointForTheRunningAttemptStopsItAsPreempted) {
  ASSERT_TRUE(StartBlockedOn(Order("p1", 2)));
  link_.Deliver(msg::StopPoint{"p1", 2});
  ASSERT_TRUE(WaitTrace({"ready", "failed p1#2 preempted", "ready"}));
  ExpectFailed(0, /*retryable=*/true, "interrupted at step 0");
  Shutdown();
}

TEST_F(GroupServerTest, StopPointForAQueuedOrderDropsItAndAnswersAtOnce) {
  ASSERT_TRUE(StartBlockedOn(Order("p1")));
  link_.Deliver(Order("p2"));
  link_.Deliver(Order("p3"));
  ASSERT_TRUE(link_.WaitAllTaken());
  link_.Deliver(msg::StopPoint{"p2", 1});
  // Protocol version 2: the drop is answered; no Ready while p1 runs.
  ASSERT_TRUE(WaitTrace({"ready", "failed p2#1 preempted"}));
  ExpectFailed(0, /*retryable=*/true, "taken back before it started");
  fake_.Release("p1");
  ASSERT_TRUE(WaitTrace({"ready", "failed p2#1 preempted", "done p1#1", "done p3#1", "ready"}));
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.dropped, 1);
  EXPECT_EQ(summary.attempts, 2);
  for (const FakeRunner::Call& call : fake_.calls()) EXPECT_NE(call.point, "p2");
}

TEST_F(GroupServerTest, StopPointForAnotherOrAnOldAttemptIsIgnored) {
  ASSERT_TRUE(StartBlockedOn(Order("p1", 2)));
  link_.Deliver(msg::StopPoint{"p1", 1});  // an earlier attempt of the running point
  link_.Deliver(msg::StopPoint{"p9", 2});  // a point this group does not have
  ASSERT_TRUE(link_.WaitAllTaken());
  Settle();
  fake_.Release("p1");
  ASSERT_TRUE(WaitTrace({"ready", "done p1#2", "ready"}));
  // A stop for the attempt that just finished: its result is on its way, nothing to do; the next
  // order runs normally.
  link_.Deliver(msg::StopPoint{"p1", 2});
  ASSERT_TRUE(link_.WaitAllTaken());
  link_.Deliver(Order("p2"));
  ASSERT_TRUE(WaitTrace({"ready", "done p1#2", "ready", "done p2#1", "ready"}));
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.dropped, 0);
}

TEST_F(GroupServerTest, HeartbeatsAtTheIntervalWhileBusyAndNoneWhenIdle) {
  fake_.Block("p1");
  fake_.SetProgress(7, 1);
  Start();
  clock_.Advance(100);  // idle: no heartbeat however long
  Settle();
  EXPECT_EQ(link_.Count<msg::Heartbeat>(), 0u);

  link_.Deliver(Order("p1", 1, /*heartbeat_interval=*/4));
  ASSERT_TRUE(fake_.WaitStarted("p1"));
  clock_.Advance(3);  // the first one interval after the start
  Settle();
  EXPECT_EQ(link_.Count<msg::Heartbeat>(), 0u);
  clock_.Advance(2);
  ASSERT_TRUE(link_.WaitForCount<msg::Heartbeat>(1));
  const auto beats = All<msg::Heartbeat>(link_.sent());
  EXPECT_EQ(beats[0].point, "p1");
  EXPECT_EQ(beats[0].attempt, 1u);
  EXPECT_EQ(beats[0].step, 7u);  // the live progress of the running attempt
  EXPECT_EQ(beats[0].epoch, 1u);
  clock_.Advance(3);  // 8 s after the start: the next is due at 9
  Settle();
  EXPECT_EQ(link_.Count<msg::Heartbeat>(), 1u);
  fake_.SetProgress(9, 2);
  Settle();
  clock_.Advance(1);
  ASSERT_TRUE(link_.WaitForCount<msg::Heartbeat>(2));
  EXPECT_EQ(All<msg::Heartbeat>(link_.sent())[1].step, 9u);

  fake_.Release("p1");
  ASSERT_TRUE(WaitTrace({"ready", "done p1#1", "ready"}));
  clock_.Advance(100);
  Settle();
  EXPECT_EQ(link_.Count<msg::Heartbeat>(), 2u);
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.heartbeats, 2);
}

TEST_F(GroupServerTest, WithoutAnIntervalInTheOrderTheDefaultApplies) {
  options_.default_heartbeat_interval = 2;
  ASSERT_TRUE(StartBlockedOn(Order("p1", 1, /*heartbeat_interval=*/0)));
  clock_.Advance(2);
  ASSERT_TRUE(link_.WaitForCount<msg::Heartbeat>(1));
  fake_.Release("p1");
  Shutdown();
}

TEST_F(GroupServerTest, ALinkFailureEndsServingWithTheError) {
  Start();
  link_.FailReceives("probe: the peer is gone");
  const GroupServerSummary summary = Finish();
  EXPECT_EQ(summary.end, ServeEnd::kLinkFailed);
  EXPECT_EQ(summary.message, "link to the orchestrator failed: probe: the peer is gone");
  EXPECT_EQ(link_.flushes(), 0);  // nothing more is delivered over a failed link
}

TEST_F(GroupServerTest, AFailedSendEndsServingAfterTheRunningAttempt) {
  ASSERT_TRUE(StartBlockedOn(Order("p1")));
  link_.FailSends("send to the orchestrator: refused");
  fake_.Release("p1");  // its reply cannot go out
  const GroupServerSummary summary = Finish();
  EXPECT_EQ(summary.end, ServeEnd::kLinkFailed);
  EXPECT_EQ(summary.message, "link to the orchestrator failed: send to the orchestrator: refused");
  EXPECT_EQ(summary.attempts, 1);
}

TEST_F(GroupServerTest, AnUndecodableMessageEndsServing) {
  Start();
  link_.DeliverBytes(R"({"type": "run_point", "point": "p1"})");
  const GroupServerSummary summary = Finish();
  EXPECT_EQ(summary.end, ServeEnd::kLinkFailed);
  EXPECT_NE(summary.message.find("missing key 'attempt'"), std::string::npos) << summary.message;
  EXPECT_TRUE(fake_.calls().empty());
}

TEST_F(GroupServerTest, TerminateStopsTheRunningAttemptAndRefusesLaterOrders) {
  std::atomic<bool> terminate{false};
  options_.terminate = &terminate;
  ASSERT_TRUE(StartBlockedOn(Order("p1")));
  terminate.store(true);  // SIGTERM
  ASSERT_TRUE(WaitTrace({"ready", "failed p1#1 preempted", "ready"}));
  link_.Deliver(Order("p2"));
  ASSERT_TRUE(
      WaitTrace({"ready", "failed p1#1 preempted", "ready", "failed p2#1 preempted", "ready"}));
  ExpectFailed(1, /*retryable=*/true, "the worker is stopping (SIGTERM)");
  const GroupServerSummary summary = Shutdown();
  EXPECT_EQ(summary.end, ServeEnd::kShutdown);
  EXPECT_EQ(summary.attempts, 1);
  EXPECT_EQ(summary.refused, 1);
  EXPECT_EQ(fake_.calls().size(), 1u);
}

TEST(GroupServerOptionsTest, IsValidNamesTheBadOption) {
  GroupServerOptions options;
  std::string why;
  EXPECT_TRUE(options.IsValid(&why));
  options.default_heartbeat_interval = 0;
  EXPECT_FALSE(options.IsValid(&why));
  EXPECT_EQ(why, "group server option default_heartbeat_interval must be > 0 seconds, got 0");
  options = GroupServerOptions();
  options.refusal_delay = -1;
  EXPECT_FALSE(options.IsValid(&why));
  EXPECT_NE(why.find("refusal_delay"), std::string::npos);
  options = GroupServerOptions();
  options.final_send_limit = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(options.IsValid(&why));
  EXPECT_NE(why.find("final_send_limit"), std::string::npos);
}

TEST(GroupServerWiringTest, RefusesInvalidOptionsAndWiringBeforeSendingAnything) {
  FakeLink link;
  FakeRunner runner;
  FakeGroupRanks one(1), two(2);
  GroupServerOptions bad;
  bad.default_heartbeat_interval = -1;
  StatusOr<GroupServerSummary> r = GroupServer(bad, one.channel(0), &link, runner.AsRunner()).Run();
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  // A leader without a link, a follower with one, no runner.
  r = GroupServer({}, one.channel(0), nullptr, runner.AsRunner()).Run();
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  r = GroupServer({}, two.channel(1), &link, runner.AsRunner()).Run();
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  r = GroupServer({}, one.channel(0), &link, nullptr).Run();
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(link.sent().empty());
}

TEST(GroupServerWiringTest, RunsOnce) {
  FakeLink link;
  FakeRunner runner;
  FakeGroupRanks one(1);
  link.Deliver(msg::Shutdown{});
  GroupServer server({}, one.channel(0), &link, runner.AsRunner());
  StatusOr<GroupServerSummary> first = server.Run();
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->end, ServeEnd::kShutdown);
  EXPECT_EQ(server.Run().status().code(), Status::Code::kFailedPrecondition);
}

// A group of two ranks: the leader passes each order to the other rank, both run it in step.
class GroupOfTwoTest : public ::testing::Test {
 protected:
  void Start() {
    leader_.emplace(options_, ranks_.channel(0), &link_, fake_.AsRunner());
    follower_.emplace(options_, ranks_.channel(1), nullptr, fake_.AsRunner());
    leader_serving_.emplace(&*leader_);
    follower_serving_.emplace(&*follower_);
    ASSERT_TRUE(link_.WaitForCount<msg::Ready>(1));
  }

  ~GroupOfTwoTest() override {
    fake_.ReleaseAll();
    link_.Deliver(msg::Shutdown{});
    leader_serving_.reset();
    ranks_.Fail();  // a follower whose leader is gone
    follower_serving_.reset();
  }

  GroupServerOptions options_;
  FakeLink link_;
  FakeGroupRanks ranks_{2};
  FakeRunner fake_;
  std::optional<GroupServer> leader_, follower_;
  std::optional<Serving> leader_serving_, follower_serving_;
};

TEST_F(GroupOfTwoTest, TheOtherRankFollowsTheLeadersOrders) {
  fake_.ReportEpochs(1);
  Start();
  link_.Deliver(Order("p1"));
  ASSERT_TRUE(link_.WaitUntil([](const std::vector<msg::FromGroup>& sent) {
    return Trace(sent) == Strings({"ready", "epoch p1#1 1", "done p1#1", "ready"});
  }));
  link_.Deliver(msg::Shutdown{});
  StatusOr<GroupServerSummary> leader = leader_serving_->Join();
  StatusOr<GroupServerSummary> follower = follower_serving_->Join();
  ASSERT_TRUE(leader.ok() && follower.ok());
  EXPECT_EQ(leader->end, ServeEnd::kShutdown);
  EXPECT_EQ(follower->end, ServeEnd::kShutdown);
  EXPECT_EQ(leader->attempts, 1);
  EXPECT_EQ(follower->attempts, 1);
  EXPECT_EQ(ranks_.shares(), 4);  // two orders, two ranks
  // Only the leader talks to rank 0 (one epoch message, not two) and owns a stop flag; the other
  // rank has the terminate flag (none here) and is stopped through the trainer's agreement.
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 2u);
  int with_on_epoch = 0, with_stop = 0;
  for (const FakeRunner::Call& c : calls) {
    EXPECT_EQ(c.point, "p1");
    with_on_epoch += c.had_on_epoch;
    with_stop += c.had_stop_flag;
  }
  EXPECT_EQ(with_on_epoch, 1);
  EXPECT_EQ(with_stop, 1);
}

TEST_F(GroupOfTwoTest, AFailedBroadcastEndsEveryRank) {
  Start();
  ranks_.Fail();
  link_.Deliver(Order("p1"));
  StatusOr<GroupServerSummary> leader = leader_serving_->Join();
  StatusOr<GroupServerSummary> follower = follower_serving_->Join();
  ASSERT_TRUE(leader.ok() && follower.ok());
  EXPECT_EQ(leader->end, ServeEnd::kGroupFailed);
  EXPECT_EQ(follower->end, ServeEnd::kGroupFailed);
  EXPECT_EQ(leader->message, "broadcast inside the worker group failed");
  EXPECT_TRUE(fake_.calls().empty());
}

}  // namespace
}  // namespace perflaw::worker
