// perflaw fit / predict / report through the real executable: outputs, exit codes, messages.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/test_util.h"

namespace perflaw::testing {
namespace {

// The paper's 24-point grid from a known Performance Law (N* = 16, d* = 64) plus a fixed wiggle.
std::string GridCsv(int levels = 1, double wiggle = 0.002) {
  std::ostringstream csv;
  csv << "dataset,max_seq_len,layers,d_model,metric,value,tokens,apen,transition\n";
  const double tokens[] = {2e5, 1e6, 5e6, 2e7}, apen[] = {1.5, 2.0, 1.2, 2.5};
  const double transition[] = {9.0, 7.5, 6.0, 8.0};  // bits; read only with --quality transition
  auto term = [](double x, double a, double p) {
    return -1 / (p * std::pow(x, a)) - a * std::log(x);
  };
  int k = 0;
  for (int l = 0; l < levels; ++l) {
    for (double n : {4, 8, 12, 16, 24, 32}) {
      for (double d : {25, 50, 75, 100}) {
        double v = 0.05 * term(n, -1, 16) + 0.08 * term(d, -2.0 / 3, 16) + 0.3 +
                   0.03 * term(tokens[l] * apen[l], -0.25, 16) + wiggle * ((k++ * 7 % 11) - 5) / 5;
        csv << "syn," << 50 * (l + 1) << ',' << n << ',' << d << ",HR@10," << v << ',' << tokens[l]
            << ',' << apen[l] << ',' << transition[l] << '\n';
      }
    }
  }
  return csv.str();
}

CommandResult Perflaw(const std::string& args) { return RunCommand(Bin("perflaw") + " " + args); }

// Observations in a CSV file of their own, and perflaw run on them.
class CsvInput {
 public:
  explicit CsvInput(const std::string& csv) { dir_.Write("g.csv", csv); }
  // `perflaw <command> --csv <the file> <flags>`.
  CommandResult Run(const std::string& command, const std::string& flags) const {
    return Perflaw(command + " --csv " + path() + " " + flags);
  }
  std::string path() const { return dir_.File("g.csv"); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(LawCliTest, FitJsonHasTheDocumentedKeys) {
  const CsvInput csv(GridCsv());
  auto r = csv.Run("fit", "--form performance --starts 300 --bootstrap 100 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  const auto& g = j[0];
  EXPECT_EQ(g["keys"]["dataset"], "syn");
  EXPECT_EQ(g["keys"]["max_seq_len"], 50);
  EXPECT_EQ(g["keys"]["metric"], "HR@10");
  EXPECT_EQ(g["form"], "performance");
  EXPECT_EQ(g["n_points"], 24);
  EXPECT_TRUE(g["converged"].get<bool>());
  for (const char* p : {"w1", "a", "w2", "b", "p", "c"}) {
    ASSERT_TRUE(g["params"].contains(p)) << p;
    EXPECT_TRUE(g["params"][p]["value"].is_number());
    EXPECT_EQ(g["params"][p]["interval"].size(), 2u);
  }
  for (const char* k : {"r2", "rmse", "mae", "loo_r2", "loo_rmse", "loo_mae"}) {
    EXPECT_TRUE(g[k].is_number()) << k;
  }
  EXPECT_GT(g["r2"].get<double>(), 0.8);
  EXPECT_LT(g["loo_r2"].get<double>(), g["r2"].get<double>());
  double n_star = g["optimum"]["closed_form"]["n_star"]["estimate"]["value"];
  EXPECT_NEAR(n_star, 16, 3);
  EXPECT_TRUE(g["optimum"]["layers"]["interval"][0].is_number());
}

TEST(LawCliTest, FitTableLabelsEveryNumber) {
  const CsvInput csv(GridCsv());
  auto r =
      csv.Run("fit", "--starts 200 --bootstrap 50 --train-where \"layers<=16\" --budget 100000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* label : {"metric=HR@10 dataset=syn max_seq_len=50", "form performance",
                            "in-sample HR@10 (24 points): R2", "leave-one-out HR@10", "RMSE",
                            "optimum N* = p^(-1/a) layers", "numerical argmax of HR@10",
                            "best under 1e+05 non-embedding params",
                            "extrapolation: fit on 'layers<=16' (16 points", "held-out 8 points"}) {
    EXPECT_NE(r.out.find(label), std::string::npos) << label << "\n" << r.out;
  }
}

TEST(LawCliTest, TrainWhereChecksTheGroupsItSplitsAndSaysWhichItDoesNot) {
  TempDir dir;
  // Two groups (L 50 and L 100); L 100 keeps only layers <= 16, so "layers<=16" splits L 50 only.
  std::istringstream grid(GridCsv(2));
  std::string csv, line;
  while (std::getline(grid, line)) {
    std::istringstream f(line);
    std::string dataset, l, layers;
    std::getline(f, dataset, ',');
    std::getline(f, l, ',');
    std::getline(f, layers, ',');
    if (l == "100" && (layers == "24" || layers == "32")) continue;
    csv += line + "\n";
  }
  dir.Write("g.csv", csv);
  const std::string fit = "fit --csv " + dir.File("g.csv") + " --starts 200 --bootstrap 0";
  auto r = Perflaw(fit + " --train-where \"layers<=16\"");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* label :
       {"extrapolation: fit on 'layers<=16' (16 points", "held-out 8 points", "the subset fit: ",
        "extrapolation: not checked: 'layers<=16' selects 16 of 16 points of this group"}) {
    EXPECT_NE(r.out.find(label), std::string::npos) << label << "\n" << r.out;
  }
  auto j = Perflaw(fit + " --train-where \"layers<=16\" --format json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto groups = nlohmann::json::parse(j.out);
  ASSERT_EQ(groups.size(), 2u);
  int checked = 0, skipped = 0;
  for (const auto& g : groups) {
    const auto& e = g["extrapolation"];
    if (e.contains("skipped")) {
      ++skipped;
      EXPECT_EQ(g["keys"]["max_seq_len"], 100);
    } else {
      ++checked;
      EXPECT_TRUE(e["train_converged"].is_boolean());
      EXPECT_TRUE(e["train_params"].contains("a")) << e.dump();
      EXPECT_EQ(e["n_held_out"], 8);
    }
  }
  EXPECT_EQ(checked, 1);
  EXPECT_EQ(skipped, 1);
  // An expression that splits no group is an error.
  auto none = Perflaw(fit + " --train-where \"max_seq_len<=50\"");
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_NE(none.err.find("--train-where 'max_seq_len<=50' leaves no group with points on both "
                          "sides"),
            std::string::npos)
      << none.err;
}

// --where fits only the matching rows: of two L groups it keeps one, and within it a subset.
TEST(LawCliTest, WhereFitsOnlyTheMatchingRows) {
  CsvInput csv(GridCsv(2));
  auto j = csv.Run("fit",
                   "--starts 50 --bootstrap 0 --format json --where \"max_seq_len==100 && "
                   "d_model>=50\"");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto groups = nlohmann::json::parse(j.out);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0]["keys"]["max_seq_len"], 100);
  EXPECT_EQ(groups[0]["n_points"], 18);  // 6 layers x d 50, 75, 100
}

TEST(LawCliTest, OptimumOutsideTheSearchedRangeIsCalledAnExtrapolation) {
  const CsvInput csv(GridCsv());  // N* = 16
  // Shown only for an identified optimum (inside the observed grid; here the search box is
  // narrower than the grid).
  auto r = csv.Run("fit", "--starts 200 --bootstrap 100 --layers-max 12");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("verdict: HR@10, syn, L 50: law identified; optimum "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(maximum of HR@10 above the searched layers range [4, 12]: an "
                       "extrapolation of the curve)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(interior maximum of HR@10)"), std::string::npos) << r.out;  // d* = 64
}

TEST(LawCliTest, ScalingAndJointForms) {
  const CsvInput csv(GridCsv(4));
  auto s = csv.Run("fit", "--form scaling --bootstrap 50 --format json");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out).size(), 4u);  // one group per max_seq_len
  auto d = csv.Run("fit", "--form performance-data --starts 300 --bootstrap 20 --format json");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto j = nlohmann::json::parse(d.out);
  ASSERT_EQ(j.size(), 1u);  // one joint fit
  EXPECT_EQ(j[0]["n_points"], 96);
  EXPECT_TRUE(j[0]["params"].contains("e"));
}

