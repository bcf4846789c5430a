// The run logic end to end on a fake world: a real sweep YAML, a real SQLite file, simulated
// worker groups on a fake clock. Whole runs, reuse of completed points, stop and resume, a job
// that died, the writer lock, failing points, and the law fit at the end.
#include "orchestrator/run/runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "law/forms.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/schedule/eta.h"
#include "orchestrator/store/sqlite_util.h"
#include "tests/law/known_law.h"
#include "tests/orchestrator/cli/law_world.h"
#include "tests/orchestrator/schedule/fakes.h"
#include "tests/orchestrator/store/db_fixture.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;
using perflaw::testing::TempDir;
namespace fs = std::filesystem;

// HR@10 of a point: an exact scaling law in (layers, d_model), so the fit at the end is known.
double TrueHr(int layers, int d_model) {
  return 0.1 + 0.05 * std::log(layers) + 0.04 * std::log(d_model);
}

constexpr const char kSweep[] = R"(name: unit
data:
  synthetic: {users: 50, items: 30, mean_length: 8, predictability: 0.5, seed: 1}
model: {type: sasrec, heads: 1}
train: {epochs: 1}
eval: {protocol: "sampled:10", ks: [10]}
grid:
  model.layers: [1, 2, 4]
  model.d_model: [8, 16, 32, 64]
resources: {ranks_per_point: 1, workers: 2}
policy: {max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 10}
law: {metrics: [HR@10], forms: [scaling], group_by: []}
db: out/r.db
work_dir: out/work
)";

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("sweep.yaml", kSweep);
    options_.placement.hosts = [](int g) {
      return std::vector<std::string>{"host" + std::to_string(g)};
    };
    options_.placement.ranks = [](int g) { return std::vector<int>{g + 1}; };
    options_.stop = &stop_;
    options_.scheduler.progress_interval = 0.5;
    options_.progress_line_seconds = 5;
  }

  RunPlan Plan() {
    StatusOr<RunPlan> plan = PlanRun(dir_.File("sweep.yaml"), "");
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? std::move(plan).value() : RunPlan();
  }

  std::string DbPath() const { return dir_.File("out/r.db"); }

  StatusOr<RunOutcome> Execute(const RunPlan& plan, testing::FakeWorld* world,
                               testing::FakeClock* clock, testing::LawWorld** law_world = nullptr,
                               testing::LawWorld::Hr hr = TrueHr) {
    worlds_.push_back(std::make_unique<testing::LawWorld>(world, std::move(hr)));
    if (law_world) *law_world = worlds_.back().get();
    out_.str("");
    err_.str("");
    return ExecuteRun(plan, worlds_.back().get(), *clock, options_, out_, err_);
  }

  int64_t Count(const std::string& sql) { return perflaw::testing::QueryInt(DbPath(), sql); }
  std::string Text(const std::string& sql) { return perflaw::testing::QueryText(DbPath(), sql); }

  TempDir dir_;
  RunOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<testing::LawWorld>> worlds_;
  std::ostringstream out_, err_;
};

