// A real MPI job for the transport: this program is rank 0 (the orchestrator's side), the other
// ranks are perflaw-worker serve:
//   mpirun -np 1 perflaw_mpi_transport_job [RANKS_PER_POINT] : -np 2*RANKS_PER_POINT perflaw-worker
//   serve
// First the protocol by hand on group 0 (heartbeats, epoch metrics, stop -> preempted with a
// checkpoint, resume from it), then the Scheduler over both groups with a diverging point.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <map>
#include <set>

#include "orchestrator/schedule/mpi_transport.h"
#include "orchestrator/schedule/scheduler.h"

namespace perflaw::orchestrator {
namespace {

MpiTransport* g_transport = nullptr;
int g_ranks_per_point = 1;
std::string g_dir;

nlohmann::json Point(uint32_t epochs, double lr, uint32_t d_model) {
  return {{"data",
           {{"path", std::string(PERFLAW_SHARED_DATA_DIR) + "/ml-100k.inter"},
            {"format", "atomic"},
            {"max_seq_len", 20}}},
          {"model", {{"type", "sasrec"}, {"layers", 1}, {"d_model", d_model}, {"heads", 1}}},
          {"train", {{"epochs", epochs}, {"batch_size", 128}, {"lr", lr}}},
          {"eval", {{"protocol", "sampled:20"}, {"ks", {10}}}},
          {"seed", 0},
          {"threads", 1}};
}

// Messages read while driving the protocol by hand that the scheduler must still see.
class Replay final : public Transport {
 public:
  explicit Replay(Transport* inner) : inner_(inner) {}
  void Keep(const Incoming& m) { kept_.push_back(m); }
  int GroupCount() const override { return inner_->GroupCount(); }
  Status Send(int group, const ToGroup& message) override { return inner_->Send(group, message); }
  StatusOr<std::optional<Incoming>> Poll(double timeout) override {
    if (kept_.empty()) return inner_->Poll(timeout);
    Incoming m = kept_.front();
    kept_.pop_front();
    return std::optional<Incoming>(m);
  }