// --quality picks the data-aware form's measure: the output and the formula say which, and a
// CSV without that column is refused by name.
TEST(LawCliTest, QualityOptionPicksTheDataMeasure) {
  const CsvInput csv(GridCsv(4));
  const std::string fit =
      "fit --csv " + csv.path() + " --form performance-data --starts 100 --bootstrap 0 --quality ";
  auto j = Perflaw(fit + "transition --format json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto g = nlohmann::json::parse(j.out)[0];
  EXPECT_EQ(g["quality"], "transition");
  EXPECT_NE(g["formula"].get<std::string>().find("D' = tokens*transition"), std::string::npos);
  auto t = Perflaw(fit + "transition");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("data quality: transition = H(next item | previous item)"),
            std::string::npos)
      << t.out;
  auto a = csv.Run("fit", "--form performance-data --starts 100 --bootstrap 0 --format json");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)[0]["quality"], "apen");  // the default
  auto bad = Perflaw(fit + "zlib");
  EXPECT_EQ(bad.exit_code, 2);
  std::istringstream grid(GridCsv(4));
  std::string old;
  for (std::string line; std::getline(grid, line);)
    old += line.substr(0, line.rfind(',')) + "\n";  // drop the transition column
  csv.dir().Write("old.csv", old);
  auto missing = Perflaw("fit --csv " + csv.dir().File("old.csv") +
                         " --form performance-data --quality transition --bootstrap 0");
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_NE(missing.err.find("needs column 'transition'"), std::string::npos) << missing.err;
}

