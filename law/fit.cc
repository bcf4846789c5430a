#include "law/fit.h"

#include <ceres/ceres.h>

#include <Eigen/Dense>
#include <algorithm>
#include <limits>
#include <memory>
#include <numeric>
#include <set>
#include <thread>

#include "apen/parallel.h"

namespace perflaw::law {
namespace {

constexpr double kUnbounded = 1e299;
constexpr double kInfCost = std::numeric_limits<double>::infinity();

// ---- deterministic randomness: SplitMix64, independent streams per resample index ----
uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Bootstrap counts for resample `b`: n draws with replacement, a pure function of (seed, b).
std::vector<double> ResampleWeights(uint64_t seed, int b, size_t n) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ULL * (static_cast<uint64_t>(b) + 1));
  std::vector<double> w(n, 0.0);
  for (size_t i = 0; i < n; ++i) w[SplitMix(&state) % n] += 1.0;  // bias < n / 2^64
  return w;
}

double RadicalInverse(uint64_t i, uint64_t base) {
  double inv = 1.0 / static_cast<double>(base), f = inv, r = 0;
  for (; i > 0; i /= base, f *= inv) r += f * static_cast<double>(i % base);
  return r;
}

const uint64_t kPrimes[] = {2, 3, 5, 7, 11, 13, 17, 19};

// ---- the problem: rows, weights, form, which parameters are held fixed ----
struct Problem {
  const Form* form;
  const std::vector<Observation>* rows;
  const FitOptions* options;
  std::vector<int> nonlinear;  // indices of free nonlinear parameters (start grid dimensions)
  std::vector<int> linear;     // indices of linear parameters
};

double Rho(double r, const FitOptions& o) {
  double s = r * r;
  if (o.loss == Loss::kSquared || s <= o.huber_delta * o.huber_delta) return s;
  return 2 * o.huber_delta * std::sqrt(s) - o.huber_delta * o.huber_delta;
}

double Cost(const Problem& pb, const std::vector<double>& w, const double* theta) {
  double cost = 0;
  for (size_t i = 0; i < pb.rows->size(); ++i) {
    if (w[i] == 0) continue;
    double r = pb.form->Eval(theta, (*pb.rows)[i], nullptr) - (*pb.rows)[i].value;
    if (!std::isfinite(r)) return kInfCost;
    cost += w[i] * Rho(r, *pb.options);
  }
  return 0.5 * cost;
}

// Sets the linear parameters of theta to their weighted least-squares values for the current
// nonlinear ones (clamped to bounds). Returns false if the basis is not finite.
bool ProjectLinear(const Problem& pb, const std::vector<double>& w, double* theta,
                   bool* clamped = nullptr) {
  const size_t m = pb.rows->size(), l = pb.linear.size();
  if (l == 0) return true;
  const auto& specs = pb.form->params();
  for (int j : pb.linear) theta[j] = 0;
  Eigen::MatrixXd a(m, l);
  Eigen::VectorXd y(m);
  double grad[16];
  for (size_t i = 0; i < m; ++i) {
    double sw = std::sqrt(w[i]);
    double base = pb.form->Eval(theta, (*pb.rows)[i], grad);
    for (size_t j = 0; j < l; ++j) a(i, j) = sw * grad[pb.linear[j]];
    y(i) = sw * ((*pb.rows)[i].value - base);
  }
  if (!a.allFinite() || !y.allFinite()) return false;
  Eigen::VectorXd x = a.colPivHouseholderQr().solve(y);
  for (size_t j = 0; j < l; ++j) {
    const ParamSpec& s = specs[pb.linear[j]];
    theta[pb.linear[j]] = std::clamp(x(j), s.lower, s.upper);
    if (clamped && theta[pb.linear[j]] != x(j)) *clamped = true;
  }
  return x.allFinite();
}

struct Candidate {
  std::vector<double> theta;
  double cost = kInfCost;
};

// The s-th multi-start point: Halton coordinates mapped to each nonlinear parameter's start range.
std::vector<double> StartPoint(const Problem& pb, const std::vector<double>& fixed_theta, int s) {
  std::vector<double> theta = fixed_theta;
  const auto& specs = pb.form->params();
  for (size_t k = 0; k < pb.nonlinear.size(); ++k) {
    const ParamSpec& sp = specs[pb.nonlinear[k]];
    double u = RadicalInverse(static_cast<uint64_t>(s) + 1, kPrimes[k]);
    theta[pb.nonlinear[k]] =
        sp.log_start ? std::exp(std::log(sp.start_lo) + u * std::log(sp.start_hi / sp.start_lo))
                     : sp.start_lo + u * (sp.start_hi - sp.start_lo);
  }
  return theta;
}

