// Benchmark of adaptive rounds (policy.adaptive) against a full grid, on the fake world: worker
// groups on a fake clock whose points "train" to a known Performance Law (tests/orchestrator/
// law_world.h), through the real run logic (ExecuteRun, a real SQLite file, the real law fit and
// suggestions). For each true optimum (N*, d*) it runs
//   full grid  layers {1,2,3,4,6,8,12,16} x d_model {8,...,512}: 56 points bracketing every truth;
//   adaptive   the 3 x 3 corner {1,2,3} x {8,16,32}, then rounds of 4 suggested points until
//              both axes are pinned (stop_when: all_axes; at most 12 rounds),
// and prints, side by side, the points trained, their simulated training time (layers x d_model /
// 8 s each), the optimum found with its 95% interval, and whether the interval covers the truth.
// Run by scripts/bench/adaptive.sh; not a test (it asserts nothing).
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "law/forms.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/run/runner.h"
#include "orchestrator/store/sqlite_util.h"
#include "tests/law/known_law.h"
#include "tests/orchestrator/schedule/fakes.h"
#include "tests/orchestrator/cli/law_world.h"
#include "tests/test_util.h"

namespace perflaw::orchestrator {
namespace {

constexpr double kNoise = 0.001;

struct Outcome {
  bool ok = false;
  std::string error;
  int points = 0;
  double train_seconds = 0;  // sum of the simulated durations
  int64_t rounds = 0;
  bool identified = false;  // both axes pinned
  law::Estimate n, d;
};

std::string Sweep(const std::string& grid, const std::string& adaptive) {
  return "name: bench\n"
         "data:\n"
         "  synthetic: {users: 50, items: 30, mean_length: 8, predictability: 0.5, seed: 1}\n"
         "model: {type: sasrec, heads: 1}\n"
         "train: {epochs: 1}\n"
         "eval: {protocol: \"sampled:10\", ks: [10]}\n"
         "grid:\n" +
         grid +
         "resources: {ranks_per_point: 1, workers: 4}\n"
         "policy: {max_attempts: 2, heartbeat_interval: 1, heartbeat_timeout: 10" +
         adaptive +
         "}\n"
         "law: {metrics: [HR@10], forms: [performance], group_by: []}\n"
         "db: out/r.db\n"
         "work_dir: out/work\n";
}

Outcome RunOne(const std::string& yaml, double n_star, double d_star, uint32_t seed) {
  Outcome o;
  perflaw::testing::TempDir dir;
  dir.Write("sweep.yaml", yaml);
  StatusOr<RunPlan> plan = PlanRun(dir.File("sweep.yaml"), "");
  if (!plan.ok()) {
    o.error = plan.status().ToString();
    return o;
  }
  const std::unique_ptr<law::Form> form = std::move(law::MakeForm("performance")).value();
  const std::vector<double> theta = law::Law(n_star, d_star);
  auto hr = [&](int layers, int d_model) {
    law::Observation x;
    x.layers = layers;
    x.d_model = d_model;
    std::mt19937 rng(seed * 7919u + static_cast<uint32_t>(layers * 100003 + d_model));
    return form->Eval(theta.data(), x, nullptr) + kNoise * std::normal_distribution<double>()(rng);
  };
  testing::FakeClock clock;
  testing::FakeWorld world(&clock, 4);
  testing::LawWorld law_world(&world, hr);
  RunOptions options;
  options.progress = ProgressMode::kNone;
  std::ostringstream out, err;
  StatusOr<RunOutcome> run = ExecuteRun(*plan, &law_world, clock, options, out, err);
  if (!run.ok()) {
    o.error = run.status().ToString();
    return o;
  }
  for (const RunPoint& r : law_world.runs())
    o.train_seconds += r.config["model"]["layers"].get<double>() *
                       r.config["model"]["d_model"].get<double>() / 8.0;
  o.points = static_cast<int>(run->counts.completed);
  o.rounds = run->adaptive.rounds;
  StatusOr<std::vector<cli::GroupAdvice>> advice =
      cli::AdviseFromDb(plan->db_path, "performance", "HR@10", "none", {}, {});
  if (!advice.ok() || advice->size() != 1) {
    o.error = advice.ok() ? "not one group" : advice.status().ToString();
    return o;
  }
  const law::Verdict& v = advice->front().verdict;
  o.identified = v.identified && v.optimum && std::isfinite(v.optimum->layers.value) &&
                 std::isfinite(v.optimum->d_model.value);
  if (v.optimum) {
    o.n = v.optimum->layers;
    o.d = v.optimum->d_model;
  }
  o.ok = true;
  return o;
}

std::string Estimate(const law::Estimate& e, double truth) {
  if (!std::isfinite(e.value)) return "not pinned";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.3g [%.3g, %.3g]%s", e.value, e.interval.lo, e.interval.hi,
                e.interval.lo <= truth && truth <= e.interval.hi ? "" : " MISS");
  return buf;
}

double LogError(const law::Estimate& e, double truth) {
  return std::isfinite(e.value) ? std::fabs(std::log2(e.value / truth)) : NAN;
}

int Main() {
  const std::string full_grid =
      "  model.layers: [1, 2, 3, 4, 6, 8, 12, 16]\n"
      "  model.d_model: [8, 16, 32, 64, 128, 256, 512]\n";
  const std::string corner = "  model.layers: [1, 2, 3]\n  model.d_model: [8, 16, 32]\n";
  const std::string adaptive = ", adaptive: {rounds: 12, points_per_round: 4, stop_when: all_axes}";
  const std::vector<std::pair<double, double>> truths = {
      {6, 128}, {4, 64}, {10, 256}, {5, 48}, {8, 96}};
  std::printf(
      "fake world: HR@10 = Performance Law with optimum (N*, d*) + N(0, %.3g) noise; "
      "4 worker groups; law: performance form, 95%% bootstrap intervals\n",
      kNoise);
  std::printf("%-10s | %-58s | %-64s | %s\n", "truth", "full grid (56 points)",
              "adaptive (3x3 corner + rounds of 4, stop_when all_axes)", "adaptive/full");
  std::printf("%-10s | %6s %8s %-21s %-21s | %6s %6s %8s %-21s %-21s | %6s %6s\n", "N* x d*",
              "points", "train_s", "N^*", "d^*", "points", "rounds", "train_s", "N^*", "d^*",
              "points", "train");
  double sum_full_err = 0, sum_adaptive_err = 0;
  int n_full = 0, n_adaptive = 0, both_full = 0, both_adaptive = 0, used_full = 0,
      used_adaptive = 0;
  double time_full = 0, time_adaptive = 0;
  uint32_t seed = 1;
  for (const auto& [n_star, d_star] : truths) {
    const Outcome full = RunOne(Sweep(full_grid, ""), n_star, d_star, seed);
    const Outcome adapt = RunOne(Sweep(corner, adaptive), n_star, d_star, seed);
    ++seed;
    if (!full.ok || !adapt.ok) {
      std::printf("%g x %g: error: %s %s\n", n_star, d_star, full.error.c_str(),
                  adapt.error.c_str());
      return 1;
    }
    char truth[32];
    std::snprintf(truth, sizeof truth, "%g x %g", n_star, d_star);
    std::printf("%-10s | %6d %8.0f %-21s %-21s | %6d %6lld %8.0f %-21s %-21s | %6.2f %6.2f\n",
                truth, full.points, full.train_seconds, Estimate(full.n, n_star).c_str(),
                Estimate(full.d, d_star).c_str(), adapt.points,
                static_cast<long long>(adapt.rounds), adapt.train_seconds,
                Estimate(adapt.n, n_star).c_str(), Estimate(adapt.d, d_star).c_str(),
                double(adapt.points) / full.points, adapt.train_seconds / full.train_seconds);
    used_full += full.points;
    used_adaptive += adapt.points;
    time_full += full.train_seconds;
    time_adaptive += adapt.train_seconds;
    both_full += full.identified;
    both_adaptive += adapt.identified;
    for (const auto& [o, sum, n] : {std::tuple{&full, &sum_full_err, &n_full},
                                    std::tuple{&adapt, &sum_adaptive_err, &n_adaptive}}) {
      if (!o->identified) continue;
      *sum += LogError(o->n, n_star) + LogError(o->d, d_star);
      ++*n;
    }
  }
  std::printf("\nsummary over %zu truths (reference: the full grid, same invocation)\n",
              truths.size());
  std::printf("  identified on both axes:        full %d/%zu   adaptive %d/%zu\n", both_full,
              truths.size(), both_adaptive, truths.size());
  std::printf("  points trained:                 full %d   adaptive %d   ratio %.2f\n", used_full,
              used_adaptive, double(used_adaptive) / used_full);
  std::printf("  simulated training time (s):    full %.0f   adaptive %.0f   ratio %.2f\n",
              time_full, time_adaptive, time_adaptive / time_full);
  std::printf("  mean |log2 error| of N^* + d^*: full %.3f   adaptive %.3f (identified runs)\n",
              n_full ? sum_full_err / n_full : NAN,
              n_adaptive ? sum_adaptive_err / n_adaptive : NAN);
  return 0;
}

}  // namespace
}  // namespace perflaw::orchestrator

int main() { return perflaw::orchestrator::Main(); }
