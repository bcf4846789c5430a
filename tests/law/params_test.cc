// The one non-embedding parameter count (law/params.h) against the worker's modules, counted one
// by one as worker/model.cc builds them.
#include "law/params.h"

#include <gtest/gtest.h>

#include <cmath>

namespace perflaw::law {
namespace {

ModelShape Shape(const std::string& type, double layers, double d, double ffn, double len = 50) {
  ModelShape m;
  m.type = type;
  m.layers = layers;
  m.d_model = d;
  m.ffn_multiplier = ffn;
  m.max_seq_len = len;
  return m;
}

double Linear(double in, double out, bool bias = true) { return in * out + (bias ? out : 0); }

TEST(ParamsTest, SasrecCountsWhatTheWorkerCounts) {
  // The worker reported 1728 for layers 1, d_model 16, ffn_multiplier 1 (issue 14).
  EXPECT_EQ(NonEmbeddingParams(Shape("sasrec", 1, 16, 1)), 1728);
  for (auto [layers, d, ffn] :
       {std::tuple{2.0, 64.0, 1.0}, {4.0, 50.0, 4.0}, {3.0, 25.0, 2.6667}}) {
    const double h = std::lround(ffn * d);
    // in_proj (q, k, v), out_proj, fc1, fc2, two LayerNorms per block; a final LayerNorm.
    const double block = Linear(d, 3 * d) + Linear(d, d) + Linear(d, h) + Linear(h, d) + 4 * d;
    EXPECT_EQ(NonEmbeddingParams(Shape("sasrec", layers, d, ffn)), layers * block + 2 * d);
  }
}

TEST(ParamsTest, LlamaAndHstuCountWhatTheWorkerCounts) {
  const double d = 64, h = std::lround(2.6667 * d), layers = 4, len = 200;
  // qkv, out, gate, up, down without biases; two RMSNorms per block; a final RMSNorm.
  const double llama = Linear(d, 3 * d, false) + Linear(d, d, false) + 2 * Linear(d, h, false) +
                       Linear(h, d, false) + 2 * d;
  EXPECT_EQ(NonEmbeddingParams(Shape("llama", layers, d, 2.6667)), layers * llama + d);
  // f1 (u, v, q, k), f2, two LayerNorms, one bias per relative distance; a final LayerNorm. No
  // feed-forward: the ffn multiplier does not count.
  const double hstu = Linear(d, 4 * d) + Linear(d, d) + 4 * d + (2 * len - 1);
  EXPECT_EQ(NonEmbeddingParams(Shape("hstu", layers, d, 1, len)), layers * hstu + 2 * d);
  EXPECT_EQ(NonEmbeddingParams(Shape("hstu", layers, d, 4, len)), layers * hstu + 2 * d);
}

TEST(ParamsTest, UnknownTypeHasNoCount) {
  EXPECT_TRUE(std::isnan(NonEmbeddingParams(Shape("gru", 2, 64, 1))));
  EXPECT_FALSE(KnownModelType("gru"));
  EXPECT_TRUE(KnownModelType("hstu"));
}

}  // namespace
}  // namespace perflaw::law
