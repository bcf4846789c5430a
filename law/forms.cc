#include "law/forms.h"

#include <cmath>
#include <set>

namespace perflaw::law {
namespace {

constexpr double kInf = 1e300;

// A parameter within the optimizer's hard bounds [lo, hi].
ParamSpec Bounded(const std::string& name, const std::string& meaning, double lo, double hi) {
  ParamSpec s;
  s.name = name;
  s.meaning = meaning;
  s.lower = lo;
  s.upper = hi;
  return s;
}

ParamSpec Linear(const std::string& name, const std::string& meaning, double lo = -kInf,
                 double hi = kInf) {
  ParamSpec s = Bounded(name, meaning, lo, hi);
  s.linear = true;
  return s;
}

ParamSpec Nonlinear(const std::string& name, const std::string& meaning, double lo, double hi,
                    double start_lo, double start_hi, bool log_start = false) {
  ParamSpec s = Bounded(name, meaning, lo, hi);
  s.start_lo = start_lo;
  s.start_hi = start_hi;
  s.log_start = log_start;
  return s;
}

size_t CountDistinct(const std::vector<Observation>& rows, double (*get)(const Observation&)) {
  std::set<double> values;
  for (const Observation& r : rows) values.insert(get(r));
  return values.size();
}

// `quality` is the column the form also needs ("" = none).
Status RequireColumn(const std::vector<Observation>& rows, const std::string& form, bool tokens,
                     const std::string& quality) {
  for (const Observation& r : rows) {
    if (tokens && std::isnan(r.tokens)) {
      return Status::InvalidArgument(r.origin + ": form " + form + " needs column 'tokens'");
    }
    if (!quality.empty() && std::isnan(QualityValue(r, quality))) {
      return Status::InvalidArgument(r.origin + ": form " + form + " needs column '" + quality +
                                     "'");
    }
  }
  return Status::Ok();
}

Status RequireDistinct(size_t have, size_t need, const std::string& form, const std::string& what) {
  if (have >= need) return Status::Ok();
  return Status::FailedPrecondition("form " + form + " needs at least " + std::to_string(need) +
                                    " distinct values of " + what + ", got " +
                                    std::to_string(have));
}

// P = w1 (-1/(p N^a) - a ln N) + w2 (-1/(p d^b) - b ln d) + c
class PerformanceForm : public Form {
 public:
  PerformanceForm() {
    params_ = {
        Linear("w1", "weight of the layers term"),
        Nonlinear("a", "layers exponent; optimum N* = p^(-1/a)", -5, 5, -2, 2),
        Linear("w2", "weight of the embedding-dimension term"),
        Nonlinear("b", "embedding exponent; optimum d* = p^(-1/b)", -5, 5, -2, 2),
        Nonlinear("p", "shared scale of the power-law decay (> 0)", 1e-8, 1e8, 1e-2, 1e3, true),
        Linear("c", "intercept (absorbs the data term, constant within one dataset and L)"),
    };
  }
  std::string name() const override { return "performance"; }
  std::string formula() const override {
    return "P(N,d) = w1*(-1/(p*N^a) - a*ln N) + w2*(-1/(p*d^b) - b*ln d) + c";
  }
  const std::vector<ParamSpec>& params() const override { return params_; }
  int p_index() const override { return 4; }
  double Eval(const double* t, const Observation& x, double* g) const override {
    LawTerm tn = PerformanceTerm(x.layers, t[1], t[4]);
    LawTerm td = PerformanceTerm(x.d_model, t[3], t[4]);
    if (g) {
      g[0] = tn.value;
      g[1] = t[0] * tn.d_a;
      g[2] = td.value;
      g[3] = t[2] * td.d_a;
      g[4] = t[0] * tn.d_p + t[2] * td.d_p;
      g[5] = 1;
    }
    return t[0] * tn.value + t[2] * td.value + t[5];
  }