TEST(LawCliTest, PredictPrintsAnInterval) {
  const CsvInput csv(GridCsv());
  auto r = csv.Run("predict", "--layers 20 --d-model 60 --starts 200 --bootstrap 100");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("predicted HR@10 at layers 20, d_model 60 = "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("95% bootstrap interval ["), std::string::npos) << r.out;
  auto j =
      csv.Run("predict", "--layers 20 --d-model 60 --starts 200 --bootstrap 100 --format json");
  ASSERT_EQ(j.exit_code, 0);
  auto p = nlohmann::json::parse(j.out)[0]["predicted"];
  EXPECT_LE(p["interval"][0].get<double>(), p["value"].get<double>());
  EXPECT_GE(p["interval"][1].get<double>(), p["value"].get<double>());
  auto bad = csv.Run("predict", "--layers 0 --d-model 60 --bootstrap 0");
  EXPECT_EQ(bad.exit_code, 2);
}

// A grid too small for the performance form is fitted with the scaling form: predict then uses
// that fit with its own form (and says so), as `perflaw predict --form scaling` does.
TEST(LawCliTest, PredictUsesTheFormTheGroupWasFittedWith) {
  std::istringstream full(GridCsv());
  std::string line, small;
  std::getline(full, line);
  small = line + "\n";
  while (std::getline(full, line)) {  // layers 4, 8, 12 x d_model 25, 50: 6 points, 6 parameters
    const std::string n = line.substr(7, line.find(',', 7) - 7);
    const std::string d = line.substr(8 + n.size(), line.find(',', 8 + n.size()) - 8 - n.size());
    if ((n == "4" || n == "8" || n == "12") && (d == "25" || d == "50")) small += line + "\n";
  }
  ASSERT_EQ(Lines(small), 7) << small;
  const CsvInput csv(small);
  const std::string flags = "--layers 6 --d-model 40 --starts 200 --bootstrap 0 --format json";
  auto fallback = csv.Run("predict", flags);
  ASSERT_EQ(fallback.exit_code, 0) << fallback.err;
  auto scaling = csv.Run("predict", flags + " --form scaling");
  ASSERT_EQ(scaling.exit_code, 0) << scaling.err;
  auto f = nlohmann::json::parse(fallback.out)[0], s = nlohmann::json::parse(scaling.out)[0];
  EXPECT_EQ(f["form"], "scaling");
  EXPECT_EQ(f["fallback"]["asked_form"], "performance");
  EXPECT_NEAR(f["predicted"]["value"].get<double>(), s["predicted"]["value"].get<double>(), 1e-9);
  auto text = csv.Run("predict", "--layers 6 --d-model 40 --starts 200 --bootstrap 0");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("| form scaling: predicted HR@10"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("note: fitted with the scaling form instead of performance"),
            std::string::npos)
      << text.out;
}