 private:
  Transport* inner_;
  std::deque<Incoming> kept_;
};

Replay* g_replay = nullptr;

// The next message from group 0 (others are kept for the scheduler), within 120 s.
FromGroup NextFromGroup0() {
  for (int i = 0; i < 1200; ++i) {
    StatusOr<std::optional<Incoming>> in = g_transport->Poll(0.1);
    EXPECT_TRUE(in.ok()) << in.status().message();
    if (!in.ok()) break;
    if (!in->has_value()) continue;
    if ((*in)->group != 0) {
      g_replay->Keep(**in);
      continue;
    }
    return (*in)->message;
  }
  ADD_FAILURE() << "no message from group 0 within 120 s";
  return GroupLost{"timeout"};
}

TEST(MpiTransportJob, GroupsAndHosts) {
  ASSERT_EQ(g_transport->GroupCount(), 2);
  std::vector<int> second;
  for (int i = 0; i < g_ranks_per_point; ++i) second.push_back(1 + g_ranks_per_point + i);
  EXPECT_EQ(g_transport->GroupRanks(1), second);
  ASSERT_EQ(g_transport->GroupHosts(0).size(), size_t(g_ranks_per_point));
  EXPECT_FALSE(g_transport->GroupHosts(0)[0].empty());
}

TEST(MpiTransportJob, StopCheckpointsAndTheNextAttemptResumes) {
  ASSERT_TRUE(std::holds_alternative<Ready>(NextFromGroup0()));
  const std::string ckpt = g_dir + "/ckpt-a";
  RunPoint run{"a", 1, Point(4, 0.002, 16), ckpt, 0.05};
  ASSERT_TRUE(g_transport->Send(0, run).ok());
  int heartbeats = 0;
  while (true) {
    FromGroup m = NextFromGroup0();
    if (const auto* hb = std::get_if<Heartbeat>(&m)) {
      EXPECT_EQ(hb->point, "a");
      EXPECT_EQ(hb->attempt, 1u);
      ++heartbeats;
      continue;
    }
    const auto* epoch = std::get_if<EpochMetrics>(&m);
    ASSERT_NE(epoch, nullptr) << EncodeMessage(m);
    EXPECT_EQ(epoch->epoch, 1u);
    EXPECT_TRUE(epoch->metrics.contains("valid")) << epoch->metrics.dump();
    break;
  }
  EXPECT_GE(heartbeats, 1);
  ASSERT_TRUE(g_transport->Send(0, StopPoint{"a", 1}).ok());
  FromGroup m = NextFromGroup0();
  while (std::holds_alternative<Heartbeat>(m) || std::holds_alternative<EpochMetrics>(m))
    m = NextFromGroup0();
  const auto* failed = std::get_if<PointFailed>(&m);
  ASSERT_NE(failed, nullptr) << EncodeMessage(m);
  EXPECT_EQ(failed->reason, FailureReason::kPreempted) << failed->message;
  EXPECT_TRUE(failed->retryable);
  EXPECT_TRUE(std::filesystem::exists(ckpt + "/checkpoint.pt"));
  ASSERT_TRUE(std::holds_alternative<Ready>(NextFromGroup0()));

  // Attempt 2 resumes: it reports only the epochs it trains, and the result has all four.
  ASSERT_TRUE(g_transport->Send(0, RunPoint{"a", 2, Point(4, 0.002, 16), ckpt, 0.05}).ok());
  std::set<uint32_t> epochs;
  while (true) {
    FromGroup r = NextFromGroup0();
    if (const auto* e = std::get_if<EpochMetrics>(&r)) {
      EXPECT_EQ(e->attempt, 2u);
      epochs.insert(e->epoch);
    }
    if (const auto* done = std::get_if<PointDone>(&r)) {
      EXPECT_EQ(done->attempt, 2u);
      EXPECT_EQ(done->result.at("status"), "ok") << done->result.dump();
      EXPECT_EQ(done->result.at("epochs").size(), 4u);
      EXPECT_EQ(done->result.at("world_size"), g_ranks_per_point);
      break;
    }
    ASSERT_FALSE(std::holds_alternative<PointFailed>(r)) << EncodeMessage(r);
  }
  EXPECT_FALSE(epochs.count(1)) << "epoch 1 came from the checkpoint";
  EXPECT_TRUE(epochs.count(4));
  // Group 0's Ready after the point stays unread: the scheduler below starts from it.
}

struct Recorder final : SchedulerListener {
  std::map<std::string, int> completed, epochs;
  std::map<std::string, FailureReason> failed;
  std::map<std::string, bool> retry;
  std::map<std::string, std::string> why;
  void OnAttemptStarted(const std::string&, uint32_t, int) override {}
  void OnEpochMetrics(const std::string& p, uint32_t, uint32_t, const nlohmann::json&) override {
    epochs[p]++;
  }
  void OnPointCompleted(const std::string& p, uint32_t, const nlohmann::json& r) override {
    completed[p]++;
    EXPECT_EQ(r.at("status"), "ok");
  }
  void OnAttemptFailed(const std::string& p, uint32_t, FailureReason reason,
                       const std::string& message, bool will_retry) override {
    failed[p] = reason;
    why[p] = message;
    retry[p] = will_retry;
  }
  void OnGroupStateChanged(int, GroupState, const std::string&) override {}
  void OnProgress(const Progress&) override {}
};

TEST(MpiTransportJob, SchedulerRunsPointsOnBothGroupsAndADivergingOneFails) {
  std::vector<PendingPoint> points;
  for (uint32_t d : {8u, 16u, 24u}) {
    points.push_back({"ok-" + std::to_string(d), Point(2, 0.002, d), double(d), "", 0, 0, {}});
  }
  // Decoupled weight decay with lr * weight_decay = 10 multiplies every weight by -9 per step: the
  // loss overflows within the first epoch (lr itself is bounded by the config's check).
  nlohmann::json nan = Point(2, 10, 8);
  nan["train"]["optimizer"] = "adamw";
  nan["train"]["weight_decay"] = 1;
  points.push_back({"nan", nan, 1.0, "", 0, 0, {}});
  SchedulerOptions options;
  options.heartbeat_interval = 1.0;
  options.ready_timeout = 60;
  // Once the first point completes, the group still busy is sent the next point ahead: the worker
  // holds it and starts it when its current one ends.
  options.dispatch_ahead = 60;
  Recorder recorder;
  SteadyClock clock;
  Scheduler scheduler(options, g_replay, &clock, &recorder);
  StatusOr<SchedulerSummary> summary = scheduler.Run(points);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->end, RunEnd::kCompleted) << summary->message;
  EXPECT_EQ(summary->completed, 3);
  EXPECT_EQ(summary->failed, 1);
  for (uint32_t d : {8u, 16u, 24u}) {
    EXPECT_EQ(recorder.completed["ok-" + std::to_string(d)], 1);
    EXPECT_EQ(recorder.epochs["ok-" + std::to_string(d)], 2);
  }
  ASSERT_TRUE(recorder.failed.count("nan"));
  EXPECT_EQ(recorder.failed["nan"], FailureReason::kDiverged) << recorder.why["nan"];
  EXPECT_FALSE(recorder.retry["nan"]);
  EXPECT_GE(summary->groups.at(0).attempts, 1);
  EXPECT_GE(summary->groups.at(1).attempts, 1);
  EXPECT_GE(summary->sent_ahead, 1);
  EXPECT_EQ(summary->attempts_started, 4);  // no point sent ahead ran twice or got lost
  EXPECT_TRUE(g_transport->Flush(30).ok());
}

}  // namespace
}  // namespace perflaw::orchestrator

int main(int argc, char** argv) {
  using namespace perflaw::orchestrator;
  auto runtime = MpiRuntime::Init(&argc, &argv);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", runtime.status().message().c_str());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_ranks_per_point = std::atoi(argv[1]);
  auto transport = MpiTransport::Create(g_ranks_per_point);
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().message().c_str());
    return 1;
  }
  g_transport = transport->get();
  Replay replay(g_transport);
  g_replay = &replay;
  g_dir =
      (std::filesystem::temp_directory_path() / ("perflaw-mpi-job-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(g_dir);
  const int rc = RUN_ALL_TESTS();
  std::filesystem::remove_all(g_dir);
  return rc;
}
