// A small predictable synthetic dataset and a small point on it, shared by the trainer tests on
// CPU (trainer_test.cc) and on CUDA (gpu/cuda_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "apen/synth.h"
#include "worker/point_config.h"
#include "worker/trainer.h"

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

// `c` trained in fp32 and in bf16 (train.precision), on the same data and seed.
inline std::pair<PointResult, PointResult> RunFp32AndBf16(PointConfig c,
                                                          const apen::Dataset& data) {
  c.train.precision = Precision::kFp32;
  PointResult fp32 = TrainPointOnDataset(c, data, {});
  c.train.precision = Precision::kBf16;
  return {std::move(fp32), TrainPointOnDataset(c, data, {})};
}

// bf16 reaches the fp32 run's quality: 0.05 absolute on test HR@10 and NDCG@10 (full ranking of 80
// items for 400 users; the seed-to-seed spread of SmallPoint is about 0.02) and 5% on the last
// epoch's training loss.
inline void ExpectBf16ReachesFp32(const PointResult& fp32, const PointResult& bf16) {
  EXPECT_NEAR(bf16.test->Hr(10), fp32.test->Hr(10), 0.05);
  EXPECT_NEAR(bf16.test->Ndcg(10), fp32.test->Ndcg(10), 0.05);
  EXPECT_NEAR(bf16.epochs.back().train_loss, fp32.epochs.back().train_loss,
              0.05 * fp32.epochs.back().train_loss);
}

// `c` made for the checkpoint tests: 3 epochs (11 steps each) with a cosine schedule after warm-up,
// so that a resumed run must restore the step count, the schedule and the position in the epoch.
inline PointConfig Resumable(PointConfig c) {
  c.train.epochs = 3;
  c.train.lr_schedule = LrSchedule::kCosine;
  c.train.warmup = 5;
  return c;
}

// The checkpoint tests' three runs of `c`: uninterrupted; stopped before step 20 (mid epoch 2, as
// by SIGTERM) with its checkpoint in `checkpoint_dir`; and resumed from that checkpoint.
struct ResumeRuns {
  PointResult whole, part, rest;
};
inline ResumeRuns RunStoppedAndResumed(const PointConfig& c, const apen::Dataset& data,
                                       const std::string& checkpoint_dir) {
  ResumeRuns r;
  r.whole = TrainPointOnDataset(c, data, {});
  TrainOptions first;
  first.checkpoint_dir = checkpoint_dir;
  first.stop_before_step = 20;
  r.part = TrainPointOnDataset(c, data, first);
  TrainOptions second;
  second.checkpoint_dir = checkpoint_dir;
  r.rest = TrainPointOnDataset(c, data, second);
  return r;
}

}  // namespace perflaw::worker::testing
