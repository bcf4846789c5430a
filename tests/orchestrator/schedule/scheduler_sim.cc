// The scheduler at cluster scale, simulated (issue 20 item 4): the real run logic (PlanRun +
// ExecuteRun: a real SQLite results database, DbListener, EtaListener, Scheduler) on the fake clock
// and FakeWorld, with many worker groups and points whose simulated training time comes from a cost
// model (proportional to the sweep's cost estimate, non-embedding params x tokens, times lognormal
// noise) and groups that fail at random (a Poisson process per busy group; the attempt fails with a
// retryable reason, the group goes on). Prints the makespan against the LPT bound of the actual
// attempt durations, rank 0's CPU time (its thread's CPU minus the time spent inside the fake
// transport), the database's size and the wall time. Run by scripts/bench/sched_scale.sh; not a
// test, except with --check (small scale, ctest), which exits 1 when the run was not correct.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "orchestrator/store/results_db.h"
#include "orchestrator/run/runner.h"
#include "orchestrator/schedule/scheduler.h"
#include "tests/orchestrator/schedule/fakes.h"
#include "tests/test_util.h"
#include "worker/result.h"

namespace perflaw::orchestrator {
namespace {

// Layers x d_model x max_seq_len is 100 combinations; seeds make up the number of points.
constexpr int kCombinations = 100;

struct SimOptions {
  int groups = 1024;
  int points = 100000;                    // a multiple of kCombinations
  double failures_per_group_hour = 0.01;  // Poisson rate of a busy group's failures
  uint32_t seed = 1;
  bool check = false;             // assert correctness, exit 1 on a violation
  double median_seconds = 1200;   // simulated training time of a median-cost point
  double noise_sigma = 0.3;       // sd of log of the multiplicative noise on durations
  double heartbeat_seconds = 60;  // policy.heartbeat_interval (timeout: 5 intervals)

  bool IsValid(std::string* why) const {
    if (groups < 1) *why = "--groups must be >= 1";
    if (points < kCombinations || points % kCombinations != 0)
      *why = "--points must be a positive multiple of " + std::to_string(kCombinations);
    if (!std::isfinite(failures_per_group_hour) || failures_per_group_hour < 0)
      *why = "--failure-rate must be a finite number >= 0";
    return why->empty();
  }
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double WallSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// What the simulated worker needs to know of a point.
struct PointModel {
  double seconds = 0;  // simulated training time of one full attempt
  int layers = 0, d_model = 0;
  double non_embedding = 0, tokens = 0;
};

// Durations from the cost model: median_seconds x cost / median cost x lognormal noise.
std::unordered_map<std::string, PointModel> CostModel(const Sweep& sweep, const SimOptions& o) {
  std::vector<double> costs;
  for (const GridPoint& p : sweep.points) costs.push_back(p.cost);
  std::nth_element(costs.begin(), costs.begin() + costs.size() / 2, costs.end());
  const double median_cost = costs[costs.size() / 2];
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> z(0, o.noise_sigma);
  std::unordered_map<std::string, PointModel> model;
  for (const GridPoint& p : sweep.points) {
    PointModel& m = model[p.id];
    m.seconds = o.median_seconds * p.cost / median_cost * std::exp(z(rng));
    m.layers = p.config.model.layers;
    m.d_model = p.config.model.d_model;
    m.non_embedding = p.non_embedding_params;
    m.tokens = p.tokens;
  }
  return model;
}

// CPU seconds one CLOCK_THREAD_CPUTIME_ID reading takes (a system call here): every interval the
// ledger measures holds one, which is taken off.
double ClockCost() {
  const int n = 20000;
  const double t0 = ThreadCpuSeconds();
  for (int i = 0; i < n; ++i) (void)ThreadCpuSeconds();
  return (ThreadCpuSeconds() - t0) / n;
}

// Rank 0's CPU time outside the fake transport, per simulated hour.
struct CpuLedger {
  double clock_cost = ClockCost();
  uint64_t calls = 0;         // transport calls
  double transport = 0;       // inside Send/Poll of the fake (its encoding, decoding and events)
  double setup = -1;          // before the first transport call (recording the sweep's points)
  double last_exit = 0;       // thread CPU when the last transport call returned
  std::vector<double> hours;  // rank 0's CPU between transport calls, by simulated hour
};

// Between the scheduler and FakeWorld: gives every RunPoint its duration from the cost model and a
// random failure, turns the fake's replies into real worker records, and accounts CPU time.
class CostWorld final : public Transport {
 public:
  CostWorld(testing::FakeWorld* world, const testing::FakeClock* clock,
            const std::unordered_map<std::string, PointModel>* model, const SimOptions& o,
            CpuLedger* ledger)
      : world_(world),
        clock_(clock),
        model_(model),
        rate_per_second_(o.failures_per_group_hour / 3600),
        rng_(o.seed * 7919u + 17),
        ledger_(ledger) {}