Candidate Screen(const Problem& pb, const std::vector<double>& w, std::vector<double> theta) {
  Candidate c;
  if (!ProjectLinear(pb, w, theta.data())) return c;
  c.cost = Cost(pb, w, theta.data());
  if (!std::isfinite(c.cost)) c.cost = kInfCost;
  c.theta = std::move(theta);
  return c;
}

// ---- Ceres polish ----
class PointCost : public ceres::CostFunction {
 public:
  PointCost(const Form& form, const Observation& x) : form_(form), x_(x) {
    set_num_residuals(1);
    mutable_parameter_block_sizes()->push_back(static_cast<int>(form.num_params()));
  }
  bool Evaluate(double const* const* params, double* residuals, double** jacobians) const override {
    double* grad = (jacobians && jacobians[0]) ? jacobians[0] : nullptr;
    residuals[0] = form_.Eval(params[0], x_, grad) - x_.value;
    if (!std::isfinite(residuals[0])) return false;
    if (grad) {
      for (size_t j = 0; j < form_.num_params(); ++j) {
        if (!std::isfinite(grad[j])) return false;
      }
    }
    return true;
  }

 private:
  const Form& form_;
  const Observation& x_;
};

struct Solved {
  std::vector<double> theta;
  double cost = kInfCost;
  bool converged = false;
  bool failed = true;
  std::string message = "not run";
};

ceres::Solver::Options SolverOptions(const FitOptions& o) {
  ceres::Solver::Options so;
  so.linear_solver_type = ceres::DENSE_QR;
  so.max_num_iterations = o.max_iterations;
  so.function_tolerance = o.tolerance;
  so.gradient_tolerance = o.tolerance;
  so.parameter_tolerance = std::min(1e-8, 1e3 * o.tolerance);
  so.logging_type = ceres::SILENT;
  so.minimizer_progress_to_stdout = false;
  so.num_threads = 1;
  return so;
}

Solved Polish(const Problem& pb, const std::vector<double>& w, std::vector<double> theta,
              const std::vector<int>& fixed) {
  const FitOptions& o = *pb.options;
  const int k = static_cast<int>(pb.form->num_params());
  ceres::Problem::Options popts;
  popts.cost_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  popts.loss_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  popts.manifold_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  ceres::Problem problem(popts);
  std::vector<std::unique_ptr<PointCost>> costs;
  std::vector<std::unique_ptr<ceres::LossFunction>> losses;
  std::unique_ptr<ceres::LossFunction> huber;
  if (o.loss == Loss::kHuber) huber = std::make_unique<ceres::HuberLoss>(o.huber_delta);
  for (size_t i = 0; i < pb.rows->size(); ++i) {
    if (w[i] == 0) continue;
    costs.push_back(std::make_unique<PointCost>(*pb.form, (*pb.rows)[i]));
    ceres::LossFunction* loss = huber.get();
    if (w[i] != 1) {
      losses.push_back(
          std::make_unique<ceres::ScaledLoss>(huber.get(), w[i], ceres::DO_NOT_TAKE_OWNERSHIP));
      loss = losses.back().get();
    }
    problem.AddResidualBlock(costs.back().get(), loss, theta.data());
  }
  const auto& specs = pb.form->params();
  for (int j = 0; j < k; ++j) {
    theta[j] = std::clamp(theta[j], specs[j].lower, specs[j].upper);
    if (specs[j].lower > -kUnbounded)
      problem.SetParameterLowerBound(theta.data(), j, specs[j].lower);
    if (specs[j].upper < kUnbounded)
      problem.SetParameterUpperBound(theta.data(), j, specs[j].upper);
  }
  std::unique_ptr<ceres::SubsetManifold> subset;
  if (!fixed.empty()) {
    subset = std::make_unique<ceres::SubsetManifold>(k, fixed);
    problem.SetManifold(theta.data(), subset.get());
  }
  ceres::Solver::Summary summary;
  ceres::Solve(SolverOptions(o), &problem, &summary);
  Solved s;
  s.failed = summary.termination_type == ceres::FAILURE || !std::isfinite(summary.final_cost);
  s.converged = summary.termination_type == ceres::CONVERGENCE;
  s.cost = s.failed ? kInfCost : summary.final_cost;
  s.message = summary.message + " (" + std::to_string(summary.iterations.size()) + " iterations)";
  s.theta = std::move(theta);
  return s;
}

