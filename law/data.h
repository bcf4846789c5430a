// Observations the law is fitted to: one row per (grid point, metric), read from CSV today and from
// the results database later. Everything downstream (grouping, fitting, reports) takes
// std::vector<Observation>, so a DB reader only has to produce that vector.
#pragma once

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "apen/status.h"

namespace perflaw::law {

inline constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

struct Observation {
  std::string dataset;
  double max_seq_len = 0;  // L: sequences truncated to their last L items
  double layers = 0;       // N: transformer blocks
  double d_model = 0;      // d: embedding dimension
  // The rest of the model's shape, for its parameter count (law/params.h): the point's model.type
  // and model.ffn_multiplier (NaN = the models' default 1, as in a CSV without the column).
  std::string model_type = "sasrec";
  double ffn_multiplier = kMissing;
  std::string metric;  // e.g. HR@10, NDCG@10, loss
  double value = 0;
  double tokens = kMissing;  // training tokens (interactions) of the dataset at this L; optional
  double apen = kMissing;    // mean approximate entropy of users' sequences at this L; optional
  // H(next item | previous item) over the dataset's pairs at this L, bits, Miller-Madow corrected
  // (apen/transition.h); optional, the data-aware form's alternative to apen (--quality).
  double transition = kMissing;
  // How the point was measured and trained, for the verdict (law/verdict.h); optional.
  double users = kMissing;       // evaluated users (the standard error of a rate)
  double best_epoch = kMissing;  // the epoch validation picked (1-based)
  double epochs = kMissing;      // epochs run
  std::string origin;            // "file:line" for error messages
};

// Reads a CSV with a header naming at least dataset, max_seq_len, layers, d_model, metric, value
// (any order; optional tokens, apen, transition, users, best_epoch, epochs; other columns ignored).
// Rejects missing columns, non-numeric or non-finite numbers, layers/d_model/max_seq_len <= 0,
// tokens/apen/transition <= 0, with "file:line: ..." (InvalidArgument). Empty cells are allowed
// only in the optional columns.
StatusOr<std::vector<Observation>> ReadCsv(const std::string& path);

// Writes observations in the format ReadCsv reads (used by tests, benchmarks and reports).
Status WriteCsv(const std::string& path, const std::vector<Observation>& rows);

// A conjunction of clauses `key op value` joined by "&&", op one of <= < >= > == !=, key a column
// (dataset, max_seq_len, layers, d_model, metric, value, tokens, apen, transition). String columns
// (dataset, metric) allow only == and !=. Example: "layers<=16 && d_model>25".
class RowFilter {
 public:
  // Errors name `option`, the flag the expression came from.
  static StatusOr<RowFilter> Parse(const std::string& expression,
                                   const std::string& option = "--train-where");
  bool Matches(const Observation& row) const;
  const std::string& expression() const { return expression_; }

 private:
  struct Clause {
    std::string key;
    std::string op;
    std::string text;  // for string columns
    double number = 0;
  };
  std::string expression_;
  std::vector<Clause> clauses_;
};

// Group keys: the metric always, plus any of dataset, max_seq_len.
struct GroupKey {
  std::string metric;
  std::string dataset;      // empty when not grouped by dataset
  std::string max_seq_len;  // empty when not grouped by max_seq_len
  bool operator<(const GroupKey& o) const;
  std::string Label() const;  // "metric=HR@10 dataset=ml-1m max_seq_len=50"
};

struct GroupBy {
  bool dataset = false;
  bool max_seq_len = false;
  // "dataset,max_seq_len", "dataset", "max_seq_len", "none" or "".
  static StatusOr<GroupBy> Parse(const std::string& text);
  std::string ToString() const;
};

std::map<GroupKey, std::vector<Observation>> GroupRows(const std::vector<Observation>& rows,
                                                       const GroupBy& by);

// The distinct values of a numeric field over rows, ascending.
std::vector<double> DistinctValues(const std::vector<Observation>& rows,
                                   double Observation::*field);

// Distinct values of a column, for messages and checks.
std::string FormatNumber(double v);

}  // namespace perflaw::law
