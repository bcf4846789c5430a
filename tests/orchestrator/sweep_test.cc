// The sweep YAML: expansion, include/exclude, point ids, validation errors with line:column, paths,
// synthetic data, and `perflaw sweep check`.
#include "orchestrator/sweep.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "apen/dataset.h"
#include "tests/test_util.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;
using perflaw::testing::Bin;
using perflaw::testing::RunCommand;
using perflaw::testing::TempDir;

// A small sasrec-format dataset: `users` users, each with 6 items.
std::string SasrecText(int users, int offset = 0) {
  std::ostringstream os;
  for (int u = 1; u <= users; ++u)
    for (int i = 0; i < 6; ++i) os << u << " " << 1 + (u * 7 + i * 3 + offset) % 40 << "\n";
  return os.str();
}

SweepParseOptions NoCache(const std::string& base_dir = "") {
  SweepParseOptions o;
  o.base_dir = base_dir;
  o.cache.enabled = false;
  return o;
}

// A synthetic sweep with the given grid block (YAML lines) and extra top-level text.
std::string SynthSweep(const std::string& grid, const std::string& extra = "") {
  return "name: t\n"
         "data:\n"
         "  synthetic: {users: 50, items: 30, mean_length: 8, seed: 3}\n"
         "train: {epochs: 2}\n"
         "eval: {protocol: \"sampled:20\", ks: [10]}\n" +
         grid + extra;
}

StatusOr<Sweep> Parse(const std::string& text, const std::string& base = "/tmp") {
  return ParseSweep(text, "s.yaml", NoCache(base));
}

std::set<std::string> Ids(const Sweep& s) {
  std::set<std::string> ids;
  for (const auto& p : s.points) ids.insert(p.id);
  return ids;
}

// The error message of a parse that must fail.
std::string ErrorOf(const std::string& text, const std::string& base = "/tmp") {
  StatusOr<Sweep> s = Parse(text, base);
  EXPECT_FALSE(s.ok()) << "expected an error for:\n" << text;
  if (s.ok()) return "";
  EXPECT_TRUE(s.status().IsUserError()) << s.status().ToString();
  EXPECT_EQ(s.status().message().find('\n'), std::string::npos)
      << "one line: " << s.status().message();
  return s.status().message();
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks (56 bytes: the padding spills into a second block).
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(SweepExpand, CartesianProduct) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16, 32]\n  "
                       "data.max_seq_len: [5, 10]\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 12u);
  EXPECT_EQ(s->grid_points, 12u);
  EXPECT_EQ(Ids(*s).size(), 12u);
  EXPECT_EQ(s->axis_names,
            (std::vector<std::string>{"model.layers", "model.d_model", "data.max_seq_len"}));
  const GridPoint& first = s->points.front();
  EXPECT_EQ(first.axes.at("model.layers"), "1");
  EXPECT_EQ(first.axes.at("model.d_model"), "8");
  EXPECT_EQ(first.axes.at("data.max_seq_len"), "5");
  EXPECT_EQ(first.config["model"]["layers"], 1);
  EXPECT_EQ(first.config["train"]["epochs"], 2);  // fixed settings reach every point
  EXPECT_EQ(first.config["data"]["format"], "binary");
  EXPECT_EQ(first.id.size(), 32u);
  // The last axis varies fastest.
  EXPECT_EQ(s->points[1].axes.at("data.max_seq_len"), "10");
  EXPECT_EQ(s->points[1].axes.at("model.d_model"), "8");
}

TEST(SweepExpand, NoGridIsOnePoint) {
  StatusOr<Sweep> s = Parse(SynthSweep(""));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 1u);
  EXPECT_TRUE(s->points[0].axes.empty());
}