bool IsBetter(const Solved& a, const Solved& b) {
  if (a.failed != b.failed) return !a.failed;
  return a.cost < b.cost;
}

// ---- strategies ----
bool ExactLinear(const Form& form, const FitOptions& o) {
  if (o.loss != Loss::kSquared) return false;
  for (const ParamSpec& s : form.params()) {
    if (!s.linear || s.lower > -kUnbounded || s.upper < kUnbounded) return false;
  }
  return true;
}

bool IntegerP(const Form& form, const FitOptions& o) {
  return o.p_mode == PMode::kIntegerGrid && form.p_index() >= 0;
}

Problem MakeProblem(const Form& form, const std::vector<Observation>& rows, const FitOptions& o) {
  Problem pb{&form, &rows, &o, {}, {}};
  for (size_t j = 0; j < form.num_params(); ++j) {
    if (form.params()[j].linear)
      pb.linear.push_back(static_cast<int>(j));
    else if (!(IntegerP(form, o) && static_cast<int>(j) == form.p_index()))
      pb.nonlinear.push_back(static_cast<int>(j));
  }
  return pb;
}

std::vector<Candidate> ScreenAll(const Problem& pb, const std::vector<double>& w,
                                 const std::vector<double>& base) {
  std::vector<Candidate> out;
  const int starts = pb.nonlinear.empty() ? 1 : pb.options->starts;  // one start is exhaustive
  out.reserve(starts);
  for (int s = 0; s < starts; ++s) out.push_back(Screen(pb, w, StartPoint(pb, base, s)));
  std::stable_sort(out.begin(), out.end(),
                   [](const Candidate& a, const Candidate& b) { return a.cost < b.cost; });
  return out;
}

// A Ceres run from `start`; one continuation if it stopped on the iteration limit.
Solved PolishWithRetry(const Problem& pb, const std::vector<double>& w,
                       const std::vector<double>& start, const std::vector<int>& fixed) {
  Solved s = Polish(pb, w, start, fixed);
  if (!s.failed && !s.converged) {
    Solved again = Polish(pb, w, s.theta, fixed);
    if (!again.failed) s = again;
  }
  return s;
}

// Variable projection (Golub-Pereyra, Kaufman's Jacobian): the residual as a function of the free
// nonlinear parameters only, the linear ones solved exactly inside. One block of m residuals.
class VarProCost : public ceres::CostFunction {
 public:
  VarProCost(const Problem& pb, const std::vector<double>& w, const std::vector<double>& base)
      : pb_(pb), w_(w), base_(base) {
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] > 0) used_.push_back(i);
    }
    set_num_residuals(static_cast<int>(used_.size()));
    mutable_parameter_block_sizes()->push_back(static_cast<int>(pb.nonlinear.size()));
  }
  bool Evaluate(double const* const* params, double* residuals, double** jacobians) const override {
    const size_t m = used_.size(), l = pb_.linear.size(), q = pb_.nonlinear.size();
    std::vector<double> theta = Theta(params[0]);
    Eigen::MatrixXd phi(m, l);
    Eigen::VectorXd y(m), sw(m);
    double grad[16];
    for (int j : pb_.linear) theta[j] = 0;
    for (size_t r = 0; r < m; ++r) {
      const Observation& x = (*pb_.rows)[used_[r]];
      sw(r) = std::sqrt(w_[used_[r]]);
      double base = pb_.form->Eval(theta.data(), x, grad);
      for (size_t j = 0; j < l; ++j) phi(r, j) = sw(r) * grad[pb_.linear[j]];
      y(r) = sw(r) * (x.value - base);
    }
    if (!phi.allFinite() || !y.allFinite()) return false;
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(phi);
    Eigen::VectorXd beta = qr.solve(y);
    if (!beta.allFinite()) return false;
    Eigen::VectorXd res = phi * beta - y;
    for (size_t r = 0; r < m; ++r) residuals[r] = res(r);
    if (!jacobians || !jacobians[0]) return true;
    for (size_t j = 0; j < l; ++j) theta[pb_.linear[j]] = beta(j);
    Eigen::MatrixXd d(m, q);
    for (size_t r = 0; r < m; ++r) {
      pb_.form->Eval(theta.data(), (*pb_.rows)[used_[r]], grad);
      for (size_t k = 0; k < q; ++k) d(r, k) = sw(r) * grad[pb_.nonlinear[k]];
    }
    // Project the columns onto the orthogonal complement of span(phi).
    const Eigen::Index rank = qr.rank();
    Eigen::MatrixXd qm = qr.householderQ() * Eigen::MatrixXd::Identity(m, l);
    Eigen::MatrixXd qk = qm.leftCols(rank);
    Eigen::MatrixXd j = d - qk * (qk.transpose() * d);
    if (!j.allFinite()) return false;
    for (size_t r = 0; r < m; ++r) {
      for (size_t k = 0; k < q; ++k) jacobians[0][r * q + k] = j(r, k);
    }
    return true;
  }
  std::vector<double> Theta(const double* nonlinear) const {
    std::vector<double> theta = base_;
    for (size_t k = 0; k < pb_.nonlinear.size(); ++k) theta[pb_.nonlinear[k]] = nonlinear[k];
    return theta;
  }

 private:
  const Problem& pb_;
  const std::vector<double>& w_;
  std::vector<double> base_;
  std::vector<size_t> used_;
};