  int GroupCount() const override { return world_->GroupCount(); }

  Status Send(int g, const ToGroup& message) override {
    Enter();
    Status st = Timed(g, message);
    Leave();
    return st;
  }

  StatusOr<std::optional<Incoming>> Poll(double timeout) override {
    Enter();
    StatusOr<std::optional<Incoming>> in = world_->Poll(timeout);
    if (in.ok() && in->has_value()) Translate(**in);
    Leave();
    return in;
  }

  // Busy seconds of every attempt that ran (completed, failed or stopped), for the LPT bounds.
  const std::vector<double>& durations() const { return durations_; }
  int crashes() const { return crashes_; }

 private:
  void Enter() {
    entered_ = ThreadCpuSeconds();
    ledger_->calls++;
    const double rank0 = entered_ - ledger_->last_exit - ledger_->clock_cost;
    if (ledger_->setup < 0) {
      ledger_->setup = rank0;
      return;
    }
    const size_t hour = static_cast<size_t>(clock_->Now() / 3600);
    if (ledger_->hours.size() <= hour) ledger_->hours.resize(hour + 1, 0.0);
    ledger_->hours[hour] += rank0;
  }
  void Leave() {
    ledger_->last_exit = ThreadCpuSeconds();
    ledger_->transport += ledger_->last_exit - entered_ - ledger_->clock_cost;
  }

  // A failure of the group during the attempt comes after an exponential time (memoryless: the
  // same as a Poisson process over the group's busy time); then the attempt ends there, failed.
  Status Timed(int g, const ToGroup& message) {
    const auto* run = std::get_if<RunPoint>(&message);
    if (!run) return world_->Send(g, message);
    RunPoint timed = *run;
    const double seconds = model_->at(run->point).seconds;
    const double crash = rate_per_second_ > 0
                             ? std::exponential_distribution<double>(rate_per_second_)(rng_)
                             : INFINITY;
    timed.config["seconds"] = std::min(seconds, crash);
    if (crash < seconds) {
      timed.config["fail"] = "failed";
      ++crashes_;
    }
    return world_->Send(g, timed);
  }

  void Translate(Incoming& in) {
    if (auto* done = std::get_if<PointDone>(&in.message)) {
      Ended(in.group, done->point, done->attempt);
      done->result = Result(model_->at(done->point));
    } else if (auto* failed = std::get_if<PointFailed>(&in.message)) {
      Ended(in.group, failed->point, failed->attempt);
    } else if (auto* epoch = std::get_if<EpochMetrics>(&in.message)) {
      epoch->metrics = worker::EpochRecordToJson(Epoch(epoch->epoch, 0.3));
    }
  }

  // An attempt that had started (not one taken back before it did) was busy until now.
  void Ended(int g, const std::string& point, uint32_t attempt) {
    const std::optional<double> start = world_->AttemptStart(g, point, attempt);
    if (start && clock_->Now() > *start) durations_.push_back(clock_->Now() - *start);
  }

  static worker::RankMetrics Metrics(const std::string& split, double hr10) {
    worker::RankMetrics m;
    m.split = split;
    m.protocol = "sampled:100";
    m.users = 6040;
    m.mrr = hr10 / 3;
    m.hr = {{10, hr10}, {50, std::min(1.0, 1.8 * hr10)}};
    m.ndcg = {{10, hr10 / 2}, {50, hr10 / 1.7}};
    return m;
  }

  static worker::EpochRecord Epoch(uint32_t epoch, double hr10) {
    worker::EpochRecord e;
    e.epoch = epoch;
    e.steps = 240 * epoch;
    e.train_loss = 0.5 / epoch;
    e.seconds = e.cpu_seconds = 60;
    e.eval_seconds = 2;
    e.valid = Metrics("valid", hr10);
    return e;
  }