TEST_F(RunnerTest, WholeRunRecordsEverythingAndFitsTheLaw) {
  RunPlan plan = Plan();
  ASSERT_EQ(plan.sweep.points.size(), 12u);
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  testing::LawWorld* law_world = nullptr;
  StatusOr<RunOutcome> outcome = Execute(plan, &world, &clock, &law_world);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString() << "\n" << err_.str();
  EXPECT_TRUE(outcome->ran);
  EXPECT_EQ(outcome->exit_code, 0);
  EXPECT_EQ(outcome->counts.completed, 12);
  EXPECT_EQ(outcome->scheduler.completed, 12);
  EXPECT_EQ(outcome->reused_completed, 0);

  EXPECT_EQ(Text("SELECT status FROM sweeps WHERE id = 1"), "COMPLETED");
  EXPECT_EQ(Count("SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE exit_reason = 'completed'"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE hosts = '[\"host1\"]' AND ranks = '[2]'"),
            Count("SELECT count(*) FROM attempts WHERE group_id = 1"));
  EXPECT_GT(Count("SELECT count(*) FROM epoch_metrics"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM result_metrics WHERE metric = 'hr' AND k = 10"), 12);
  // The data term: one row for the one dataset configuration at its max_seq_len (default 50).
  EXPECT_EQ(Count("SELECT count(*) FROM dataset_stats WHERE max_seq_len = 50 AND users = 50 AND "
                  "tokens > 0 AND apen > 0 AND m = 2"),
            1);
  // The stored YAML says where its relative paths resolved (for resume).
  EXPECT_NE(Text("SELECT yaml FROM sweeps").find("# perflaw: base_dir " + dir_.path().string()),
            std::string::npos);

  // Every point's checkpoints live under WORK_DIR/checkpoints/<id>. (A point sent ahead to a busy
  // group and taken back by an idle one is sent twice, as the same attempt.)
  std::set<std::string> sent;
  for (const RunPoint& run : law_world->runs()) {
    EXPECT_EQ(run.checkpoint_dir,
              (fs::path(plan.sweep.work_dir) / "checkpoints" / run.point).string());
    EXPECT_EQ(run.attempt, 1u);
    sent.insert(run.point);
  }
  EXPECT_EQ(sent.size(), 12u);
  EXPECT_TRUE(fs::is_directory(fs::path(plan.sweep.work_dir) / "checkpoints"));
  EXPECT_TRUE(fs::exists(plan.sweep.datasets.at(0).path));  // the synthetic data was made

  // The law at the end: the exact scaling law is recovered and stored.
  EXPECT_EQ(outcome->law.rfind("fitted", 0), 0u) << outcome->law << "\n" << out_.str();
  EXPECT_NE(out_.str().find("law fit: form scaling, metric HR@10"), std::string::npos);
  EXPECT_EQ(Count("SELECT count(*) FROM fits WHERE form = 'scaling' AND metric = 'HR@10'"), 1);
  EXPECT_GT(std::stod(Text("SELECT r2 FROM fits")), 0.999999);
  const json params = json::parse(Text("SELECT params FROM fits"));
  EXPECT_NEAR(params["a"]["value"].get<double>(), 0.05, 1e-9);
  EXPECT_NEAR(params["b"]["value"].get<double>(), 0.04, 1e-9);

  EXPECT_NE(err_.str().find("points 12/12 done, 0 running, 0 failed, 0 pending"), std::string::npos)
      << err_.str();
  EXPECT_FALSE(fs::exists(WriterLockPath(DbPath())));  // released
}

TEST_F(RunnerTest, RunningTheSweepAgainReusesEveryCompletedPoint) {
  RunPlan plan = Plan();
  testing::FakeClock clock1, clock2;
  testing::FakeWorld world1(&clock1, 2), world2(&clock2, 2);
  options_.fit_law = false;
  ASSERT_TRUE(Execute(plan, &world1, &clock1).ok());
  StatusOr<RunOutcome> again = Execute(Plan(), &world2, &clock2);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->exit_code, 0);
  EXPECT_EQ(again->reused_completed, 12);
  EXPECT_EQ(again->scheduler.attempts_started, 0);
  EXPECT_TRUE(world2.Dispatches().empty());
  EXPECT_EQ(Count("SELECT count(*) FROM attempts"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM sweep_points WHERE sweep = 2"), 12);
  EXPECT_EQ(Text("SELECT status FROM sweeps WHERE id = 2"), "COMPLETED");
  EXPECT_EQ(again->law, "skipped: not asked for");
}

TEST_F(RunnerTest, StopThenResumeRerunsNothingCompleted) {
  RunPlan plan = Plan();
  testing::FakeClock clock1;
  testing::FakeWorld world1(&clock1, 1);
  world1.At(40, [&] { stop_.store(true); });  // like SIGTERM
  StatusOr<RunOutcome> first = Execute(plan, &world1, &clock1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->exit_code, 3);
  EXPECT_EQ(first->scheduler.end, RunEnd::kInterrupted);
  EXPECT_EQ(first->law, "skipped: points are left pending (fit after perflaw resume)");
  EXPECT_EQ(Text("SELECT status FROM sweeps"), "INTERRUPTED");
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE exit_reason = 'preempted'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM points WHERE state = 'RUNNING'"), 0);
  const int64_t completed_first = Count("SELECT count(*) FROM points WHERE state = 'COMPLETED'");
  ASSERT_GT(completed_first, 0);
  ASSERT_LT(completed_first, 12);
  const std::string preempted = Text("SELECT point FROM attempts WHERE exit_reason = 'preempted'");
  std::set<std::string> done_first;
  {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(DbPath());
    ASSERT_TRUE(db.ok());
    for (const GridPoint& p : plan.sweep.points) {
      StatusOr<PointRecord> r = (*db)->GetPoint(p.id);
      ASSERT_TRUE(r.ok());
      if (r->state == PointState::kCompleted) done_first.insert(p.id);
    }
  }

  stop_.store(false);
  StatusOr<RunPlan> resume = PlanResume(DbPath(), false);
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  EXPECT_EQ(resume->sweep.work_dir, plan.sweep.work_dir);  // resolved as the run resolved it
  testing::FakeClock clock2;
  testing::FakeWorld world2(&clock2, 2);
  testing::LawWorld* law_world = nullptr;
  StatusOr<RunOutcome> second = Execute(*resume, &world2, &clock2, &law_world);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->exit_code, 0);
  EXPECT_EQ(second->reused_completed, completed_first);
  EXPECT_EQ(second->law.rfind("fitted", 0), 0u) << second->law;
  for (const RunPoint& run : law_world->runs()) {
    EXPECT_EQ(done_first.count(run.point), 0u) << run.point << " ran again";
    if (run.point == preempted) {
      EXPECT_EQ(run.attempt, 2u);  // numbered across runs
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM results"), 12);  // no duplicates
  EXPECT_EQ(Count("SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), 1);  // resume continues the sweep
  EXPECT_EQ(Text("SELECT status FROM sweeps"), "COMPLETED");
}

TEST_F(RunnerTest, ResumeClosesAttemptsLeftRunningByADeadJob) {
  RunPlan plan = Plan();
  testing::FakeClock clock1;
  testing::FakeWorld world1(&clock1, 1);
  world1.At(10, [&] { stop_.store(true); });
  ASSERT_TRUE(Execute(plan, &world1, &clock1).ok());
  // A job killed with -9 leaves its attempt open and its point RUNNING.
  std::string orphan;
  {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(DbPath());
    ASSERT_TRUE(db.ok());
    StatusOr<std::vector<PointRecord>> pending = (*db)->PendingPoints(1);
    ASSERT_TRUE(pending.ok() && !pending->empty());
    orphan = pending->front().id;
    ASSERT_TRUE((*db)->StartAttempt(orphan, 0, {"gone"}, {1}).ok());
  }
  stop_.store(false);
  StatusOr<RunPlan> resume = PlanResume(DbPath(), false);
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  testing::FakeClock clock2;
  testing::FakeWorld world2(&clock2, 2);
  StatusOr<RunOutcome> second = Execute(*resume, &world2, &clock2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->interrupted_attempts_closed, 1);
  EXPECT_EQ(second->exit_code, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE exit_reason = 'interrupted' AND point = '" +
                  orphan + "'"),
            1);
  EXPECT_EQ(Text("SELECT state FROM points WHERE id = '" + orphan + "'"), "COMPLETED");
  EXPECT_EQ(Count("SELECT count(*) FROM results"), 12);
}

TEST_F(RunnerTest, SecondWriterFailsAndWritesNothing) {
  RunPlan plan = Plan();
  fs::create_directories(fs::path(DbPath()).parent_path());
  StatusOr<std::unique_ptr<WriterLock>> held = WriterLock::Acquire(DbPath());
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  Status check = WriterLock::CheckFree(DbPath());
  EXPECT_EQ(check.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(check.message().find("being written by another perflaw run (pid "), std::string::npos)
      << check.message();

  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  StatusOr<RunOutcome> outcome = Execute(plan, &world, &clock);
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.status().IsUserError());
  EXPECT_EQ(outcome.status().message().find('\n'), std::string::npos);  // one line
  EXPECT_FALSE(fs::exists(DbPath()));
  EXPECT_FALSE(fs::exists(plan.sweep.work_dir));
  // The workers were still told to exit.
  EXPECT_EQ(world.CountSent(0, 2), 1);
  EXPECT_EQ(world.CountSent(1, 2), 1);

  held->reset();
  EXPECT_FALSE(fs::exists(WriterLockPath(DbPath())));
  EXPECT_TRUE(WriterLock::CheckFree(DbPath()).ok());
  EXPECT_TRUE(WriterLock::Acquire(DbPath()).ok());
}

TEST_F(RunnerTest, APointConflictWritesNothing) {
  // A stored point whose configuration differs from the sweep's (its id is no longer the hash of
  // it): the run fails with one line and the database file is byte-for-byte as it was.
  RunPlan plan = Plan();
  {
    testing::FakeClock clock;
    testing::FakeWorld world(&clock, 2);
    ASSERT_TRUE(Execute(plan, &world, &clock).ok()) << err_.str();
  }
  {
    StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenForWriting(DbPath());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    StatusOr<Statement> edit =
        Statement::Prepare((*db)->connection(), "UPDATE points SET config = ? WHERE id = ?");
    ASSERT_TRUE(edit.ok());
    ASSERT_TRUE(edit->BindAll(std::string("{\"edited\": true}"), plan.sweep.points[3].id).ok());
    ASSERT_TRUE(edit->Run().ok());
  }
  auto bytes = [&] {
    std::ifstream in(DbPath(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = bytes();
  const int64_t sweeps = Count("SELECT count(*) FROM sweeps");
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  StatusOr<RunOutcome> outcome = Execute(Plan(), &world, &clock);
  ASSERT_FALSE(outcome.ok());
  EXPECT_TRUE(outcome.status().IsUserError()) << outcome.status().ToString();
  EXPECT_NE(outcome.status().message().find("is already stored with a different configuration"),
            std::string::npos)
      << outcome.status().message();
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), sweeps);
  EXPECT_TRUE(bytes() == before) << "the database file changed";
  EXPECT_EQ(world.CountSent(0, 2), 1);  // the workers were still told to exit
}

TEST_F(RunnerTest, FailingPointIsFailedAndTheOthersComplete) {
  RunPlan plan = Plan();
  const std::string bad = plan.sweep.points.at(3).id;
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  world.group(0).fail_points[bad] = 10;
  world.group(1).fail_points[bad] = 10;
  StatusOr<RunOutcome> outcome = Execute(plan, &world, &clock);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->exit_code, 1);
  EXPECT_EQ(outcome->counts.failed, 1);
  EXPECT_EQ(outcome->counts.completed, 11);
  EXPECT_EQ(Text("SELECT state FROM points WHERE id = '" + bad + "'"), "FAILED");
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE exit_reason = 'failed'"), 2);
  EXPECT_NE(err_.str().find(bad + " attempt 2 failed: fake: fails on this group -> FAILED"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(out_.str().find("perflaw resume " + DbPath() + " --retry-failed"), std::string::npos);
  EXPECT_EQ(outcome->law.rfind("fitted", 0), 0u) << outcome->law;  // on the 11 completed

  // resume --retry-failed gives it a fresh budget; this time it works.
  StatusOr<RunPlan> resume = PlanResume(DbPath(), true);
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  testing::FakeClock clock2;
  testing::FakeWorld world2(&clock2, 1);
  StatusOr<RunOutcome> second = Execute(*resume, &world2, &clock2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->failed_reset, 1);
  EXPECT_EQ(second->exit_code, 0);
  EXPECT_EQ(world2.Dispatches().size(), 1u);
}

TEST_F(RunnerTest, DatabaseErrorStopsTheRunAndIsAnInternalError) {
  RunPlan plan = Plan();
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);  // its epoch records have no epoch number: refused
  StatusOr<RunOutcome> outcome = ExecuteRun(plan, &world, clock, options_, out_, err_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Status::Code::kInternal);
  EXPECT_NE(outcome.status().message().find("results database: epoch record without"),
            std::string::npos)
      << outcome.status().message();
  EXPECT_EQ(Text("SELECT status FROM sweeps"), "INTERRUPTED");
  EXPECT_EQ(world.CountSent(0, 2) + world.CountSent(1, 2), 2);  // both groups shut down
  EXPECT_LT(world.Dispatches().size(), 12u);
  EXPECT_FALSE(fs::exists(WriterLockPath(DbPath())));
}

TEST_F(RunnerTest, ProgressOnATerminalRewritesOneLine) {
  options_.progress = ProgressMode::kTty;
  options_.fit_law = false;
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  ASSERT_TRUE(Execute(Plan(), &world, &clock).ok());
  EXPECT_NE(err_.str().find("\r\033[Kperflaw: points 12/12 done"), std::string::npos);
}

TEST_F(RunnerTest, ProgressLinesComeAtMostEveryFewSeconds) {
  options_.fit_law = false;
  options_.progress_line_seconds = 10;
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 1);
  StatusOr<RunOutcome> outcome = Execute(Plan(), &world, &clock);
  ASSERT_TRUE(outcome.ok());
  size_t lines = 0;
  for (size_t at = 0; (at = err_.str().find("perflaw: points ", at)) != std::string::npos; ++at)
    ++lines;
  // One at the start, then at most one per 10 s of the run, and the final state.
  EXPECT_GE(lines, 3u);
  EXPECT_LE(lines, 2 + static_cast<size_t>(outcome->scheduler.elapsed_seconds / 10) + 1);
  EXPECT_EQ(err_.str().find('\r'), std::string::npos);
}

TEST_F(RunnerTest, PlanRejectsBadInputAndWritesNothing) {
  dir_.Write("bad.yaml", std::string(kSweep) + "bogus_key: 1\n");
  StatusOr<RunPlan> bad = PlanRun(dir_.File("bad.yaml"), "");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsUserError());
  EXPECT_NE(bad.status().message().find("bad.yaml:"), std::string::npos) << bad.status().message();

  std::string grouped = kSweep;
  grouped.replace(grouped.find("group_by: []"), 12, "group_by: [model.layers]");
  dir_.Write("grouped.yaml", grouped);
  StatusOr<RunPlan> by_layers = PlanRun(dir_.File("grouped.yaml"), "");
  ASSERT_FALSE(by_layers.ok());
  EXPECT_NE(by_layers.status().message().find("law.group_by: model.layers cannot be fitted"),
            std::string::npos)
      << by_layers.status().message();
  EXPECT_FALSE(fs::exists(dir_.File("out")));

  EXPECT_EQ(PlanResume(dir_.File("none.db"), false).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir_.File("none.db")));
}

// ---- adaptive rounds (policy.adaptive) ----

// HR@10 following a Performance Law whose optimum, N* = 6 layers and d* = 128, lies outside the
// 3 x 3 corner the adaptive sweep starts from, plus seeded noise of sd 0.001 per point. (Measured:
// 4 rounds add 15 points, and the optimum 5.9 [5.6, 6.3] x 132 [128, 138] covers the truth.)
double PerformanceHr(int layers, int d_model) {
  static const std::unique_ptr<law::Form> form = std::move(law::MakeForm("performance")).value();
  static const std::vector<double> theta = law::Law(6, 128);
  law::Observation x;
  x.layers = layers;
  x.d_model = d_model;
  std::mt19937 rng(static_cast<uint32_t>(layers * 100003 + d_model));
  return form->Eval(theta.data(), x, nullptr) + 0.001 * std::normal_distribution<double>()(rng);
}

// kSweep from the 3 x 3 corner, with adaptive rounds driven by the performance form.
std::string AdaptiveSweep() {
  std::string yaml = kSweep;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"[1, 2, 4]", "[1, 2, 3]"},
           {"[8, 16, 32, 64]", "[8, 16, 32]"},
           {"heartbeat_timeout: 10}",
            "heartbeat_timeout: 10,\n         adaptive: {rounds: 10, points_per_round: 4, "
            "stop_when: all_axes}}"},
           {"forms: [scaling]", "forms: [performance]"}})
    yaml.replace(yaml.find(from), from.size(), to);
  return yaml;
}

// The law's verdict on the database now, as the rounds see it.
cli::GroupAdvice AdviceOf(const std::string& db) {
  StatusOr<std::vector<cli::GroupAdvice>> advice =
      cli::AdviseFromDb(db, "performance", "HR@10", "none", {}, {});
  EXPECT_TRUE(advice.ok()) << advice.status().ToString();
  EXPECT_EQ(advice.ok() ? advice->size() : 0u, 1u);
  return advice.ok() && !advice->empty() ? advice->front() : cli::GroupAdvice{};
}

TEST_F(RunnerTest, AdaptiveRoundsFindAnOptimumOutsideTheStartingCorner) {
  dir_.Write("sweep.yaml", AdaptiveSweep());
  RunPlan plan = Plan();
  ASSERT_EQ(plan.sweep.points.size(), 9u);
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 2);
  StatusOr<RunOutcome> outcome = Execute(plan, &world, &clock, nullptr, PerformanceHr);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString() << "\n" << err_.str();
  EXPECT_EQ(outcome->exit_code, 0) << out_.str();
  ASSERT_TRUE(outcome->adaptive.ended) << out_.str();
  EXPECT_EQ(outcome->adaptive.end, "every group is identified on both axes") << err_.str();
  EXPECT_GE(outcome->adaptive.rounds, 1);

  // Every round is recorded with its points and why; the last one says why the rounds ended.
  const int64_t rounds = Count("SELECT count(*) FROM rounds WHERE final = 0");
  EXPECT_EQ(rounds, outcome->adaptive.rounds);
  EXPECT_EQ(Count("SELECT count(*) FROM rounds WHERE final = 1"), 1);
  EXPECT_EQ(Count("SELECT max(round) FROM rounds"), rounds + 1);
  const int64_t added = Count("SELECT count(*) FROM round_points");
  EXPECT_EQ(added, outcome->adaptive.points_added);
  EXPECT_EQ(Count("SELECT count(*) FROM sweep_points"), 9 + added);
  EXPECT_EQ(Count("SELECT count(*) FROM points WHERE state = 'COMPLETED'"), 9 + added);
  EXPECT_EQ(Count("SELECT count(*) FROM round_points WHERE round = 1 AND rule = 'extend'"),
            Count("SELECT count(*) FROM round_points WHERE round = 1"));  // the corner: extend
  EXPECT_EQ(Count("SELECT count(*) FROM rounds r WHERE final = 0 AND decision NOT LIKE 'added %'"),
            0);
  // Fewer points than a grid bracketing the optimum (layers 1..8 x d_model 8..256: 48 points).
  EXPECT_LT(9 + added, 48);
  EXPECT_NE(err_.str().find("adaptive round 1 of 10 (HR@10, performance form)"), std::string::npos)
      << err_.str();
  EXPECT_NE(out_.str().find("adaptive: " + std::to_string(rounds) + " round(s)"), std::string::npos)
      << out_.str();

  // The identified optimum covers the truth on the axes it pins.
  const cli::GroupAdvice g = AdviceOf(DbPath());
  ASSERT_TRUE(g.verdict.identified) << g.verdict.summary;
  ASSERT_TRUE(g.verdict.optimum.has_value());
  const law::Interval n = g.verdict.optimum->layers.interval,
                      d = g.verdict.optimum->d_model.interval;
  if (std::isfinite(g.verdict.optimum->layers.value)) {
    EXPECT_LE(n.lo, 6);
    EXPECT_GE(n.hi, 6);
  }
  if (std::isfinite(g.verdict.optimum->d_model.value)) {
    EXPECT_LE(d.lo, 128);
    EXPECT_GE(d.hi, 128);
  }
  EXPECT_TRUE(std::isfinite(g.verdict.optimum->layers.value) &&
              std::isfinite(g.verdict.optimum->d_model.value));  // stop_when: all_axes
}