TEST(LawCliTest, PredictionBeyondTheMetricsRangeIsSaidNotClipped) {
  const CsvInput csv(GridCsv());
  const std::string predict = "predict --csv " + csv.path() + " --starts 200 --bootstrap 0";
  auto far = Perflaw(predict + " --layers 16 --d-model 1000000");
  ASSERT_EQ(far.exit_code, 0) << far.err;
  EXPECT_NE(
      far.out.find("; beyond [0, 1], the range of HR@10: the fitted curves extrapolate there"),
      std::string::npos)
      << far.out;
  auto near = Perflaw(predict + " --layers 20 --d-model 60");
  ASSERT_EQ(near.exit_code, 0) << near.err;
  EXPECT_EQ(near.out.find("beyond [0, 1]"), std::string::npos) << near.out;
  auto json = Perflaw(predict + " --layers 16 --d-model 1000000 --format json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)[0]["outside_metric_range"], true);
}

TEST(LawCliTest, ReportWritesFiles) {
  const CsvInput csv(GridCsv());
  auto r = csv.Run("report", "--out " + csv.dir().File("rep") + " --starts 200 --bootstrap 50");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"report.md", "pred_vs_obs.png", "pred_vs_obs.svg", "g01_p01_surface.png",
                        "g01_p01_curves.svg"}) {
    EXPECT_TRUE(std::filesystem::exists(csv.dir().path() / "rep" / f)) << f;
  }
}

struct Bad {
  std::string csv;
  std::string args;
  std::string expect;
};

// A 3 x 3 grid whose best d_model is its largest (the law's d* is far above 32).
std::string EdgeCsv() {
  std::ostringstream csv;
  csv << "dataset,max_seq_len,layers,d_model,metric,value\n";
  int k = 0;
  for (int n : {1, 2, 3})
    for (int d : {8, 16, 32})
      csv << "synthetic,20," << n << ',' << d << ",HR@10,"
          << 0.3 + 0.05 * std::log(d) - 0.01 * (n - 2) * (n - 2) + 0.001 * (k++ % 3) << '\n';
  return csv.str();
}