  // A result as the worker sends it: 5 epochs, the best one's validation and test metrics.
  static nlohmann::json Result(const PointModel& m) {
    worker::PointResult r;
    r.status = worker::RunStatus::kOk;
    r.message = "ok";
    r.device = "cuda:0";
    r.params = {static_cast<uint64_t>(3000 * m.d_model), static_cast<uint64_t>(m.non_embedding)};
    const double hr10 = 0.5 + 0.01 * std::log2(m.layers * m.d_model);
    for (uint32_t e = 1; e <= 5; ++e) r.epochs.push_back(Epoch(e, hr10 * (0.9 + 0.02 * e)));
    r.best_epoch = 5;
    r.best_valid = Metrics("valid", hr10);
    r.test = Metrics("test", hr10 * 0.97);
    r.steps = 1200;
    r.tokens_seen = static_cast<uint64_t>(m.tokens);
    r.wall_seconds = r.train_seconds = 300;
    r.tokens_per_second = m.tokens / 300;
    return worker::PointResultToJson(r);
  }

  testing::FakeWorld* world_;
  const testing::FakeClock* clock_;
  const std::unordered_map<std::string, PointModel>* model_;
  double rate_per_second_;
  std::mt19937_64 rng_;
  CpuLedger* ledger_;
  double entered_ = 0;
  std::vector<double> durations_;
  int crashes_ = 0;
};

std::string SweepYaml(const SimOptions& o) {
  std::string seeds;
  for (int s = 0; s < o.points / kCombinations; ++s) seeds += (s ? ", " : "") + std::to_string(s);
  const std::string hb = std::to_string(o.heartbeat_seconds);
  return "name: sim\n"
         "data:\n"
         "  synthetic: {users: 300, items: 200, mean_length: 120, predictability: 0.5, seed: 1}\n"
         "model: {type: sasrec, heads: 1}\n"
         "train: {epochs: 5}\n"
         "eval: {protocol: \"sampled:100\", ks: [10, 50]}\n"
         "grid:\n"
         "  model.layers: [2, 3, 4, 6, 8]\n"
         "  model.d_model: [64, 96, 128, 192, 256]\n"
         "  data.max_seq_len: [50, 100, 150, 200]\n"
         "  seed: [" +
         seeds +
         "]\n"
         "resources: {ranks_per_point: 1, workers: " +
         std::to_string(o.groups) +
         "}\n"
         "policy: {max_attempts: 5, heartbeat_interval: " +
         hb + ", heartbeat_timeout: " + std::to_string(5 * o.heartbeat_seconds) +
         ", max_points: " + std::to_string(o.points) +
         "}\n"
         "law: {enabled: false}\n"
         "db: out/sim.db\n"
         "work_dir: out/work\n";
}

uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

struct Figures {
  SchedulerSummary summary;
  StateCounts counts;
  LptBounds lpt;
  int crashes = 0;
  double plan_cpu = 0, run_cpu = 0, transport_cpu = 0, setup_cpu = 0, worst_hour_cpu = 0;
  double clock_cpu = 0;  // the CPU-time readings themselves (taken off both sides)
  uint64_t calls = 0;
  double plan_wall = 0, run_wall = 0;
  uintmax_t db_bytes = 0, wal_bytes = 0;
};

// One query's single integer.
StatusOr<int64_t> Count(const ResultsDb& db, const std::string& sql) {
  StatusOr<Statement> st = Statement::Prepare(db.connection(), sql);
  if (!st.ok()) return st.status();
  StatusOr<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Internal("no row: " + sql);
  return st->Int64(0);
}

// --check: what the database and the summary must say after a correct run.
std::vector<std::string> Violations(const std::string& db_path, const SimOptions& o,
                                    const Figures& f) {
  std::vector<std::string> bad;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) bad.push_back(what);
  };
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return {db.status().ToString()};
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"points COMPLETED", "SELECT count(*) FROM points WHERE state = 'COMPLETED'"},
      {"results", "SELECT count(*) FROM results"},
      {"points with one completed attempt",
       "SELECT count(*) FROM (SELECT point FROM attempts WHERE exit_reason = 'completed' "
       "GROUP BY point HAVING count(*) = 1)"},
      {"completed attempts", "SELECT count(*) FROM attempts WHERE exit_reason = 'completed'"},
      {"failed attempts", "SELECT count(*) FROM attempts WHERE exit_reason = 'failed'"},
      {"open attempts", "SELECT count(*) FROM attempts WHERE ended_at IS NULL"},
      {"attempts", "SELECT count(*) FROM attempts"}};
  std::map<std::string, int64_t> n;
  for (const auto& [name, sql] : queries) {
    StatusOr<int64_t> v = Count(**db, sql);
    if (!v.ok()) return {v.status().ToString()};
    n[name] = *v;
  }
  for (const char* name :
       {"points COMPLETED", "results", "points with one completed attempt", "completed attempts"}) {
    expect(n[name] == o.points, std::string(name) + ": " + std::to_string(n[name]) + ", want " +
                                    std::to_string(o.points));
  }
  expect(n["open attempts"] == 0, "attempts left open: " + std::to_string(n["open attempts"]));
  expect(n["attempts"] == f.summary.attempts_started,
         "attempts in the database differ from "
         "attempts started");
  expect(f.crashes > 0 && n["failed attempts"] == f.crashes,
         "failed attempts in the database: " + std::to_string(n["failed attempts"]) +
             ", group failures: " + std::to_string(f.crashes) + " (want equal and > 0)");
  expect(f.counts.failed == 0 && f.counts.pending + f.counts.running == 0,
         "points not completed (a failure not retried)");
  expect(f.summary.makespan_seconds >= f.lpt.lower_bound * (1 - 1e-12),
         "makespan below the LPT lower bound");
  return bad;
}