// One variable-projection solve with least-squares weights `fw`; the cost is reported with the
// problem's loss and weights `w`.
Solved VarProSolve(const Problem& pb, const std::vector<double>& w, const std::vector<double>& fw,
                   const std::vector<double>& start) {
  VarProCost cost(pb, fw, start);
  std::vector<double> x;
  for (int k : pb.nonlinear) x.push_back(start[k]);
  ceres::Problem::Options popts;
  popts.cost_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  ceres::Problem problem(popts);
  problem.AddResidualBlock(&cost, nullptr, x.data());
  const auto& specs = pb.form->params();
  for (size_t k = 0; k < pb.nonlinear.size(); ++k) {
    const ParamSpec& s = specs[pb.nonlinear[k]];
    x[k] = std::clamp(x[k], s.lower, s.upper);
    problem.SetParameterLowerBound(x.data(), static_cast<int>(k), s.lower);
    problem.SetParameterUpperBound(x.data(), static_cast<int>(k), s.upper);
  }
  ceres::Solver::Summary summary;
  ceres::Solve(SolverOptions(*pb.options), &problem, &summary);
  Solved s;
  s.theta = cost.Theta(x.data());
  bool clamped = false;
  s.failed = summary.termination_type == ceres::FAILURE ||
             !ProjectLinear(pb, fw, s.theta.data(), &clamped);
  s.converged = summary.termination_type == ceres::CONVERGENCE && !clamped &&
                pb.options->loss == Loss::kSquared;
  s.cost = s.failed ? kInfCost : Cost(pb, w, s.theta.data());
  if (!std::isfinite(s.cost)) s.failed = true, s.cost = kInfCost;
  s.message = "variable projection: " + summary.message + " (" +
              std::to_string(summary.iterations.size()) + " iterations)";
  return s;
}

// Squared loss: one solve. Huber loss: iteratively reweighted least squares (weights
// min(1, delta/|r|)) around the solve, which lands next to the robust optimum; the caller then
// finishes with a full Ceres solve under the Huber loss.
Solved VarProPolish(const Problem& pb, const std::vector<double>& w,
                    const std::vector<double>& start) {
  Solved s = VarProSolve(pb, w, w, start);
  if (pb.options->loss != Loss::kHuber) return s;
  std::vector<double> fw = w;
  for (int round = 0; round < 20 && !s.failed; ++round) {
    double change = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      double r =
          std::fabs(pb.form->Eval(s.theta.data(), (*pb.rows)[i], nullptr) - (*pb.rows)[i].value);
      double nw = w[i] * (r > pb.options->huber_delta ? pb.options->huber_delta / r : 1.0);
      change = std::max(change, std::fabs(nw - fw[i]) / std::max(w[i], 1.0));
      fw[i] = nw;
    }
    if (change < 1e-6) break;
    Solved next = VarProSolve(pb, w, fw, s.theta);
    if (next.failed) break;
    s = next;
  }
  return s;
}

// The refinement of one start: variable projection over the nonlinear parameters, then (when
// the result is not already exact: Huber loss, a linear bound hit, or `final` requested) a
// Ceres solve over all parameters with bounds, starting there.
Solved Refine(const Problem& pb, const std::vector<double>& w, const std::vector<double>& start,
              const std::vector<int>& fixed, bool final) {
  if (pb.nonlinear.empty()) {  // all-linear form under Huber loss: LS start, then Ceres
    std::vector<double> ls = start;
    ProjectLinear(pb, w, ls.data());
    return PolishWithRetry(pb, w, ls, fixed);
  }
  Solved s = VarProPolish(pb, w, start);
  if (s.failed) return PolishWithRetry(pb, w, start, fixed);
  if (s.converged && !final) return s;
  Solved full = PolishWithRetry(pb, w, s.theta, fixed);
  return IsBetter(full, s) || full.converged ? full : s;
}

