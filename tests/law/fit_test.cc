// Fitting engine: recovery of known parameters, exactness of the linear baseline, intervals that
// cover the truth, determinism, and clear errors on degenerate input.
#include "law/fit.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <random>

#include "law/forms.h"
#include "tests/law/known_law.h"

namespace perflaw::law {
namespace {

const double kLayers[] = {4, 8, 12, 16, 24, 32};
const double kDims[] = {25, 50, 75, 100};

// The paper's 24-point grid, for every (tokens, apen) level given; values from the form at theta
// plus Gaussian noise of sd `noise`.
std::vector<Observation> Grid(const Form& form, const std::vector<double>& theta, double noise,
                              uint32_t seed,
                              std::vector<std::pair<double, double>> data_levels = {{1e6, 1.0}}) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<Observation> rows;
  for (auto [tokens, apen] : data_levels) {
    for (double n : kLayers) {
      for (double d : kDims) {
        Observation o = SyntheticCell(n, d);
        o.tokens = tokens;
        o.apen = apen;
        o.value = form.Eval(theta.data(), o, nullptr) + noise * gauss(rng);
        rows.push_back(o);
      }
    }
  }
  return rows;
}

std::unique_ptr<Form> MustForm(const std::string& name) {
  auto f = MakeForm(name);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return std::move(f).value();
}

FitOptions Quick() {
  FitOptions o;
  o.bootstrap = 0;
  o.loo = false;
  return o;
}

void ExpectRecovered(const FitResult& fit, const std::vector<double>& truth) {
  ASSERT_TRUE(fit.converged) << fit.summary;
  ASSERT_EQ(fit.params.size(), truth.size());
  for (size_t j = 0; j < truth.size(); ++j) {
    EXPECT_LT(std::fabs(fit.params[j] - truth[j]) / std::fabs(truth[j]), 1e-4)
        << fit.param_names[j] << " fitted " << fit.params[j] << " true " << truth[j];
  }
}

// Fits the form `name` to the noise-free grid it gives at `truth`.
StatusOr<FitResult> FitNoiseFree(const std::string& name, const std::vector<double>& truth,
                                 const FitOptions& options = Quick(),
                                 std::vector<std::pair<double, double>> data_levels = {
                                     {1e6, 1.0}}) {
  auto form = MustForm(name);
  return Fit(*form, Grid(*form, truth, 0, 1, std::move(data_levels)), options);
}

// w1, a, w2, b, p, c: optimum N* = 16, d* = 64 inside the grid.
const std::vector<double> kPerformance = {0.05, -1.0, 0.08, -2.0 / 3.0, 16.0, 0.3};

TEST(FitTest, RecoversPerformanceNoiseFree) {
  auto fit = FitNoiseFree("performance", kPerformance);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, kPerformance);
  EXPECT_GT(fit->in_sample.r2, 1 - 1e-12);
}

TEST(FitTest, RecoversPerformanceWithPositiveExponents) {
  const std::vector<double> truth = {0.04, 0.8, 0.06, 0.5, 0.2, 0.5};
  auto fit = FitNoiseFree("performance", truth);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, truth);
}

TEST(FitTest, RecoversPerformanceIntegerP) {
  FitOptions o = Quick();
  o.p_mode = PMode::kIntegerGrid;
  o.p_max = 40;
  o.starts = 200;
  auto fit = FitNoiseFree("performance", kPerformance, o);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, kPerformance);
}

TEST(FitTest, RecoversPerformanceDataNoiseFree) {
  // w1, a, w2, b, w3, e, p, c
  const std::vector<double> truth = {0.05, -1.0, 0.08, -2.0 / 3.0, 0.03, -0.25, 16.0, 0.3};
  auto fit = FitNoiseFree("performance-data", truth, Quick(),
                          {{2e5, 1.5}, {1e6, 2.0}, {5e6, 1.2}, {2e7, 2.5}});
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, truth);
}

TEST(FitTest, RecoversChinchillaNoiseFree) {
  // E, A, alpha, B, beta
  const std::vector<double> truth = {1.7, 400.0, 0.34, 410.0, 0.28};
  auto fit = FitNoiseFree("chinchilla", truth, Quick(), {{1e6, 1}, {1e7, 1}, {1e8, 1}, {1e9, 1}});
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, truth);
}

TEST(FitTest, RecoversScalingNoiseFree) {
  const std::vector<double> truth = {0.02, 0.05, 0.1};
  auto fit = FitNoiseFree("scaling", truth);
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, truth);
}