 protected:
  std::vector<ParamSpec> params_;
};

// performance + w3 (-1/(p D'^e) - e ln D'), D' = tokens * quality (apen by default); all
// parameters shared by all groups.
class PerformanceDataForm : public PerformanceForm {
 public:
  explicit PerformanceDataForm(const std::string& quality) : quality_(quality) {
    params_.insert(params_.begin() + 4,
                   {Linear("w3", "weight of the data term in D' = tokens * " + quality),
                    Nonlinear("e", "data exponent", -5, 5, -2, 2)});
  }
  std::string name() const override { return "performance-data"; }
  std::string formula() const override {
    return "P(N,d,D') = w1*(-1/(p*N^a) - a*ln N) + w2*(-1/(p*d^b) - b*ln d) + "
           "w3*(-1/(p*D'^e) - e*ln D') + c,  D' = tokens*" +
           quality_;
  }
  int p_index() const override { return 6; }
  bool uses_dprime() const override { return true; }
  std::string default_group_by() const override { return "none"; }
  double Eval(const double* t, const Observation& x, double* g) const override {
    LawTerm tn = PerformanceTerm(x.layers, t[1], t[6]);
    LawTerm td = PerformanceTerm(x.d_model, t[3], t[6]);
    LawTerm tq = PerformanceTerm(DPrime(x), t[5], t[6]);
    if (g) {
      g[0] = tn.value;
      g[1] = t[0] * tn.d_a;
      g[2] = td.value;
      g[3] = t[2] * td.d_a;
      g[4] = tq.value;
      g[5] = t[4] * tq.d_a;
      g[6] = t[0] * tn.d_p + t[2] * td.d_p + t[4] * tq.d_p;
      g[7] = 1;
    }
    return t[0] * tn.value + t[2] * td.value + t[4] * tq.value + t[7];
  }
  Status CheckData(const std::vector<Observation>& rows) const override {
    PERFLAW_RETURN_IF_ERROR(Form::CheckData(rows));
    PERFLAW_RETURN_IF_ERROR(RequireColumn(rows, name(), true, quality_));
    // c plus the two data-term parameters must be pinned by distinct D' levels.
    std::set<double> levels;
    for (const Observation& r : rows) levels.insert(DPrime(r));
    return RequireDistinct(levels.size(), 3, name(), "D' = tokens*" + quality_);
  }

 private:
  double DPrime(const Observation& x) const { return x.tokens * QualityValue(x, quality_); }
  std::string quality_;
};

// P = a ln N + b ln d + c
class ScalingForm : public Form {
 public:
  ScalingForm() {
    params_ = {Linear("a", "coefficient of ln N (layers)"),
               Linear("b", "coefficient of ln d (embedding dimension)"), Linear("c", "intercept")};
  }
  std::string name() const override { return "scaling"; }
  std::string formula() const override { return "P(N,d) = a*ln N + b*ln d + c"; }
  const std::vector<ParamSpec>& params() const override { return params_; }
  int min_distinct_layers() const override { return 2; }
  int min_distinct_d_model() const override { return 2; }
  double Eval(const double* t, const Observation& x, double* g) const override {
    double ln_n = std::log(x.layers), ln_d = std::log(x.d_model);
    if (g) {
      g[0] = ln_n;
      g[1] = ln_d;
      g[2] = 1;
    }
    return t[0] * ln_n + t[1] * ln_d + t[2];
  }