TEST_F(RunnerTest, AdaptiveRoundsResumeInsideARound) {
  dir_.Write("sweep.yaml", AdaptiveSweep());
  testing::FakeClock clock1;
  testing::FakeWorld world1(&clock1, 2);
  // The 3 x 3 corner takes 42 s of work on two groups; round 1's larger points are then running.
  world1.At(30, [&] { stop_.store(true); });
  StatusOr<RunOutcome> first = Execute(Plan(), &world1, &clock1, nullptr, PerformanceHr);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->exit_code, 3) << err_.str();
  EXPECT_EQ(Count("SELECT count(*) FROM rounds"), 1);
  EXPECT_FALSE(first->adaptive.ended);
  const int64_t round1 = Count("SELECT count(*) FROM round_points WHERE round = 1");
  ASSERT_GT(round1, 0);
  EXPECT_GT(Count("SELECT count(*) FROM round_points r JOIN points p ON p.id = r.point WHERE "
                  "p.state = 'PENDING'"),
            0);
  EXPECT_NE(out_.str().find("not ended (perflaw resume continues)"), std::string::npos);

  stop_.store(false);
  StatusOr<RunPlan> resume = PlanResume(DbPath(), false);
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  testing::FakeClock clock2;
  testing::FakeWorld world2(&clock2, 2);
  StatusOr<RunOutcome> second = Execute(*resume, &world2, &clock2, nullptr, PerformanceHr);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->exit_code, 0) << err_.str();
  EXPECT_TRUE(second->adaptive.ended);
  // Round 1's points ran once each; the rounds went on from 2; nothing completed twice.
  EXPECT_EQ(Count("SELECT count(*) FROM round_points WHERE round = 1"), round1);
  EXPECT_EQ(Count("SELECT count(*) FROM results"),
            Count("SELECT count(*) FROM points WHERE state = 'COMPLETED'"));
  EXPECT_EQ(Count("SELECT count(*) FROM points WHERE state != 'COMPLETED'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM attempts WHERE exit_reason = 'completed'"),
            Count("SELECT count(*) FROM results"));
  EXPECT_EQ(Count("SELECT count(*) FROM rounds WHERE final = 1"), 1);
  EXPECT_EQ(Count("SELECT count(DISTINCT round) FROM rounds"),
            Count("SELECT max(round) FROM rounds"));
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), 1);

  // Resuming a sweep whose rounds ended adds nothing.
  testing::FakeClock clock3;
  testing::FakeWorld world3(&clock3, 2);
  StatusOr<RunPlan> again = PlanResume(DbPath(), false);
  ASSERT_TRUE(again.ok());
  const int64_t rows = Count("SELECT count(*) FROM rounds");
  StatusOr<RunOutcome> third = Execute(*again, &world3, &clock3, nullptr, PerformanceHr);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->scheduler.attempts_started, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM rounds"), rows);
}