TEST(FitTest, ScalingEqualsNormalEquations) {
  auto form = MustForm("scaling");
  auto rows = Grid(*form, {0.02, 0.05, 0.1}, 0.01, 7);
  Eigen::Matrix3d xtx = Eigen::Matrix3d::Zero();
  Eigen::Vector3d xty = Eigen::Vector3d::Zero();
  for (const Observation& r : rows) {
    Eigen::Vector3d x(std::log(r.layers), std::log(r.d_model), 1.0);
    xtx += x * x.transpose();
    xty += x * r.value;
  }
  Eigen::Vector3d beta = xtx.inverse() * xty;
  auto fit = Fit(*form, rows, Quick());
  ASSERT_TRUE(fit.ok());
  EXPECT_TRUE(fit->converged);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(fit->params[j], beta(j), 1e-12);
}

// The scaling form's design matrix (ln N, ln d, 1) and the observed values.
void LogDesign(const std::vector<Observation>& rows, Eigen::MatrixXd* x, Eigen::VectorXd* y) {
  const int n = static_cast<int>(rows.size());
  x->resize(n, 3);
  y->resize(n);
  for (int i = 0; i < n; ++i) {
    x->row(i) << std::log(rows[i].layers), std::log(rows[i].d_model), 1.0;
    (*y)(i) = rows[i].value;
  }
}

// A noisy grid of the scaling form with its design: the fit checked against linear algebra.
struct NoisyScalingGrid {
  explicit NoisyScalingGrid(uint32_t seed)
      : form(MustForm("scaling")), rows(Grid(*form, {0.02, 0.05, 0.1}, 0.01, seed)) {
    LogDesign(rows, &x, &y);
  }
  int n() const { return static_cast<int>(rows.size()); }

  std::unique_ptr<Form> form;
  std::vector<Observation> rows;
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
};

TEST(FitTest, LooMatchesHatMatrixForScaling) {
  // For linear least squares the LOO residual is e_i / (1 - h_ii): an independent check of LOO.
  const NoisyScalingGrid grid(3);
  const int n = grid.n();
  const Eigen::MatrixXd& x = grid.x;
  const Eigen::VectorXd& y = grid.y;
  Eigen::MatrixXd h = x * (x.transpose() * x).inverse() * x.transpose();
  Eigen::VectorXd e = y - h * y;
  double press = 0;
  for (int i = 0; i < n; ++i) press += std::pow(e(i) / (1 - h(i, i)), 2);
  FitOptions o = Quick();
  o.loo = true;
  auto fit = Fit(*grid.form, grid.rows, o);
  ASSERT_TRUE(fit.ok());
  EXPECT_NEAR(fit->loo.rmse, std::sqrt(press / n), 1e-12);
  EXPECT_GT(fit->loo.rmse, fit->in_sample.rmse);
}

// The rows fitted with a Huber loss of small delta (robust) and by least squares (plain).
std::pair<StatusOr<FitResult>, StatusOr<FitResult>> FitRobustAndPlain(
    const Form& form, const std::vector<Observation>& rows) {
  FitOptions o = Quick();
  o.loss = Loss::kHuber;
  o.huber_delta = 1e-3;
  return {Fit(form, rows, o), Fit(form, rows, Quick())};
}

TEST(FitTest, HuberIgnoresAnOutlier) {
  auto form = MustForm("scaling");
  const std::vector<double> truth = {0.02, 0.05, 0.1};
  auto rows = Grid(*form, truth, 0, 1);
  rows[5].value += 0.5;
  auto [robust, plain] = FitRobustAndPlain(*form, rows);
  ASSERT_TRUE(robust.ok() && plain.ok());
  EXPECT_LT(std::fabs(robust->params[2] - truth[2]), 0.2 * std::fabs(plain->params[2] - truth[2]));
}

TEST(FitTest, HuberPerformanceFitConvergesAndResistsAnOutlier) {
  auto form = MustForm("performance");
  auto rows = Grid(*form, kPerformance, 0, 1);
  rows[9].value += 0.05;
  auto [robust, plain] = FitRobustAndPlain(*form, rows);
  ASSERT_TRUE(robust.ok() && plain.ok());
  EXPECT_TRUE(robust->converged) << robust->summary;
  const size_t c = 5;
  EXPECT_LT(std::fabs(robust->params[c] - kPerformance[c]),
            0.2 * std::fabs(plain->params[c] - kPerformance[c]));
}

TEST(FitTest, BootstrapIsDeterministicAndIndependentOfThreads) {
  auto form = MustForm("performance");
  auto rows = Grid(*form, kPerformance, 0.003, 5);
  FitOptions o;
  o.starts = 200;
  o.bootstrap = 60;
  o.threads = 1;
  auto one = Fit(*form, rows, o);
  o.threads = 2;
  auto two = Fit(*form, rows, o);
  ASSERT_TRUE(one.ok() && two.ok());
  ASSERT_EQ(one->bootstrap_params.size(), two->bootstrap_params.size());
  EXPECT_EQ(one->bootstrap_params, two->bootstrap_params);
  EXPECT_EQ(one->loo.rmse, two->loo.rmse);
  o.seed = 2;
  auto other = Fit(*form, rows, o);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(one->bootstrap_params, other->bootstrap_params);
}

