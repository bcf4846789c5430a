// The law forms: each maps one observation's inputs (layers, d_model, tokens, apen) and a parameter
// vector theta to a predicted metric. docs/law.md documents every formula and parameter.
//
// Every form here is separable: P = sum_j theta_j * phi_j(x; theta_nonlinear) over the parameters
// flagged `linear`. The fitter exploits that: for fixed nonlinear parameters the linear ones are
// one small least-squares solve, which makes screening 1,000+ starts cheap.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apen/status.h"
#include "law/data.h"
#include "law/params.h"

namespace perflaw::law {

struct ParamSpec {
  std::string name;
  std::string meaning;
  double lower = -1e300;  // hard bounds for the optimizer (-1e300/1e300 = unbounded)
  double upper = 1e300;
  bool linear = false;  // enters P linearly (solved exactly while screening starts)
  double start_lo = 0;  // range the multi-start grid covers (nonlinear parameters only)
  double start_hi = 0;
  bool log_start = false;  // sample the start range log-uniformly (positive scale parameters)
};

struct FormOptions {
  // Overrides every row's model.ffn_multiplier in Chinchilla's N (law/params.h); NaN = each row's
  // own (1, the models' default, where a row has none).
  double ffn_multiplier = kMissing;
  // The data-quality measure q in performance-data's D' = tokens * q: "apen" (the paper's mean
  // ApEn, nats) or "transition" (the dataset's H(next item | previous item), bits; docs/data.md).
  std::string quality = "apen";
  bool IsValid(std::string* why) const;
};

// The model shape of observation `x` (its layers, d_model, max_seq_len, model type and ffn
// multiplier, the latter overridden by options.ffn_multiplier when set).
ModelShape ShapeOf(const Observation& x, const FormOptions& options = {});

// The quality names FormOptions::quality takes.
std::vector<std::string> QualityNames();
// The observation's value of that measure (NaN when missing).
double QualityValue(const Observation& x, const std::string& quality);

class Form {
 public:
  virtual ~Form() = default;
  virtual std::string name() const = 0;
  virtual std::string formula() const = 0;
  virtual const std::vector<ParamSpec>& params() const = 0;
  size_t num_params() const { return params().size(); }
  // Prediction at x; fills grad[0..k) with dP/dtheta when grad != nullptr.
  virtual double Eval(const double* theta, const Observation& x, double* grad) const = 0;
  // Rejects inputs this form cannot use: missing tokens/apen, too few distinct values.
  virtual Status CheckData(const std::vector<Observation>& rows) const;
  // Index of the parameter p for forms that have one (performance laws), else -1.
  virtual int p_index() const { return -1; }
  // Whether the form's prediction depends on tokens x apen (D').
  virtual bool uses_dprime() const { return false; }
  // Whether it reads a point's parameter count (model type, ffn multiplier, max_seq_len) rather
  // than layers and d_model alone.
  virtual bool counts_params() const { return false; }
  // Default grouping for the CLI: per (dataset, L) for the single-dataset forms, none for joint.
  virtual std::string default_group_by() const { return "dataset,max_seq_len"; }
  // Minimum distinct layers and d_model values needed to identify the parameters.
  virtual int min_distinct_layers() const { return 3; }
  virtual int min_distinct_d_model() const { return 3; }
};

// "performance", "performance-data", "scaling", "chinchilla".
StatusOr<std::unique_ptr<Form>> MakeForm(const std::string& name, const FormOptions& options = {});
std::vector<std::string> FormNames();

// One term of the Performance Law: -1/(p x^a) - a ln x, and its partial derivatives.
struct LawTerm {
  double value, d_a, d_p;
};
LawTerm PerformanceTerm(double x, double a, double p);

}  // namespace perflaw::law