TEST(SweepExpand, AGridLargerThanMaxPointsIsRefusedWithItsCount) {
  // 1,000 x 1,000 is counted, not expanded (policy.max_points, default 100,000).
  std::string layers, dims;
  for (int i = 1; i <= 1000; ++i) {
    layers += (i > 1 ? ", " : "") + std::to_string(i);
    dims += (i > 1 ? ", " : "") + std::to_string(8 * i);
  }
  const std::string huge =
      "grid:\n  model.layers: [" + layers + "]\n  model.d_model: [" + dims + "]\n";
  const std::string error = ErrorOf(SynthSweep(huge));
  EXPECT_NE(error.find("s.yaml:7:3: the grid makes 1000000 points (1000 model.layers x 1000 "
                       "model.d_model), more than policy.max_points (100000)"),
            std::string::npos)
      << error;
  // The limit is the user's: a small grid over a smaller limit, include counted.
  EXPECT_NE(ErrorOf(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n",
                               "include:\n  - {model.layers: 4}\npolicy: {max_points: 3}\n"))
                .find("makes 4 points (3 model.layers, plus include), more than policy.max_points "
                      "(3)"),
            std::string::npos);
  EXPECT_TRUE(
      Parse(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n", "policy: {max_points: 3}\n")).ok());
  EXPECT_NE(ErrorOf(SynthSweep("policy: {max_points: 0}\n")).find("policy.max_points must be >= 1"),
            std::string::npos);
}

TEST(SweepExpand, IncludeExcludeAndDuplicates) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n",
                       "include:\n"
                       "  - {model.layers: 4, model.d_model: 32}\n"
                       "  - {model.layers: 1, model.d_model: 8}\n"  // already in the grid
                       "  - {train.lr: 0.01}\n"
                       "exclude:\n"
                       "  - {model.layers: 2, model.d_model: 16}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->grid_points, 4u);
  EXPECT_EQ(s->included_points, 3u);
  EXPECT_EQ(s->excluded_points, 1u);
  EXPECT_EQ(s->duplicate_points, 1u);
  ASSERT_EQ(s->points.size(), 5u);  // 4 + 3 - 1 - 1
  for (const auto& p : s->points)
    EXPECT_FALSE(p.config["model"]["layers"] == 2 && p.config["model"]["d_model"] == 16);
  const GridPoint& big = s->points[3];
  EXPECT_EQ(big.config["model"]["layers"], 4);
  EXPECT_EQ(big.config["model"]["d_model"], 32);
  // An include point takes the fixed (default) value of keys it does not set.
  const GridPoint& lr = s->points[4];
  EXPECT_EQ(lr.config["train"]["lr"], 0.01);
  EXPECT_EQ(lr.axes.at("model.layers"), "2");  // worker default
  EXPECT_EQ(lr.axes.at("train.lr"), "0.01");
}