struct FullFit {
  Solved best;
  std::vector<Candidate> screened;  // full-data starts, best first (continuous mode)
  int starts = 0, polished = 0;
};

FullFit FitContinuous(const Problem& pb, const std::vector<double>& w) {
  FullFit f;
  std::vector<double> base(pb.form->num_params(), 0.0);
  f.screened = ScreenAll(pb, w, base);
  f.starts = pb.options->starts;
  int n_polish = std::min<int>(pb.options->polish, static_cast<int>(f.screened.size()));
  for (int i = 0; i < n_polish; ++i) {
    if (!std::isfinite(f.screened[i].cost)) break;
    Solved s = Refine(pb, w, f.screened[i].theta, {}, false);
    ++f.polished;
    if (IsBetter(s, f.best)) f.best = s;
  }
  if (!f.best.failed) f.best = Refine(pb, w, f.best.theta, {}, true);
  return f;
}

FullFit FitIntegerP(const Problem& pb, const std::vector<double>& w) {
  FullFit f;
  const int pi = pb.form->p_index();
  for (int p = pb.options->p_min; p <= pb.options->p_max; ++p) {
    std::vector<double> base(pb.form->num_params(), 0.0);
    base[pi] = p;
    std::vector<Candidate> screened = ScreenAll(pb, w, base);
    f.starts += pb.options->starts;
    // Fewer refinements per p than in continuous mode: the grid over p does part of the search.
    const int per_p = std::max(1, pb.options->polish / 8);
    for (int i = 0; i < per_p && std::isfinite(screened[i].cost); ++i) {
      Solved s = Refine(pb, w, screened[i].theta, {pi}, false);
      ++f.polished;
      if (IsBetter(s, f.best)) f.best = s;
    }
  }
  if (!f.best.failed) f.best = Refine(pb, w, f.best.theta, {pi}, true);
  return f;
}

Solved FitExact(const Problem& pb, const std::vector<double>& w) {
  Solved s;
  s.theta.assign(pb.form->num_params(), 0.0);
  s.failed = !ProjectLinear(pb, w, s.theta.data());
  s.converged = !s.failed;
  s.cost = s.failed ? kInfCost : Cost(pb, w, s.theta.data());
  s.message = s.failed ? "linear least squares failed (non-finite basis)"
                       : "exact linear least squares (QR)";
  return s;
}

// Refit on reweighted data (bootstrap counts, or LOO with one weight 0), starting from the
// full-data optimum plus the best re-screened full-data starts; see docs/law.md.
Solved Refit(const Problem& pb, const FullFit& full, const std::vector<double>& w) {
  const Form& form = *pb.form;
  const FitOptions& o = *pb.options;
  if (ExactLinear(form, o)) return FitExact(pb, w);
  if (IntegerP(form, o)) {
    const int pi = form.p_index();
    int p_hat = static_cast<int>(std::lround(full.best.theta[pi]));
    Solved best;
    for (int p = std::max(o.p_min, p_hat - o.p_window); p <= std::min(o.p_max, p_hat + o.p_window);
         ++p) {
      std::vector<double> start = full.best.theta;
      start[pi] = p;
      Solved s = Refine(pb, w, start, {pi}, false);
      if (IsBetter(s, best)) best = s;
    }
    return best;
  }
  Solved best = Refine(pb, w, full.best.theta, {}, false);
  // A second start only when a screened full-data start beats the full-data optimum here.
  Candidate screened = Screen(pb, w, full.best.theta);
  const double optimum_cost = screened.cost;
  int n = std::min<int>(o.bootstrap_screen, static_cast<int>(full.screened.size()));
  for (int i = 0; i < n; ++i) {
    Candidate c = Screen(pb, w, full.screened[i].theta);
    if (c.cost < screened.cost) screened = c;
  }
  if (std::isfinite(screened.cost) && screened.cost < optimum_cost) {
    Solved s = Refine(pb, w, screened.theta, {}, false);
    if (IsBetter(s, best)) best = s;
  }
  return best;
}