// Runs the sweep on the simulated cluster in a temporary folder; with o.check, also the checks.
StatusOr<Figures> Simulate(const SimOptions& o, std::vector<std::string>* violations) {
  Figures f;
  perflaw::testing::TempDir dir;
  dir.Write("sweep.yaml", SweepYaml(o));
  double cpu0 = ThreadCpuSeconds(), wall0 = WallSeconds();
  StatusOr<RunPlan> plan = PlanRun(dir.File("sweep.yaml"), "");
  if (!plan.ok()) return plan.status();
  f.plan_cpu = ThreadCpuSeconds() - cpu0;
  f.plan_wall = WallSeconds() - wall0;
  const auto model = CostModel(plan->sweep, o);

  testing::FakeClock clock;
  // No poll limit: a full-scale run polls tens of millions of times.
  testing::FakeWorld world(&clock, o.groups, o.heartbeat_seconds,
                           std::numeric_limits<uint64_t>::max());
  CpuLedger ledger;
  CostWorld cost_world(&world, &clock, &model, o, &ledger);
  RunOptions options;
  options.fit_law = false;  // the law fit is not the scheduler's work
  std::ostringstream out, err;
  wall0 = WallSeconds();
  ledger.last_exit = cpu0 = ThreadCpuSeconds();
  StatusOr<RunOutcome> run = ExecuteRun(*plan, &cost_world, clock, options, out, err);
  f.run_cpu = ThreadCpuSeconds() - cpu0;
  f.run_wall = WallSeconds() - wall0;
  if (!run.ok()) return run.status();
  f.summary = run->scheduler;
  f.counts = run->counts;
  f.crashes = cost_world.crashes();
  f.transport_cpu = ledger.transport;
  f.clock_cpu = 2 * ledger.calls * ledger.clock_cost;
  f.calls = ledger.calls;
  f.setup_cpu = std::max(0.0, ledger.setup);
  for (double h : ledger.hours) f.worst_hour_cpu = std::max(f.worst_hour_cpu, h);
  StatusOr<LptBounds> lpt = ComputeLptBounds(cost_world.durations(), o.groups);
  if (!lpt.ok()) return lpt.status();
  f.lpt = *lpt;
  f.db_bytes = FileSize(plan->db_path);
  f.wal_bytes = FileSize(plan->db_path + "-wal");
  if (o.check) *violations = Violations(plan->db_path, o, f);
  return f;
}

void Row(const char* figure, const std::string& value, const std::string& target = "") {
  std::printf("%-52s %22s   %s\n", figure, value.c_str(), target.c_str());
}

std::string Fmt(const char* format, double a, double b = 0) {
  char buf[96];
  std::snprintf(buf, sizeof buf, format, a, b);
  return buf;
}