TEST(SweepExpand, ExcludeAppliesToPartialMatches) {
  StatusOr<Sweep> s = Parse(SynthSweep("grid:\n  model.layers: [1, 2, 3]\n  seed: [0, 1]\n",
                                       "exclude:\n  - {model.layers: 3}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points.size(), 4u);
}

TEST(SweepExpand, SeveralDatasetsAreAnAxis) {
  TempDir dir;
  dir.Write("a.txt", SasrecText(20));
  dir.Write("b.txt", SasrecText(30, 5));
  std::string text =
      "name: two\n"
      "datasets:\n"
      "  - {path: a.txt}\n"
      "  - {name: bee, path: b.txt, max_seq_len: 4}\n"
      "eval: {protocol: full, ks: [10]}\n"
      "grid: {model.layers: [1, 2]}\n"
      "exclude: [{dataset: bee, model.layers: 2}]\n";
  StatusOr<Sweep> s = Parse(text, dir.path().string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->datasets.size(), 2u);
  EXPECT_EQ(s->datasets[0].name, "a");
  EXPECT_EQ(s->datasets[1].name, "bee");
  ASSERT_EQ(s->points.size(), 3u);
  EXPECT_EQ(s->axis_names.front(), "dataset");
  EXPECT_EQ(s->points[0].axes.at("dataset"), "a");
  EXPECT_EQ(s->points[2].dataset, "bee");
  EXPECT_EQ(s->points[2].config["data"]["max_seq_len"], 4);   // per-dataset data keys
  EXPECT_EQ(s->points[0].config["data"]["max_seq_len"], 50);  // worker default
  EXPECT_EQ(s->points[0].config["data"]["path"], (dir.path() / "a.txt").string());
}

// ---- Point identity ----

TEST(PointIdentity, KeyOrderDefaultsAndNumberSpellingDoNotMatter) {
  StatusOr<Sweep> a = Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n"));
  StatusOr<Sweep> b = Parse(
      "eval: {ks: [10], protocol: \"sampled:20\"}\n"
      "train: {lr: 1e-3, epochs: 2, batch_size: 128}\n"  // lr and batch_size are the defaults
      "grid:\n  model.layers: [2, 1]\n"
      "model: {dropout: 0.20, heads: 1}\n"
      "data:\n  synthetic: {seed: 3, mean_length: 8.0, items: 30, users: 50}\n  max_seq_len: 50\n"
      "name: other-name\n"
      "device: cuda\nthreads: 3\n"  // where a point runs is not part of its identity
      "resources: {ranks_per_point: 2, workers: 4}\n"
      "policy: {max_attempts: 7}\n"
      "db: elsewhere.db\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Ids(*a), Ids(*b));
}

TEST(PointIdentity, ResultAffectingChangesChangeTheId) {
  const std::string base_id = Parse(SynthSweep(""))->points.at(0).id;
  for (const std::string& change :
       {std::string("train: {epochs: 3}\n"), std::string("seed: 1\n"),
        std::string("model: {layers: 3}\n"), std::string("eval: {protocol: full, ks: [10]}\n"),
        std::string("data: {synthetic: {users: 51}}\n")}) {
    std::string text = SynthSweep("");
    // Replace the section the change names (YAML keys must be unique).
    std::string section = change.substr(0, change.find(':'));
    size_t at = text.find("\n" + section + ":");
    if (section == "data")
      text = "name: t\ndata:\n  synthetic: {users: 51, items: 30, mean_length: 8, seed: 3}\n" +
             text.substr(text.find("train:"));
    else if (at != std::string::npos)
      text.replace(at + 1, text.find('\n', at + 1) - at, change);
    else
      text += change;
    StatusOr<Sweep> s = Parse(text);
    ASSERT_TRUE(s.ok()) << change << ": " << s.status().ToString();
    EXPECT_NE(s->points.at(0).id, base_id) << change;
  }
}

TEST(PointIdentity, ExtendedSweepKeepsOldIds) {
  StatusOr<Sweep> small =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n"));
  StatusOr<Sweep> big = Parse(SynthSweep(
      "grid:\n  model.layers: [1, 2, 4]\n  model.d_model: [8, 16]\n  seed: [0, 1]\n"));  // seed 0:
                                                                                         // the
                                                                                         // default
  ASSERT_TRUE(small.ok() && big.ok());
  std::set<std::string> old_ids = Ids(*small), new_ids = Ids(*big);
  EXPECT_EQ(new_ids.size(), 12u);
  for (const auto& id : old_ids) EXPECT_TRUE(new_ids.count(id)) << id;
}

TEST(PointIdentity, FileDataIsIdentifiedByContentNotPath) {
  TempDir dir;
  fs::create_directories(dir.path() / "x");
  dir.Write("a.txt", SasrecText(20));
  dir.Write("x/copy.txt", SasrecText(20));
  dir.Write("other.txt", SasrecText(20, 1));
  auto id_of = [&](const std::string& path) {
    StatusOr<Sweep> s =
        Parse("data: {path: " + path + "}\neval: {ks: [10]}\n", dir.path().string());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? s->points.at(0).id : "";
  };
  EXPECT_EQ(id_of("a.txt"), id_of("x/copy.txt"));
  EXPECT_NE(id_of("a.txt"), id_of("other.txt"));
}

TEST(PointIdentity, AgreesWithThePointFileForm) {
  StatusOr<Sweep> s = Parse(SynthSweep("grid:\n  model.d_model: [8]\n"));
  ASSERT_TRUE(s.ok());
  const GridPoint& p = s->points[0];
  // The canonical config reparses to itself, so the scheduler can ship it to the worker as is.
  StatusOr<worker::PointConfig> again = worker::ParsePointConfig(p.config.dump(), "p");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(worker::PointConfigToJson(*again), p.config);
  EXPECT_EQ(PointId(worker::PointConfigToJson(*again), s->datasets[0].identity), p.id);
}

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
            "s.yaml:6:22: resources.workers must be an integer in [0, 4294967295], got -1");
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
            "s.yaml:10:22: policy.adaptive.rounds must be an integer in [0, 4294967295], got -1");
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

TEST(SweepExpand, AdaptiveDefaultsAndExtraPointsMatchAnIncludeEntry) {
  const std::string grid = "grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n";
  StatusOr<Sweep> s = Parse(SynthSweep(grid, "policy: {adaptive: {rounds: 3}}\n"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const AdaptivePolicy& a = s->policy.adaptive;
  EXPECT_TRUE(a.enabled());
  EXPECT_EQ(a.metric, "HR@10");      // law.metrics[0]
  EXPECT_EQ(a.form, "performance");  // the first form with an optimum
  EXPECT_EQ(a.points_per_round, 4u);
  EXPECT_EQ(a.budget(), 12u);
  EXPECT_EQ(a.stop_when, "identified");

  // An added point is the point an include: entry would make; a point the sweep has is not added.
  StatusOr<std::vector<GridPoint>> extra =
      ExpandExtraPoints(*s, {{"", {{"model.layers", 4}, {"model.d_model", 64}}},
                             {"", {{"model.layers", 2}, {"model.d_model", 16}}}});
  ASSERT_TRUE(extra.ok()) << extra.status().ToString();
  ASSERT_EQ(extra->size(), 1u);
  StatusOr<Sweep> written = Parse(SynthSweep(
      grid,
      "include:\n  - {model.layers: 4, model.d_model: 64}\npolicy: {adaptive: {rounds: 3}}\n"));
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(extra->front().id, written->points.back().id);
  EXPECT_EQ(extra->front().config, written->points.back().config);
  EXPECT_DOUBLE_EQ(extra->front().cost, written->points.back().cost);
  // A value the point parser rejects is an error naming the added entry.
  StatusOr<std::vector<GridPoint>> bad =
      ExpandExtraPoints(*s, {{"", {{"model.layers", 0}, {"model.d_model", 64}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("added include entries"), std::string::npos)
      << bad.status().message();
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

// ---- Paths, synthetic data ----

TEST(SweepPaths, RelativeToTheYamlFile) {
  TempDir dir;
  fs::create_directories(dir.path() / "conf" / "data");
  dir.Write("conf/data/d.txt", SasrecText(20));
  dir.Write(
      "conf/s.yaml",
      "name: rel\ndata: {path: data/d.txt}\neval: {ks: [10]}\ndb: ../out/r.db\nwork_dir: w\n");
  StatusOr<Sweep> s = LoadSweep(dir.File("conf/s.yaml"), NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->points[0].config["data"]["path"], (dir.path() / "conf/data/d.txt").string());
  EXPECT_EQ(s->db_path, (dir.path() / "out/r.db").string());
  EXPECT_EQ(s->work_dir, (dir.path() / "conf/w").string());
  EXPECT_EQ(s->yaml_text.substr(0, 9), "name: rel");
  // Defaults: NAME.db and NAME-work beside the YAML.
  dir.Write("conf/t.yaml", "data: {path: data/d.txt}\neval: {ks: [10]}\n");
  StatusOr<Sweep> t = LoadSweep(dir.File("conf/t.yaml"), NoCache());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name, "t");
  EXPECT_EQ(t->db_path, (dir.path() / "conf/t.db").string());
  EXPECT_EQ(t->work_dir, (dir.path() / "conf/t-work").string());
  EXPECT_FALSE(fs::exists(dir.path() / "conf/t.db"));  // parsing writes nothing
  EXPECT_FALSE(LoadSweep(dir.File("conf/missing.yaml")).ok());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SweepSynthetic, MaterializationIsDeterministicAndLoadable) {
  TempDir a, b;
  const std::string text = SynthSweep("grid:\n  data.max_seq_len: [4, 8]\n", "work_dir: w\n");
  StatusOr<Sweep> sa = ParseSweep(text, a.File("s.yaml"), NoCache());
  StatusOr<Sweep> sb = ParseSweep(text, b.File("s.yaml"), NoCache());
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(Ids(*sa), Ids(*sb));  // the work dir is not part of the identity
  const std::string path = sa->datasets[0].path;
  EXPECT_EQ(fs::path(path).parent_path(), a.path() / "w" / "data");
  EXPECT_FALSE(fs::exists(path));  // parsing writes nothing

  StatusOr<std::vector<std::string>> written = MaterializeSyntheticData(*sa);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, std::vector<std::string>{path});
  ASSERT_TRUE(MaterializeSyntheticData(*sb).ok());
  EXPECT_EQ(ReadAll(path), ReadAll(sb->datasets[0].path));
  written = MaterializeSyntheticData(*sa);  // already there: nothing to do
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(written->empty());

  // What a worker does with the point: the file loads with the point's data options.
  StatusOr<worker::PointConfig> cfg = worker::ParsePointConfig(sa->points[0].config.dump(), "p");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  apen::CacheOptions no_cache;
  no_cache.enabled = false;
  StatusOr<apen::Dataset> data = apen::LoadDataset(cfg->data, no_cache);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users(), 50u);

  // A damaged file is rewritten.
  std::ofstream(path, std::ios::binary) << "garbage";
  written = MaterializeSyntheticData(*sa);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->size(), 1u);
  EXPECT_EQ(ReadAll(path), ReadAll(sb->datasets[0].path));
}

TEST(SweepCost, GrowsWithModelAndSequenceLength) {
  StatusOr<Sweep> s =
      Parse(SynthSweep("grid:\n  model.d_model: [8, 16]\n  data.max_seq_len: [2, 50]\n"));
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->points.size(), 4u);
  // d 8, h 8 (sasrec): layers 2 x (4 x 64 + 2 x 8 x 8 + 9 x 8 + 8) + 2 x 8 = 944 non-embedding
  // parameters (law::NonEmbeddingParams: what the worker counts).
  EXPECT_EQ(s->points[0].non_embedding_params, 944);
  EXPECT_LT(s->points[0].tokens, s->points[1].tokens);  // L 2 truncates, L 50 does not
  EXPECT_LE(s->points[0].tokens, 2.0 * 50 * 2);         // epochs x users x L
  EXPECT_EQ(s->points[0].tokens, s->points[2].tokens);
  EXPECT_LT(s->points[0].cost, s->points[2].cost);
  EXPECT_EQ(s->points[3].cost, s->points[3].non_embedding_params * s->points[3].tokens);
}

// ---- Shipped configs and the command ----

TEST(SweepConfigs, QuickstartHasASmallSyntheticGrid) {
  StatusOr<Sweep> s =
      LoadSweep(std::string(PERFLAW_SOURCE_DIR) + "/configs/quickstart.yaml", NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GE(s->points.size(), 12u);
  ASSERT_EQ(s->datasets.size(), 1u);
  EXPECT_TRUE(s->datasets[0].synthetic);
  EXPECT_GE(s->resources.workers, 2u);
}

TEST(SweepConfigs, StudyCpuLoadsTheSharedDatasets) {
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no ../shared/data";
  StatusOr<Sweep> s =
      LoadSweep(std::string(PERFLAW_SOURCE_DIR) + "/configs/study-cpu.yaml", NoCache());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->datasets.size(), 2u);
  EXPECT_GT(s->points.size(), 12u);
}

TEST(SweepCheckCommand, ListsPointsAndFailsWithExitTwo) {
  TempDir dir;
  dir.Write("ok.yaml", SynthSweep("grid:\n  model.layers: [1, 2]\n  seed: [0, 1]\n"));
  auto r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("ok.yaml"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 points"), std::string::npos) << r.out;
  StatusOr<Sweep> s = LoadSweep(dir.File("ok.yaml"), NoCache());
  ASSERT_TRUE(s.ok());
  for (const auto& p : s->points) EXPECT_NE(r.out.find(p.id.substr(0, 12)), std::string::npos);

  r = RunCommand(Bin("perflaw") + " sweep check --format json " + dir.File("ok.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["points"].size(), 4u);
  EXPECT_EQ(j["points"][0]["id"], s->points[0].id);

  dir.Write("bad.yaml", SynthSweep("grid:\n  model.layers: []\n"));
  r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("bad.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "perflaw: error: " + dir.File("bad.yaml") +
                       ":7:17: grid.model.layers is empty: an axis needs at least one value\n");
  EXPECT_TRUE(r.out.empty());
}

// A grid the law's forms cannot identify is said before anything runs (table and JSON), and a grid
// that can be fitted gets no warning.
TEST(SweepCheckCommand, WarnsWhenTheLawCannotBeIdentified) {
  TempDir dir;
  dir.Write("small.yaml", SynthSweep("grid:\n  model.layers: [1, 2]\n  seed: [0, 1]\n"));
  auto r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("small.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warning: law form performance cannot be identified: 4 points (needs 7), "
                       "2 layers values (needs 3), 1 d_model values (needs 3); perflaw fit will "
                       "fit the scaling baseline instead"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("warning: law form scaling cannot be identified: 1 d_model values (needs "
                       "2); perflaw fit will stop for this form"),
            std::string::npos)
      << r.out;
  r = RunCommand(Bin("perflaw") + " sweep check --format json " + dir.File("small.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["law_warnings"].size(), 2u);

  dir.Write("grid.yaml",
            SynthSweep("grid:\n  model.layers: [1, 2, 3]\n  model.d_model: [8, 16, 32]\n"));
  r = RunCommand(Bin("perflaw") + " sweep check " + dir.File("grid.yaml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("warning:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace perflaw::orchestrator
