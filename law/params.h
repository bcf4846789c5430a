// The one non-embedding parameter count of perflaw: `perflaw sweep check` and the sweep's cost
// estimate, the law (chinchilla's N, the budget of `perflaw fit --budget`) all call
// NonEmbeddingParams, and it equals what the worker counts on the model it trains (the
// `non_embedding_params` that `perflaw results` shows). docs/law.md gives the formulas.
#pragma once

#include <string>

namespace perflaw::law {

// What fixes a model's parameter count: the config's model.type, model.layers, model.d_model,
// model.ffn_multiplier and data.max_seq_len.
struct ModelShape {
  std::string type = "sasrec";  // sasrec | llama | hstu (worker/point_config.h)
  double layers = 0;
  double d_model = 0;
  double ffn_multiplier = 1;  // feed-forward hidden size h = round(ffn_multiplier * d_model)
  double max_seq_len = 0;     // hstu only: its relative position bias has 2 L - 1 per layer
};

// Every trained parameter outside the item (and position) embedding tables, exactly as the worker
// counts it (worker/model.cc, SequenceModel::CountParams): weight matrices, biases and norms.
// With d = d_model, h = round(ffn_multiplier d), L = max_seq_len:
//   sasrec: layers (4 d^2 + 2 d h + 9 d + h) + 2 d   (q,k,v,o and d->h->d with biases; 2 LayerNorms
//           per block, a final LayerNorm)
//   llama:  layers (4 d^2 + 3 d h + 2 d) + d          (no biases; SwiGLU; 2 RMSNorms per block, a
//           final RMSNorm)
//   hstu:   layers (5 d^2 + 9 d + 2 L - 1) + 2 d      (f1 d->4d and f2 d->d with biases, 2
//           LayerNorms, relative position bias; no feed-forward, so ffn_multiplier is unused)
// NaN for an unknown type. Continuous layers and d_model (the law's search) are allowed.
double NonEmbeddingParams(const ModelShape& model);

// Whether `type` is one NonEmbeddingParams knows.
bool KnownModelType(const std::string& type);

}  // namespace perflaw::law