TEST(LawCliTest, SuggestExtendsTheEdgeAndItsYamlIsASweepFragment) {
  const CsvInput csv(EdgeCsv());
  auto r =
      csv.Run("suggest", "--group-by max_seq_len --new-points 3 --bootstrap 100 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  ASSERT_EQ(j[0]["points"].size(), 3u) << r.out;
  for (const auto& p : j[0]["points"]) {
    EXPECT_EQ(p["rule"], "extend") << p.dump();
    EXPECT_GT(p["d_model"].get<double>(), 32) << p.dump();  // never a stored point
    EXPECT_FALSE(p["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(j[0]["keys"]["max_seq_len"], 20);

  // The YAML fragment completes a sweep over the same grid: 9 points plus the 3 proposed.
  r = csv.Run("suggest", "--group-by max_seq_len --new-points 3 --bootstrap 100 --format yaml");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  csv.dir().Write("s.yaml",
                  "name: t\ndata:\n  synthetic: {users: 50, items: 30, mean_length: 8, seed: 3}\n"
                  "train: {epochs: 2}\neval: {protocol: \"sampled:20\", ks: [10]}\n"
                  "grid:\n  model.layers: [1, 2, 3]\n  model.d_model: [8, 16, 32]\n"
                  "  data.max_seq_len: [20]\n" +
                      r.out);
  auto check = Perflaw("sweep check " + csv.dir().File("s.yaml"));
  EXPECT_EQ(check.exit_code, 0) << check.err << r.out;
  EXPECT_NE(check.out.find("12 points"), std::string::npos) << check.out;

  r = csv.Run("suggest", "--new-points 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--new-points must be >= 1"), std::string::npos) << r.err;
  r = csv.Run("suggest", "--budget 0");  // the old name, hidden
  EXPECT_NE(r.err.find("--new-points must be >= 1"), std::string::npos) << r.err;
}

TEST(LawCliTest, BadInputExitsTwoWithOneLine) {
  TempDir dir;
  const std::string header = "dataset,max_seq_len,layers,d_model,metric,value\n";
  std::string few = header;
  for (int i = 0; i < 5; ++i)
    few += "x,50," + std::to_string(4 * (i + 1)) + ",25,HR,0." + std::to_string(i + 1) + "\n";
  std::string constant = header;
  for (int n : {4, 8, 12}) {
    for (int d : {25, 50, 75})
      constant += "x,50," + std::to_string(n) + "," + std::to_string(d) + ",HR,0.5\n";
  }
  const std::vector<Bad> cases = {
      {"dataset,layers,d_model,metric,value\nx,4,25,HR,0.5\n", "", "missing column 'max_seq_len'"},
      {header + "x,50,4,25,HR,abc\n", "", "in.csv:2: column 'value' is not a finite number"},
      {header + "x,50,4,25,HR,NaN\n", "", "in.csv:2: column 'value' is not a finite number"},
      {header + "x,50,0,25,HR,0.5\n", "", "in.csv:2: column 'layers' must be > 0"},
      {header + "x,50,4,-1,HR,0.5\n", "", "in.csv:2: column 'd_model' must be > 0"},
      {few, "", "need at least 7 points, got 5"},
      {constant, "--form scaling", "constant"},
      {GridCsv(), "--starts 0", "option: starts must be >= 1"},
      {GridCsv(), "--train-where \"depth<4\"", "unknown column 'depth'"},
      {GridCsv(), "--where \"depth<4\"", "--where: unknown column 'depth'"},
      {GridCsv(), "--where \"layers>100\"", "--where 'layers>100' keeps none of the 24 rows"},
      {GridCsv(), "--metric NDCG@10", "metrics present: HR@10"},
      {GridCsv(), "--form nonsense", "--form"},
      {GridCsv(1), "--form performance-data", "needs at least 3 distinct values of D'"},
      {GridCsv(), "--seed -1", "--seed: must be an integer >= 0, got -1"},
  };
  for (const Bad& c : cases) {
    dir.Write("in.csv", c.csv);
    auto r = Perflaw("fit --csv " + dir.File("in.csv") + " --bootstrap 0 " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << " " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("perflaw: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
  // predict's point must be a real configuration.
  dir.Write("in.csv", GridCsv());
  for (const char* bad :
       {"--layers 2 --d-model inf", "--layers nan --d-model 64", "--layers 2 --d-model 0"}) {
    auto p = Perflaw("predict --csv " + dir.File("in.csv") + " --bootstrap 0 " + bad);
    EXPECT_EQ(p.exit_code, 2) << bad << " " << p.out;
    EXPECT_NE(p.err.find("must be a finite number > 0"), std::string::npos) << bad << p.err;
  }
  // Scaling has 3 parameters: 3 points are too few.
  dir.Write("in.csv", header + "x,50,4,25,HR,0.1\nx,50,8,50,HR,0.2\nx,50,16,25,HR,0.3\n");
  auto r = Perflaw("fit --csv " + dir.File("in.csv") + " --form scaling --bootstrap 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("need at least 4 points, got 3"), std::string::npos) << r.err;
}

TEST(LawCliTest, ReportWritesNothingOnBadInput) {
  TempDir dir;
  dir.Write("in.csv", "dataset,max_seq_len,layers,d_model,metric,value\nx,50,4,25,HR,oops\n");
  auto r = Perflaw("report --csv " + dir.File("in.csv") + " --out " + dir.File("rep"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "rep"));
}

}  // namespace
}  // namespace perflaw::testing
