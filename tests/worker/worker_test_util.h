// A small predictable synthetic dataset and a small point on it, shared by the trainer tests on
// CPU (trainer_test.cc) and on CUDA (gpu/cuda_test.cc).
#pragma once

#include "apen/synth.h"
#include "worker/point_config.h"

namespace perflaw::worker::testing {

// 400 users, 80 items, ~12 items each, next item 90% predictable from the last.
inline apen::Dataset SmallSynthetic() {
  apen::SynthOptions o;
  o.users = 400;
  o.items = 80;
  o.mean_length = 12;
  o.predictability = 0.9;
  o.markov_out_degree = 2;
  o.seed = 3;
  o.threads = 1;
  return apen::GenerateSynthetic(o);
}

// SASRec d 16, 2 heads, L 20, 4 epochs of 11 steps, full-ranking HR/NDCG@10, on the CPU.
inline PointConfig SmallPoint() {
  PointConfig c;
  c.data.path = "synthetic";
  c.data.max_seq_len = 20;
  c.model.d_model = 16;
  c.model.heads = 2;
  c.model.dropout = 0.1;
  c.train.epochs = 4;
  c.train.batch_size = 32;
  c.train.lr = 0.005;
  c.eval.ks = {10};
  c.device = Device::kCpu;
  c.threads = 1;
  return c;
}

}  // namespace perflaw::worker::testing