Status CheckFitInput(const Form& form, const std::vector<Observation>& rows) {
  const size_t k = form.num_params();
  if (rows.size() <= k) {
    return Status::FailedPrecondition("form " + form.name() + " has " + std::to_string(k) +
                                      " parameters; need at least " + std::to_string(k + 1) +
                                      " points, got " + std::to_string(rows.size()));
  }
  auto [lo, hi] = std::minmax_element(
      rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  if (lo->value == hi->value) {
    return Status::FailedPrecondition("metric value is constant (" + FormatNumber(lo->value) +
                                      ") across all " + std::to_string(rows.size()) +
                                      " points; nothing to fit (R^2 undefined)");
  }
  for (const Observation& r : rows) {
    if (!std::isfinite(r.value) || !(r.layers > 0) || !(r.d_model > 0)) {
      return Status::InvalidArgument(r.origin + ": value must be finite and layers, d_model > 0");
    }
  }
  return form.CheckData(rows);
}

std::vector<double> Predictions(const Form& form, const std::vector<Observation>& rows,
                                const std::vector<double>& theta) {
  std::vector<double> p;
  for (const Observation& r : rows) p.push_back(form.Eval(theta.data(), r, nullptr));
  return p;
}

std::vector<double> Values(const std::vector<Observation>& rows) {
  std::vector<double> v;
  for (const Observation& r : rows) v.push_back(r.value);
  return v;
}

// The problem with the looser refit tolerance, for LOO and bootstrap refits.
Problem RefitProblem(const Problem& pb, FitOptions* storage) {
  *storage = *pb.options;
  storage->tolerance = pb.options->refit_tolerance;
  Problem r = pb;
  r.options = storage;
  return r;
}

// Returns each point's prediction by the fit without it (NaN where that refit failed).
std::vector<double> RunLoo(const Problem& full_pb, const FullFit& full, FitResult* result) {
  FitOptions refit_options;
  const Problem pb = RefitProblem(full_pb, &refit_options);
  const auto& rows = *pb.rows;
  std::vector<double> pred(rows.size(), NAN);
  std::vector<char> converged(rows.size(), 0);
  // Each i writes only its own slot: the results do not depend on the thread count.
  apen::ParallelFor(rows.size(), apen::ResolveThreads(pb.options->threads), [&](size_t i, size_t) {
    std::vector<double> w(rows.size(), 1.0);
    w[i] = 0;
    Solved s = Refit(pb, full, w);
    converged[i] = s.converged;
    if (!s.failed) pred[i] = pb.form->Eval(s.theta.data(), rows[i], nullptr);
  });
  result->loo_failed = static_cast<int>(std::count(converged.begin(), converged.end(), 0));
  result->loo = Score(Values(rows), pred);
  return pred;
}

// The noise to resample, centred: each point's leave-one-out residual y_i - yhat_(-i) times
// sqrt(1 - h_ii), h the leverages of the fit linearised at theta. For linear least squares this is
// exactly r_i / sqrt(1 - h_ii) (Davison & Hinkley 1997, sec. 6.2-6.3), whose variance is the
// noise's; fitted residuals are smaller by the degrees of freedom the fit used, most at the grid's
// corners, and a nonlinear law bends towards a point by more than its linearisation says, which
// the leave-one-out residual sees. Without LOO predictions: r_i / sqrt(1 - h_ii). A point the fit
// passes through exactly (h_ii ~ 1) carries no information on the noise: 0.
std::vector<double> ModifiedResiduals(const Problem& pb, const std::vector<double>& theta,
                                      const std::vector<double>& loo_pred) {
  const auto& rows = *pb.rows;
  const size_t m = rows.size(), k = pb.form->num_params();
  Eigen::MatrixXd jac(m, k);
  std::vector<double> r(m);
  double grad[16];
  for (size_t i = 0; i < m; ++i) {
    r[i] = rows[i].value - pb.form->Eval(theta.data(), rows[i], grad);
    for (size_t j = 0; j < k; ++j) jac(i, j) = grad[j];
  }
  std::vector<double> h(m, 0.0);
  if (jac.allFinite()) {
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(jac);
    const Eigen::MatrixXd q =
        (qr.householderQ() * Eigen::MatrixXd::Identity(m, k)).leftCols(qr.rank());
    for (size_t i = 0; i < m; ++i) h[i] = q.row(i).squaredNorm();
  }
  const bool loo = loo_pred.size() == m && std::all_of(loo_pred.begin(), loo_pred.end(),
                                                       [](double v) { return std::isfinite(v); });
  double mean = 0;
  for (size_t i = 0; i < m; ++i) {
    if (!(h[i] < 1 - 1e-9))
      r[i] = 0.0;
    else if (loo)
      r[i] = (rows[i].value - loo_pred[i]) * std::sqrt(1 - h[i]);
    else
      r[i] /= std::sqrt(1 - h[i]);
    mean += r[i] / m;
  }
  for (double& x : r) x -= mean;
  return r;
}

// Resample b of the residual bootstrap: the fitted values plus n residuals drawn with
// replacement, a pure function of (seed, b).
std::vector<Observation> ResampleValues(const std::vector<Observation>& rows,
                                        const std::vector<double>& fitted,
                                        const std::vector<double>& residuals, uint64_t seed,
                                        int b) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ULL * (static_cast<uint64_t>(b) + 1));
  std::vector<Observation> out = rows;
  for (size_t i = 0; i < out.size(); ++i)
    out[i].value = fitted[i] + residuals[SplitMix(&state) % residuals.size()];
  return out;
}

