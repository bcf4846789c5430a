// Validation errors: one line, FILE:LINE:COL, pointing at the YAML responsible.
#include <gtest/gtest.h>

#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

// ---- Validation: one line, FILE:LINE:COL ----

TEST(SweepErrors, UnknownKeysSuggest) {
  EXPECT_EQ(ErrorOf(SynthSweep("gird:\n  model.layers: [1]\n")),
            "s.yaml:6:1: unknown key gird (did you mean grid?)");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  model.layer: [1]\n")),
            "s.yaml:7:3: unknown grid key model.layer (did you mean model.layers?)");
  std::string msg = ErrorOf(SynthSweep("model: {layrs: 2}\n"));
  EXPECT_EQ(msg, "s.yaml:6:9: unknown key model.layrs (did you mean model.layers?)");
  EXPECT_EQ(ErrorOf(SynthSweep("policy: {max_attempt: 2}\n")),
            "s.yaml:6:10: unknown key policy.max_attempt (did you mean policy.max_attempts?)");
  EXPECT_EQ(ErrorOf(SynthSweep("", "include:\n  - {model.dmodel: 8}\n")),
            "s.yaml:7:6: unknown include key model.dmodel (did you mean model.d_model?)");
  EXPECT_EQ(ErrorOf("name: t\ndata:\n  synthetic: {users: 50, itmes: 3}\n"),
            "s.yaml:3:26: unknown key data.synthetic.itmes (did you mean data.synthetic.items?)");
}

TEST(SweepErrors, DataKeysPointAtTheDatasetEntryOrTheSharedSection) {
  TempDir dir;
  dir.Write("a.txt", SasrecText(20));
  EXPECT_EQ(ErrorOf("name: t\ndatasets:\n  - {path: a.txt, max_seq_lne: 5}\n", dir.path().string()),
            "s.yaml:3:19: unknown key data.max_seq_lne (did you mean data.max_seq_len?)");
  EXPECT_EQ(ErrorOf("name: t\ndata:\n  path: a.txt\n  user_fraction: 2\n", dir.path().string()),
            "s.yaml:4:3: data.user_fraction must be in (0, 1], got 2");
}

TEST(SweepErrors, WrongTypes) {
  EXPECT_EQ(ErrorOf(SynthSweep("model: {layers: two}\n")),
            "s.yaml:6:9: model.layers must be a non-negative integer, got \"two\"");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  model.layers: 2\n")),
            "s.yaml:7:17: grid.model.layers must be a list of values, e.g. [1, 2]");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  model.layers: [1, x]\n")),
            "s.yaml:7:21: model.layers must be a non-negative integer, got \"x\" (grid point "
            "model.layers=x)");
  EXPECT_EQ(ErrorOf(SynthSweep("policy: {max_attempts: [1]}\n")),
            "s.yaml:6:24: policy.max_attempts must be a single value, not a list or mapping");
  EXPECT_EQ(ErrorOf(SynthSweep("resources: {workers: -1}\n")),
            "s.yaml:6:22: resources.workers must be a non-negative integer, got -1");
}

TEST(SweepErrors, EmptyAndRepeatedAxes) {
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  model.layers: []\n")),
            "s.yaml:7:17: grid.model.layers is empty: an axis needs at least one value");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  seed: [1, 2, 1]\n")),
            "s.yaml:7:16: grid.seed lists 1 twice");
  EXPECT_EQ(ErrorOf(SynthSweep("model: {layers: 2}\ngrid:\n  model.layers: [1]\n")),
            "s.yaml:8:3: grid.model.layers is also a fixed setting (line 6); remove one");
}