void Print(const SimOptions& o, const Figures& f) {
  const SchedulerSummary& s = f.summary;
  const double rank0 = f.run_cpu - f.transport_cpu - f.clock_cpu;
  const double makespan = s.makespan_seconds;
  std::printf(
      "simulated cluster: %d worker groups, %d points (5 layers x 5 d_model x 4 max_seq_len x %d "
      "seeds); duration = %.0f s x cost / median cost x lognormal(0, %.2f); group failures "
      "%.3g per busy group-hour, retried; heartbeats every %.0f s; seed %u\n",
      o.groups, o.points, o.points / kCombinations, o.median_seconds, o.noise_sigma,
      o.failures_per_group_hour, o.heartbeat_seconds, o.seed);
  Row("figure", "value", "target");
  Row("points completed / groups", Fmt("%.0f / %.0f", s.completed, o.groups));
  Row("attempts started / failed (group failures)",
      Fmt("%.0f / %.0f", s.attempts_started, s.attempts_failed) + " (" + std::to_string(f.crashes) +
          ")");
  Row("points FAILED / left pending",
      Fmt("%.0f / %.0f", f.counts.failed, f.counts.pending + f.counts.running));
  Row("simulated makespan (h)", Fmt("%.2f", makespan / 3600));
  Row("LPT makespan of the attempt durations (h)", Fmt("%.2f", f.lpt.lpt_makespan / 3600));
  Row("LPT lower bound, max(longest, total / groups) (h)", Fmt("%.2f", f.lpt.lower_bound / 3600));
  Row("makespan / LPT makespan", Fmt("%.4f", makespan / f.lpt.lpt_makespan), "<= 1.05");
  Row("makespan / lower bound", Fmt("%.4f", makespan / f.lpt.lower_bound));
  Row("rank 0 CPU s, whole run (fake transport excluded)", Fmt("%.2f", rank0));
  Row("  of it before the first message (recording points)", Fmt("%.2f", f.setup_cpu));
  Row("rank 0 CPU per point (ms)", Fmt("%.3f", 1e3 * rank0 / o.points));
  Row("rank 0 core fraction (CPU / simulated makespan)", Fmt("%.2e", rank0 / makespan), "< 0.2");
  Row("worst simulated hour: rank 0 CPU s / 3600 s", Fmt("%.2e", f.worst_hour_cpu / 3600), "< 0.2");
  Row("fake transport CPU s (excluded above)", Fmt("%.2f", f.transport_cpu));
  Row("CPU-time readings: calls x 2, s (excluded above)",
      Fmt("%.0f x 2, %.2f", static_cast<double>(f.calls), f.clock_cpu));
  Row("planning CPU s (PlanRun: parse, expand, cost)", Fmt("%.2f", f.plan_cpu));
  Row("database MB (+ -wal MB)", Fmt("%.1f (+ %.1f)", f.db_bytes / 1e6, f.wal_bytes / 1e6));
  Row("wall s (planning + run)", Fmt("%.1f + %.1f", f.plan_wall, f.run_wall));
}

// --groups N --points N --failure-rate R --seed S --check
bool ParseArgs(int argc, char** argv, SimOptions* o, std::string* why) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--check") {
      o->check = true;
      continue;
    }
    if (i + 1 >= argc) {
      *why = "unknown option or missing value: " + arg;
      return false;
    }
    const char* v = argv[++i];
    if (arg == "--groups")
      o->groups = std::atoi(v);
    else if (arg == "--points")
      o->points = std::atoi(v);
    else if (arg == "--failure-rate")
      o->failures_per_group_hour = std::atof(v);
    else if (arg == "--seed")
      o->seed = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    else {
      *why = "unknown option: " + arg;
      return false;
    }
  }
  return o->IsValid(why);
}

int Main(int argc, char** argv) {
  SimOptions o;
  std::string why;
  if (!ParseArgs(argc, argv, &o, &why)) {
    std::fprintf(stderr,
                 "scheduler_sim: %s\nusage: perflaw_scheduler_sim [--groups 1024] [--points "
                 "100000] [--failure-rate 0.01] [--seed 1] [--check]\n",
                 why.c_str());
    return 2;
  }
  std::vector<std::string> violations;
  StatusOr<Figures> f = Simulate(o, &violations);
  if (!f.ok()) {
    std::fprintf(stderr, "scheduler_sim: %s\n", f.status().ToString().c_str());
    return 1;
  }
  Print(o, *f);
  for (const std::string& v : violations) std::printf("CHECK FAILED: %s\n", v.c_str());
  if (o.check) std::printf("check: %s\n", violations.empty() ? "passed" : "FAILED");
  return violations.empty() ? 0 : 1;
}

}  // namespace
}  // namespace perflaw::orchestrator

int main(int argc, char** argv) { return perflaw::orchestrator::Main(argc, argv); }