// One bootstrap refit: reweighted points (cases) or redrawn noise on the fixed grid (residuals).
Solved BootstrapRefit(const Problem& pb, const FullFit& full, const std::vector<double>& fitted,
                      const std::vector<double>& residuals, int b) {
  const FitOptions& o = *pb.options;
  const size_t n = pb.rows->size();
  if (o.resampling == Resampling::kCases) return Refit(pb, full, ResampleWeights(o.seed, b, n));
  const std::vector<Observation> rows = ResampleValues(*pb.rows, fitted, residuals, o.seed, b);
  Problem resampled = pb;
  resampled.rows = &rows;
  return Refit(resampled, full, std::vector<double>(n, 1.0));
}

void RunBootstrap(const Problem& full_pb, const FullFit& full, const std::vector<double>& loo_pred,
                  FitResult* result) {
  FitOptions refit_options;
  const Problem pb = RefitProblem(full_pb, &refit_options);
  const FitOptions& o = *pb.options;
  const std::vector<double> fitted = Predictions(*pb.form, *pb.rows, full.best.theta);
  const std::vector<double> residuals = ModifiedResiduals(pb, full.best.theta, loo_pred);
  std::vector<Solved> samples(o.bootstrap);
  apen::ParallelFor(samples.size(), apen::ResolveThreads(o.threads), [&](size_t b, size_t) {
    samples[b] = BootstrapRefit(pb, full, fitted, residuals, static_cast<int>(b));
  });
  for (const Solved& s : samples) {
    if (s.failed)
      ++result->bootstrap_failed;
    else
      result->bootstrap_params.push_back(s.theta);
  }
  for (size_t j = 0; j < pb.form->num_params(); ++j) {
    result->param_intervals.push_back(
        BootstrapInterval(*result, [j](const double* t) { return t[j]; }));
  }
}

}  // namespace

const char* ResamplingName(Resampling r) { return r == Resampling::kCases ? "cases" : "residuals"; }

bool FitOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    *why = m;
    return false;
  };
  if (starts < 1) return fail("starts must be >= 1, got " + std::to_string(starts));
  if (polish < 1) return fail("polish must be >= 1, got " + std::to_string(polish));
  if (!(huber_delta > 0) || !std::isfinite(huber_delta))
    return fail("huber_delta must be > 0, got " + FormatNumber(huber_delta));
  if (bootstrap < 0) return fail("bootstrap must be >= 0, got " + std::to_string(bootstrap));
  if (bootstrap_screen < 0)
    return fail("bootstrap_screen must be >= 0, got " + std::to_string(bootstrap_screen));
  if (!(level > 0 && level < 1)) return fail("level must be in (0, 1), got " + FormatNumber(level));
  if (threads < 0) return fail("threads must be >= 0, got " + std::to_string(threads));
  if (max_iterations < 1)
    return fail("max_iterations must be >= 1, got " + std::to_string(max_iterations));
  if (!(tolerance > 0) || tolerance >= 1)
    return fail("tolerance must be in (0, 1), got " + FormatNumber(tolerance));
  if (!(refit_tolerance > 0) || refit_tolerance >= 1)
    return fail("refit_tolerance must be in (0, 1), got " + FormatNumber(refit_tolerance));
  if (p_min < 1) return fail("p_min must be >= 1, got " + std::to_string(p_min));
  if (p_max < p_min)
    return fail("p_max (" + std::to_string(p_max) + ") must be >= p_min (" + std::to_string(p_min) +
                ")");
  if (p_window < 0) return fail("p_window must be >= 0, got " + std::to_string(p_window));
  return true;
}