TEST(SweepErrors, HeadsMustDivideDModel) {
  std::string msg = ErrorOf(SynthSweep("grid:\n  model.d_model: [8, 12]\n  model.heads: [1, 8]\n"));
  EXPECT_EQ(msg,
            "s.yaml:8:20: model.heads (8) must divide model.d_model (12) "
            "(grid point model.d_model=12, model.heads=8)");
  EXPECT_EQ(ErrorOf(SynthSweep("model: {heads: 3, d_model: 16}\n")),
            "s.yaml:6:9: model.heads (3) must divide model.d_model (16)");
}

TEST(SweepErrors, MissingDatasetFile) {
  TempDir dir;
  StatusOr<Sweep> s = Parse("name: t\ndata:\n  path: nope.txt\n", dir.path().string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(s.status().message(),
            "s.yaml:3:9: data.path: dataset file not found: " + (dir.path() / "nope.txt").string());
  EXPECT_EQ(ErrorOf("name: t\n"),
            "s.yaml:1:1: no dataset: give data.path, data.synthetic or a datasets: list");
}

TEST(SweepErrors, UnreadableDatasetNamesTheYamlAndTheFile) {
  TempDir dir;
  dir.Write("bad.txt", "1 1\n1 x\n");
  std::string msg =
      ErrorOf("name: t\ndatasets:\n  - {path: bad.txt, format: sasrec}\neval: {ks: [10]}\n",
              dir.path().string());
  EXPECT_EQ(msg.rfind("s.yaml:3:5: dataset bad: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("bad.txt:2"), std::string::npos) << msg;
}

TEST(SweepErrors, BadPolicyAndResources) {
  EXPECT_EQ(ErrorOf(SynthSweep("policy: {max_attempts: 0}\n")),
            "s.yaml:6:24: policy.max_attempts must be >= 1, got 0");
  EXPECT_EQ(
      ErrorOf(SynthSweep("policy: {heartbeat_interval: 30, heartbeat_timeout: 10}\n")),
      "s.yaml:6:53: policy.heartbeat_timeout must exceed policy.heartbeat_interval (30 s), got 10");
  EXPECT_EQ(ErrorOf(SynthSweep("policy: {point_timeout: -5}\n")),
            "s.yaml:6:25: policy.point_timeout must be >= 0 seconds (0: no limit), got -5");
  EXPECT_EQ(ErrorOf(SynthSweep("policy: {dispatch_ahead: -1}\n")),
            "s.yaml:6:26: policy.dispatch_ahead must be >= 0 seconds (0: off), got -1");
  EXPECT_EQ(
      ErrorOf(SynthSweep("resources: {workers: 3, ranks_per_point: 2}\n")),
      "s.yaml:6:12: resources.workers (3) must be a multiple of resources.ranks_per_point (2)");
  EXPECT_EQ(ErrorOf(SynthSweep("device: cpu\nresources: {device: cuda}\n")),
            "s.yaml:7:21: device is given twice (top level and resources); keep one");
  EXPECT_EQ(ErrorOf(SynthSweep("resources: {device: tpu}\n")),
            "s.yaml:6:21: device must be one of auto, cpu, cuda, got \"tpu\"");
}

TEST(SweepErrors, AdaptivePolicy) {
  auto error = [](const std::string& policy, const std::string& law = "") {
    return ErrorOf(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n  model.d_model: [8, 16, 32]\n",
                              "policy:\n  adaptive: " + policy + "\n" + law));
  };
  EXPECT_EQ(error("{rounds: 2, points_per_round: 0}"),
            "s.yaml:10:43: policy.adaptive.points_per_round must be 1 to 1000, got 0");
  EXPECT_EQ(error("{rounds: 2, stop_when: pinned}"),
            "s.yaml:10:36: policy.adaptive.stop_when must be identified or all_axes, got "
            "\"pinned\"");
  EXPECT_EQ(error("{rounds: 2, max_interval_ratio: 1}"),
            "s.yaml:10:45: policy.adaptive.max_interval_ratio must be a number > 1, got 1");
  EXPECT_EQ(error("{rounds: -1}"),
            "s.yaml:10:22: policy.adaptive.rounds must be a non-negative integer, got -1");
  EXPECT_EQ(error("{round: 2}"),
            "s.yaml:10:14: unknown key policy.adaptive.round (did you mean "
            "policy.adaptive.rounds?)");
  // The law must be able to answer: enabled, the metric measured, a form with an optimum.
  EXPECT_EQ(error("{rounds: 2}", "law: {enabled: false}\n"),
            "s.yaml:10:13: policy.adaptive needs the law (law.enabled is false)");
  EXPECT_EQ(error("{rounds: 2}", "law: {forms: [scaling]}\n"),
            "s.yaml:10:13: policy.adaptive needs a law form with an optimum in law.forms "
            "(performance or performance-data), got scaling");
  EXPECT_EQ(error("{rounds: 2, metric: NDCG@10}", "law: {metrics: [HR@10]}\n"),
            "s.yaml:10:33: policy.adaptive.metric: \"NDCG@10\" is not one of law.metrics (HR@10)");
  EXPECT_EQ(error("{rounds: 2, form: scaling}"),
            "s.yaml:10:31: policy.adaptive.form must be performance or performance-data (a form "
            "with an optimum), got \"scaling\"");
  EXPECT_EQ(error("{rounds: 2, form: performance-data}"),
            "s.yaml:10:31: policy.adaptive.form: \"performance-data\" is not one of law.forms "
            "(performance, scaling)");
  // rounds: 0 is off, and then nothing else is checked against the law.
  EXPECT_TRUE(
      Parse(SynthSweep("", "policy: {adaptive: {rounds: 0}}\nlaw: {enabled: false}\n")).ok());
}

TEST(SweepErrors, IncludeExcludeAndLaw) {
  EXPECT_EQ(
      ErrorOf(SynthSweep("grid:\n  model.layers: [1, 2]\n", "exclude:\n  - {model.layers: 3}\n")),
      "s.yaml:9:5: exclude[0] matches no point of the grid or include");
  EXPECT_EQ(ErrorOf(SynthSweep("", "include:\n  - {dataset: nope}\n")),
            "s.yaml:7:15: include[0].dataset: no dataset named \"nope\" (known keys: synthetic)");
  EXPECT_EQ(ErrorOf(SynthSweep("", "law: {metrics: [HR@50]}\n")),
            "s.yaml:6:17: law.metrics: \"HR@50\" is not reported; use MRR or HR@K / NDCG@K with K "
            "in eval.ks [10]");
  EXPECT_EQ(ErrorOf(SynthSweep("", "law: {forms: [performanc]}\n")),
            "s.yaml:6:15: law.forms: unknown form \"performanc\" (did you mean performance?)");
  EXPECT_EQ(ErrorOf(SynthSweep("", "law: {group_by: [seed]}\n")),
            "s.yaml:6:18: law.group_by: seed is not a grid axis (nor dataset)");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  seed: [0, 1]\n", "law: {group_by: [seed]}\n")),
            "s.yaml:8:18: law.group_by: seed cannot be fitted separately (the law groups by "
            "dataset and data.max_seq_len only)");
  EXPECT_EQ(ErrorOf(SynthSweep("grid:\n  data.path: [a, b]\n")),
            "s.yaml:7:3: grid data.path: list several datasets under datasets: instead");
}

TEST(SweepErrors, YamlSyntaxAndDuplicates) {
  std::string msg = ErrorOf("name: t\ngrid: {model.layers: [1, 2}\n");
  EXPECT_EQ(msg.rfind("s.yaml:2:", 0), 0u) << msg;
  EXPECT_EQ(ErrorOf(SynthSweep("seed: 1\nseed: 2\n")), "s.yaml:7:1: duplicate key seed");
  EXPECT_EQ(ErrorOf("- a\n- b\n"),
            "s.yaml:1:1: a sweep must be a YAML mapping (name:, data:, grid:, ...)");
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