TEST(SchedulerOptionsForTest, PolicyOverridesTheBase) {
  Policy policy;
  policy.max_attempts = 5;
  policy.point_timeout = 0;
  policy.heartbeat_interval = 4;
  policy.heartbeat_timeout = 30;
  SchedulerOptions base;
  base.stop_grace = 7;
  SchedulerOptions o = SchedulerOptionsFor(policy, base);
  EXPECT_EQ(o.max_attempts, 5u);
  EXPECT_GT(o.point_timeout, 1e8);  // no limit
  EXPECT_EQ(o.heartbeat_interval, 4);
  EXPECT_DOUBLE_EQ(o.heartbeat_grace, 7.5);
  EXPECT_EQ(o.stop_grace, 7);
  std::string why;
  EXPECT_TRUE(o.IsValid(&why)) << why;
}

TEST(StaleCheckpointTest, OnlyTheTemporariesOfCheckpointsAreRemoved) {
  TempDir dir;
  const fs::path work = dir.File("work");
  fs::create_directories(work / "checkpoints" / "a");
  fs::create_directories(work / "checkpoints" / "b");
  for (const fs::path& f :
       {work / "checkpoints/a/checkpoint.pt.tmp", work / "checkpoints/a/checkpoint.pt",
        work / "checkpoints/b/checkpoint.pt", work / "other.tmp"})
    std::ofstream(f) << "x";
  EXPECT_EQ(RemoveStaleCheckpointTemporaries(work.string()), 1);
  EXPECT_FALSE(fs::exists(work / "checkpoints/a/checkpoint.pt.tmp"));
  EXPECT_TRUE(fs::exists(work / "checkpoints/a/checkpoint.pt"));
  EXPECT_TRUE(fs::exists(work / "checkpoints/b/checkpoint.pt"));
  EXPECT_TRUE(fs::exists(work / "other.tmp"));
  EXPECT_EQ(RemoveStaleCheckpointTemporaries(dir.File("missing")), 0);
}

}  // namespace
}  // namespace perflaw::orchestrator