Metrics Score(const std::vector<double>& observed, const std::vector<double>& predicted) {
  Metrics m;
  m.n = static_cast<int>(observed.size());
  if (observed.empty()) return m;
  double mean = std::accumulate(observed.begin(), observed.end(), 0.0) / observed.size();
  double sse = 0, sst = 0, sae = 0, sape = 0;
  bool ape_ok = true;
  for (size_t i = 0; i < observed.size(); ++i) {
    double r = predicted[i] - observed[i];
    sse += r * r;
    sst += (observed[i] - mean) * (observed[i] - mean);
    sae += std::fabs(r);
    if (observed[i] == 0)
      ape_ok = false;
    else
      sape += std::fabs(r / observed[i]);
  }
  const double n = static_cast<double>(observed.size());
  m.rmse = std::sqrt(sse / n);
  m.mae = sae / n;
  m.mape = ape_ok ? 100.0 * sape / n : NAN;
  m.r2 = sst > 0 ? 1.0 - sse / sst : NAN;
  return m;  // NaN predictions propagate: a failed refit makes the LOO scores NaN, visibly.
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = q * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

namespace {

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Student's t CDF for x >= 0: 1/2 plus Simpson's rule on the density over [0, x] (smooth, so
// 2,000 panels give better than 1e-9 for dof >= 1 and x <= 100).
double StudentCdf(double x, int dof) {
  const double nu = dof;
  const double log_norm =
      std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2) - 0.5 * std::log(nu * M_PI);
  auto density = [&](double t) {
    return std::exp(log_norm - (nu + 1) / 2 * std::log1p(t * t / nu));
  };
  const int panels = 2000;
  const double h = x / panels;
  double sum = density(0) + density(x);
  for (int i = 1; i < panels; ++i) sum += (i % 2 ? 4 : 2) * density(i * h);
  return 0.5 + sum * h / 3;
}

// The x >= 0 with cdf(x) = p, by bisection on [0, 1000].
double InvertCdf(const std::function<double(double)>& cdf, double p) {
  double lo = 0, hi = 1000;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

double StudentCalibratedTail(double level, int dof) {
  const double t = InvertCdf([dof](double x) { return StudentCdf(x, dof); }, (1 + level) / 2);
  return 1 - NormalCdf(t);
}

Interval PercentileInterval(std::vector<double> values, const FitResult& fit) {
  Interval iv;
  if (values.empty()) return iv;
  std::sort(values.begin(), values.end());
  iv.lo = Percentile(values, fit.tail);
  iv.hi = Percentile(values, 1.0 - fit.tail);
  return iv;
}

Interval BootstrapInterval(const FitResult& fit, const std::function<double(const double*)>& f,
                           int* dropped) {
  std::vector<double> values;
  int nan = 0;
  for (const auto& theta : fit.bootstrap_params) {
    double v = f(theta.data());
    if (std::isfinite(v))
      values.push_back(v);
    else
      ++nan;
  }
  if (dropped) *dropped = nan;
  return PercentileInterval(std::move(values), fit);
}

StatusOr<FitResult> Fit(const Form& form, const std::vector<Observation>& rows,
                        const FitOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  PERFLAW_RETURN_IF_ERROR(CheckFitInput(form, rows));
  FitResult result;
  result.form = form.name();
  result.level = options.level;
  result.resampling = options.resampling;
  result.tail =
      StudentCalibratedTail(options.level, static_cast<int>(rows.size() - form.num_params()));
  for (const ParamSpec& s : form.params()) result.param_names.push_back(s.name);

  Problem pb = MakeProblem(form, rows, options);
  std::vector<double> ones(rows.size(), 1.0);
  FullFit full;
  if (ExactLinear(form, options))
    full.best = FitExact(pb, ones);
  else if (IntegerP(form, options))
    full = FitIntegerP(pb, ones);
  else
    full = FitContinuous(pb, ones);
  result.starts = full.starts;
  result.polished = full.polished;
  result.ran = true;
  if (full.best.failed) {
    result.summary = "failed: " + full.best.message;
    return result;
  }
  result.converged = full.best.converged;
  result.summary = (result.converged ? "converged: " : "did not converge: ") + full.best.message;
  result.params = full.best.theta;
  result.cost = full.best.cost;
  result.in_sample = Score(Values(rows), Predictions(form, rows, result.params));
  std::vector<double> loo_pred;
  if (options.loo) loo_pred = RunLoo(pb, full, &result);
  if (options.bootstrap > 0) RunBootstrap(pb, full, loo_pred, &result);
  return result;
}

}  // namespace perflaw::law