TEST(FitTest, ResidualBootstrapSpreadMatchesTheLinearStandardErrors) {
  // For linear least squares the residual bootstrap with leverage-adjusted residuals reproduces
  // the textbook standard errors s * sqrt((X'X)^-1_jj), s^2 = RSS / (n - k); the fitted residuals
  // alone would give about sqrt((n - k) / n) of them (0.94 on 24 points).
  const NoisyScalingGrid grid(11);
  const int n = grid.n();
  const Eigen::MatrixXd& x = grid.x;
  const Eigen::VectorXd& y = grid.y;
  const Eigen::MatrixXd xtx_inv = (x.transpose() * x).inverse();
  const Eigen::VectorXd e = y - x * (xtx_inv * x.transpose() * y);
  const double s2 = e.squaredNorm() / (n - 3);
  FitOptions o = Quick();
  o.bootstrap = 4000;
  for (Resampling r : {Resampling::kResiduals, Resampling::kCases}) {
    o.resampling = r;
    auto fit = Fit(*grid.form, grid.rows, o);
    ASSERT_TRUE(fit.ok());
    EXPECT_EQ(fit->resampling, r);
    ASSERT_EQ(fit->bootstrap_params.size(), 4000u);
    if (r == Resampling::kCases) continue;  // cases: no closed form to compare with
    for (int j = 0; j < 3; ++j) {
      double mean = 0, var = 0;
      for (const auto& t : fit->bootstrap_params) mean += t[j] / 4000;
      for (const auto& t : fit->bootstrap_params) var += (t[j] - mean) * (t[j] - mean) / 3999;
      const double ratio = std::sqrt(var / (s2 * xtx_inv(j, j)));
      EXPECT_NEAR(ratio, 1.0, 0.05) << fit->param_names[j];
    }
  }
}

TEST(FitTest, StudentCalibratedTailMatchesTables) {
  // t_{0.975, 18} = 2.1009 (tables): the normal tail there is 0.01782.
  EXPECT_NEAR(StudentCalibratedTail(0.95, 18), 0.01782, 2e-5);
  // t_{0.95, 5} = 2.0150 -> 0.02195; many degrees of freedom: the plain normal tail.
  EXPECT_NEAR(StudentCalibratedTail(0.90, 5), 0.02195, 2e-5);
  EXPECT_NEAR(StudentCalibratedTail(0.95, 100000), 0.025, 1e-5);
  const double one = StudentCalibratedTail(0.95, 1);  // t = 12.71: the sample's extremes
  EXPECT_GE(one, 0.0);
  EXPECT_LT(one, 1e-30);
}

// With noise, the 95% bootstrap interval holds the true value in most seeded trials. Returns, per
// parameter, the number of trials whose interval covered the truth.
std::vector<int> Coverage(const std::string& name, const std::vector<double>& truth, double noise,
                          int trials) {
  auto form = MustForm(name);
  FitOptions o;
  o.starts = 100;
  o.polish = 4;
  o.bootstrap = 100;
  o.loo = false;
  std::vector<int> covered(truth.size(), 0);
  for (int t = 0; t < trials; ++t) {
    o.seed = 1000 + t;
    auto fit = Fit(*form, Grid(*form, truth, noise, 100 + t), o);
    EXPECT_TRUE(fit.ok());
    if (!fit.ok()) continue;
    for (size_t j = 0; j < truth.size(); ++j) {
      const Interval& iv = fit->param_intervals[j];
      covered[j] += iv.lo <= truth[j] && truth[j] <= iv.hi;
    }
  }
  for (size_t j = 0; j < truth.size(); ++j) {
    std::printf("%s %s: true value inside the %.0f%% interval in %d of %d trials\n", name.c_str(),
                form->params()[j].name.c_str(), 100 * o.level, covered[j], trials);
  }
  return covered;
}

TEST(FitTest, ScalingIntervalsCoverTheTruth) {
  for (int c : Coverage("scaling", {0.02, 0.05, 0.1}, 0.01, 100)) EXPECT_GE(c, 88);
}

TEST(FitTest, PerformanceIntervalsCoverTheTruth) {
  for (int c : Coverage("performance", kPerformance, 0.002, 100)) EXPECT_GE(c, 86);
}

