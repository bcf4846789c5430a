#include "law/params.h"

#include <cmath>

namespace perflaw::law {

double NonEmbeddingParams(const ModelShape& m) {
  const double d = m.d_model, h = std::round(m.ffn_multiplier * d);
  if (m.type == "sasrec") return m.layers * (4 * d * d + 2 * d * h + 9 * d + h) + 2 * d;
  if (m.type == "llama") return m.layers * (4 * d * d + 3 * d * h + 2 * d) + d;
  if (m.type == "hstu") return m.layers * (5 * d * d + 9 * d + 2 * m.max_seq_len - 1) + 2 * d;
  return NAN;
}

bool KnownModelType(const std::string& type) {
  return type == "sasrec" || type == "llama" || type == "hstu";
}

}  // namespace perflaw::law