 private:
  std::vector<ParamSpec> params_;
};

// L(N, D) = E + A / N^alpha + B / D^beta, N = non-embedding parameters, D = tokens.
class ChinchillaForm : public Form {
 public:
  explicit ChinchillaForm(const FormOptions& options) : options_(options) {
    params_ = {Linear("E", "irreducible loss"),
               Linear("A", "model-size coefficient (>= 0)", 0, kInf),
               Nonlinear("alpha", "model-size exponent", 0, 3, 0.02, 1.5),
               Linear("B", "data coefficient (>= 0)", 0, kInf),
               Nonlinear("beta", "data exponent", 0, 3, 0.02, 1.5)};
  }
  std::string name() const override { return "chinchilla"; }
  bool counts_params() const override { return true; }
  std::string formula() const override {
    return "L(N,D) = E + A/N^alpha + B/D^beta,  N = non-embedding parameters, D = tokens";
  }
  const std::vector<ParamSpec>& params() const override { return params_; }
  std::string default_group_by() const override { return "none"; }
  int min_distinct_layers() const override { return 1; }
  int min_distinct_d_model() const override { return 1; }
  double Eval(const double* t, const Observation& x, double* g) const override {
    double n = NonEmbeddingParams(ShapeOf(x, options_));
    double pn = std::pow(n, -t[2]), pd = std::pow(x.tokens, -t[4]);
    if (g) {
      g[0] = 1;
      g[1] = pn;
      g[2] = -t[1] * std::log(n) * pn;
      g[3] = pd;
      g[4] = -t[3] * std::log(x.tokens) * pd;
    }
    return t[0] + t[1] * pn + t[3] * pd;
  }
  Status CheckData(const std::vector<Observation>& rows) const override {
    PERFLAW_RETURN_IF_ERROR(Form::CheckData(rows));
    PERFLAW_RETURN_IF_ERROR(RequireColumn(rows, name(), true, ""));
    std::set<double> n_values;
    for (const Observation& r : rows) {
      if (!KnownModelType(r.model_type))
        return Status::InvalidArgument(r.origin +
                                       ": form chinchilla cannot count the parameters "
                                       "of model type '" +
                                       r.model_type + "'");
      n_values.insert(NonEmbeddingParams(ShapeOf(r, options_)));
    }
    PERFLAW_RETURN_IF_ERROR(RequireDistinct(n_values.size(), 3, name(), "N (parameters)"));
    return RequireDistinct(CountDistinct(rows, [](const Observation& r) { return r.tokens; }), 3,
                           name(), "D (tokens)");
  }

 private:
  FormOptions options_;
  std::vector<ParamSpec> params_;
};

}  // namespace

bool FormOptions::IsValid(std::string* why) const {
  // NaN: each row's own multiplier.
  if (!std::isnan(ffn_multiplier) && (!(ffn_multiplier > 0) || !std::isfinite(ffn_multiplier))) {
    *why = "ffn_multiplier must be > 0, got " + FormatNumber(ffn_multiplier);
    return false;
  }
  if (quality != "apen" && quality != "transition") {
    *why = "quality must be apen or transition, got '" + quality + "'";
    return false;
  }
  return true;
}

ModelShape ShapeOf(const Observation& x, const FormOptions& options) {
  ModelShape m;
  m.type = x.model_type;
  m.layers = x.layers;
  m.d_model = x.d_model;
  m.max_seq_len = x.max_seq_len;
  if (!std::isnan(options.ffn_multiplier))
    m.ffn_multiplier = options.ffn_multiplier;
  else if (!std::isnan(x.ffn_multiplier))
    m.ffn_multiplier = x.ffn_multiplier;
  return m;
}

std::vector<std::string> QualityNames() { return {"apen", "transition"}; }

double QualityValue(const Observation& x, const std::string& quality) {
  return quality == "transition" ? x.transition : x.apen;
}

LawTerm PerformanceTerm(double x, double a, double p) {
  double lx = std::log(x);
  double xa = std::exp(-a * lx);  // x^-a
  LawTerm t;
  t.value = -xa / p - a * lx;
  t.d_a = lx * xa / p - lx;
  t.d_p = xa / (p * p);
  return t;
}

Status Form::CheckData(const std::vector<Observation>& rows) const {
  PERFLAW_RETURN_IF_ERROR(
      RequireDistinct(CountDistinct(rows, [](const Observation& r) { return r.layers; }),
                      min_distinct_layers(), name(), "layers"));
  return RequireDistinct(CountDistinct(rows, [](const Observation& r) { return r.d_model; }),
                         min_distinct_d_model(), name(), "d_model");
}

std::vector<std::string> FormNames() {
  return {"performance", "performance-data", "scaling", "chinchilla"};
}

StatusOr<std::unique_ptr<Form>> MakeForm(const std::string& name, const FormOptions& options) {
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument(why);
  std::unique_ptr<Form> form;
  if (name == "performance")
    form = std::make_unique<PerformanceForm>();
  else if (name == "performance-data")
    form = std::make_unique<PerformanceDataForm>(options.quality);
  else if (name == "scaling")
    form = std::make_unique<ScalingForm>();
  else if (name == "chinchilla")
    form = std::make_unique<ChinchillaForm>(options);
  else {
    return Status::InvalidArgument("unknown form '" + name +
                                   "' (use performance, performance-data, scaling, chinchilla)");
  }
  return StatusOr<std::unique_ptr<Form>>(std::move(form));
}

}  // namespace perflaw::law