TEST(FitTest, TooFewPoints) {
  auto form = MustForm("performance");
  auto rows = Grid(*form, kPerformance, 0, 1);
  rows.resize(6);
  auto fit = Fit(*form, rows, Quick());
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(fit.status().IsUserError());
  EXPECT_NE(fit.status().message().find("need at least 7 points, got 6"), std::string::npos)
      << fit.status().message();
}

TEST(FitTest, ConstantMetric) {
  auto form = MustForm("scaling");
  auto rows = Grid(*form, {0, 0, 0.25}, 0, 1);
  auto fit = Fit(*form, rows, Quick());
  ASSERT_FALSE(fit.ok());
  EXPECT_NE(fit.status().message().find("constant"), std::string::npos);
}

TEST(FitTest, NonPositiveSizeOrNaN) {
  auto form = MustForm("scaling");
  auto rows = Grid(*form, {0.02, 0.05, 0.1}, 0, 1);
  rows[2].layers = 0;
  EXPECT_FALSE(Fit(*form, rows, Quick()).ok());
  rows[2].layers = 4;
  rows[3].value = NAN;
  auto fit = Fit(*form, rows, Quick());
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(fit.status().IsUserError());
}

TEST(FitTest, PerformanceDataNeedsThreeDataLevels) {
  auto form = MustForm("performance-data");
  const std::vector<double> truth = {0.05, -1.0, 0.08, -0.6, 0.03, -0.25, 16.0, 0.3};
  auto rows = Grid(*form, truth, 0, 1, {{2e5, 1.5}, {1e6, 2.0}});
  auto fit = Fit(*form, rows, Quick());
  ASSERT_FALSE(fit.ok());
  EXPECT_NE(fit.status().message().find("D'"), std::string::npos);
  rows[0].apen = NAN;
  EXPECT_FALSE(Fit(*form, rows, Quick()).ok());
}

// --quality transition: the same law with D' = tokens * transition; apen is then ignored, and a
// row without transition is refused by name.
TEST(FitTest, PerformanceDataReadsTheChosenQuality) {
  FormOptions fo;
  fo.quality = "transition";
  auto made = MakeForm("performance-data", fo);
  ASSERT_TRUE(made.ok()) << made.status().message();
  const Form& form = **made;
  EXPECT_NE(form.formula().find("D' = tokens*transition"), std::string::npos) << form.formula();
  const std::vector<double> truth = {0.05, -1.0, 0.08, -2.0 / 3.0, 0.03, -0.25, 16.0, 0.3};
  // The values of the apen form at the same theta, with the measure moved to `transition`.
  auto rows = Grid(*MustForm("performance-data"), truth, 0, 1,
                   {{2e5, 1.5}, {1e6, 2.0}, {5e6, 1.2}, {2e7, 2.5}});
  for (Observation& r : rows) {
    r.transition = r.apen;
    r.apen = NAN;
  }
  auto fit = Fit(form, rows, Quick());
  ASSERT_TRUE(fit.ok()) << fit.status().message();
  ExpectRecovered(*fit, truth);
  rows[5].transition = NAN;
  auto missing = Fit(form, rows, Quick());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("needs column 'transition'"), std::string::npos)
      << missing.status().message();
  fo.quality = "zlib";
  std::string why;
  EXPECT_FALSE(fo.IsValid(&why));
  EXPECT_NE(why.find("quality must be apen or transition"), std::string::npos) << why;
  EXPECT_FALSE(MakeForm("performance-data", fo).ok());
}

TEST(FitTest, OptionsValidation) {
  std::string why;
  FitOptions o;
  EXPECT_TRUE(o.IsValid(&why));
  o.starts = 0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_NE(why.find("starts"), std::string::npos);
  o = FitOptions();
  o.level = 1.0;
  EXPECT_FALSE(o.IsValid(&why));
  EXPECT_NE(why.find("level"), std::string::npos);
  o = FitOptions();
  o.huber_delta = 0;
  EXPECT_FALSE(o.IsValid(&why));
  o = FitOptions();
  o.p_max = 0;
  EXPECT_FALSE(o.IsValid(&why));
  FitResult fresh;
  EXPECT_FALSE(fresh.ran);
  EXPECT_EQ(fresh.summary, "not run");
}

TEST(FitTest, NonConvergenceIsReported) {
  auto form = MustForm("performance");
  FitOptions o = Quick();
  o.max_iterations = 1;
  o.starts = 10;
  o.polish = 1;
  auto fit = Fit(*form, Grid(*form, kPerformance, 0.01, 1), o);
  ASSERT_TRUE(fit.ok());
  EXPECT_TRUE(fit->ran);
  EXPECT_FALSE(fit->converged);
  EXPECT_EQ(fit->summary.rfind("did not converge", 0), 0u) << fit->summary;
}

}  // namespace
}  // namespace perflaw::law
