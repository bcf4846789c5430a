// Training runs end to end on small synthetic data.
#include "worker/trainer.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "tests/worker/worker_test_util.h"
#include "worker/model.h"

namespace perflaw::worker {
namespace {

using testing::SmallPoint;
apen::Dataset Synthetic() { return testing::SmallSynthetic(); }

TEST(TrainerTest, LearnsAPredictableSequenceAndReportsEverything) {
  apen::Dataset data = Synthetic();
  PointResult r = TrainPointOnDataset(SmallPoint(), data, {});
  ASSERT_EQ(r.status, RunStatus::kOk) << r.message;
  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  ASSERT_TRUE(r.test.has_value() && r.best_valid.has_value());
  // 80 items: a random ranking gives HR@10 = 1/8 under full ranking.
  EXPECT_GT(r.test->Hr(10), 0.35);
  EXPECT_EQ(r.test->protocol, "full");
  EXPECT_EQ(r.test->split, "test");
  EXPECT_EQ(r.test->users, 400u);
  EXPECT_GE(r.best_epoch, 1u);
  EXPECT_EQ(r.best_valid->Ndcg(10), r.epochs[r.best_epoch - 1].valid.Ndcg(10));
  EXPECT_EQ(r.params.embedding, 81u * 16 + 20u * 16);
  EXPECT_GT(r.params.non_embedding, 0u);
  uint64_t trainable = 0;  // users with >= 2 training items: n >= 4 (n >= 3 keeps 2 for valid/test)
  for (size_t u = 0; u < data.num_users(); ++u) trainable += data.sequences.user(u).size >= 4;
  EXPECT_EQ(r.steps, 4 * ((trainable + 31) / 32));
  EXPECT_GT(r.tokens_seen, 0u);
  EXPECT_GT(r.tokens_per_second, 0.0);
  EXPECT_EQ(r.device, "cpu");
  EXPECT_EQ(r.precision, "fp32");  // train.precision auto: fp32 on CPU
  EXPECT_EQ(r.attention, AttentionKernelName(DefaultAttentionKernel()));
}

// train.precision bf16 on CPU runs the code path CUDA runs by default (the encoder under autocast,
// fp32 weights, optimizer and loss) and reaches the fp32 run's quality (the tolerance:
// testing::ExpectBf16ReachesFp32).
TEST(TrainerTest, Bf16ReachesTheFp32Metrics) {
  apen::Dataset data = Synthetic();
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama, ModelType::kHstu}) {
    SCOPED_TRACE(ModelTypeName(type));
    PointConfig c = SmallPoint();
    c.model.type = type;
    const auto [fp32, bf16] = testing::RunFp32AndBf16(c, data);
    ASSERT_EQ(fp32.status, RunStatus::kOk) << fp32.message;
    ASSERT_EQ(bf16.status, RunStatus::kOk) << bf16.message;
    EXPECT_EQ(bf16.precision, "bf16");
    EXPECT_NE(bf16.epochs[0].train_loss, fp32.epochs[0].train_loss);  // autocast really ran
    testing::ExpectBf16ReachesFp32(fp32, bf16);
  }
}

TEST(TrainerTest, EveryModelAndLossLearns) {
  apen::Dataset data = Synthetic();
  struct Case {
    ModelType type;
    LossType loss;
    uint32_t negatives;
  };
  for (Case k :
       {Case{ModelType::kSasrec, LossType::kSampledSoftmax, 8},
        Case{ModelType::kLlama, LossType::kBce, 1}, Case{ModelType::kHstu, LossType::kBce, 1},
        Case{ModelType::kLlama, LossType::kSampledSoftmax, 8}}) {
    PointConfig c = SmallPoint();
    c.model.type = k.type;
    c.train.loss = k.loss;
    c.train.negatives = k.negatives;
    SCOPED_TRACE(std::string(ModelTypeName(k.type)) +
                 (k.loss == LossType::kBce ? " bce" : " sampled_softmax"));
    PointResult r = TrainPointOnDataset(c, data, {});
    ASSERT_EQ(r.status, RunStatus::kOk) << r.message;
    EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
    EXPECT_GT(r.test->Hr(10), 0.3);  // random: 0.125
  }
}

TEST(TrainerTest, SameSeedSameRunDifferentSeedDifferentRun) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.train.epochs = 2;
  PointResult a = TrainPointOnDataset(c, data, {}), b = TrainPointOnDataset(c, data, {});
  c.seed = 1;
  PointResult d = TrainPointOnDataset(c, data, {});
  ASSERT_EQ(a.status, RunStatus::kOk);
  ASSERT_EQ(d.status, RunStatus::kOk);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(a.epochs[e].train_loss, b.epochs[e].train_loss);
    EXPECT_EQ(a.epochs[e].valid.Ndcg(10), b.epochs[e].valid.Ndcg(10));
  }
  EXPECT_EQ(a.test->mrr, b.test->mrr);
  EXPECT_NE(a.epochs[0].train_loss, d.epochs[0].train_loss);
}

TEST(TrainerTest, PackingDoesNotChangeTheObjective) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.model.dropout = 0.0;
  c.train.epochs = 1;
  PointResult packed = TrainPointOnDataset(c, data, {});
  c.train.packing = false;
  PointResult plain = TrainPointOnDataset(c, data, {});
  ASSERT_EQ(packed.status, RunStatus::kOk);
  ASSERT_EQ(plain.status, RunStatus::kOk);
  EXPECT_NEAR(packed.epochs[0].train_loss, plain.epochs[0].train_loss, 1e-4);
  EXPECT_EQ(packed.tokens_seen, plain.tokens_seen);
}

TEST(TrainerTest, NonFiniteLossEndsThePointAsDiverged) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.train.lr = 1e30;
  PointResult r = TrainPointOnDataset(c, data, {});
  EXPECT_EQ(r.status, RunStatus::kDiverged);
  EXPECT_EQ(r.message.rfind("diverged at step ", 0), 0u) << r.message;
  EXPECT_FALSE(r.test.has_value());
}

TEST(TrainerTest, EarlyStoppingWhenValidationStopsImproving) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.train.lr = 1e-20;  // the model stays put: validation NDCG@10 never improves after epoch 1
  c.train.epochs = 10;
  c.train.patience = 2;
  PointResult r = TrainPointOnDataset(c, data, {});
  ASSERT_EQ(r.status, RunStatus::kOk) << r.message;
  EXPECT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.best_epoch, 1u);
  EXPECT_EQ(r.message, "early stopping after epoch 3");

  c.train.min_epochs = 6;  // the floor: patience is spent after epoch 3, the run goes on to 6
  PointResult floor = TrainPointOnDataset(c, data, {});
  ASSERT_EQ(floor.status, RunStatus::kOk) << floor.message;
  EXPECT_EQ(floor.epochs.size(), 6u);
  EXPECT_EQ(floor.best_epoch, 1u);
  EXPECT_EQ(floor.message, "early stopping after epoch 6");
}

TEST(TrainerTest, InfeasibleProtocolIsAUserError) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.eval.sampled_negatives = 79;
  PointResult r = TrainPointOnDataset(c, data, {});
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_TRUE(r.user_error);
  EXPECT_NE(r.message.find("eval.protocol sampled:79"), std::string::npos);
}

TEST(TrainerTest, MissingDatasetIsAFailedResult) {
  PointConfig c = SmallPoint();
  c.data.path = "/nonexistent/data.txt";
  PointResult r = TrainPoint(c, {});
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_TRUE(r.user_error);
  EXPECT_NE(r.message.find("/nonexistent/data.txt"), std::string::npos);
}

// Stopped mid-epoch (as by SIGTERM), then resumed from the checkpoint: the same result as one run.
TEST(TrainerTest, InterruptedAndResumedRunEqualsUninterruptedRun) {
  apen::Dataset data = Synthetic();
  PointConfig c = testing::Resumable(SmallPoint());
  perflaw::testing::TempDir dir;
  const auto [whole, part, rest] = testing::RunStoppedAndResumed(c, data, dir.File("ckpt"));
  ASSERT_EQ(whole.status, RunStatus::kOk);
  ASSERT_EQ(part.status, RunStatus::kInterrupted) << part.message;
  EXPECT_EQ(part.steps, 19u);
  EXPECT_EQ(part.epochs.size(), 1u);
  ASSERT_EQ(rest.status, RunStatus::kOk) << rest.message;
  ASSERT_EQ(rest.epochs.size(), whole.epochs.size());
  for (size_t e = 0; e < whole.epochs.size(); ++e) {
    EXPECT_DOUBLE_EQ(rest.epochs[e].train_loss, whole.epochs[e].train_loss) << e;
    EXPECT_DOUBLE_EQ(rest.epochs[e].valid.Ndcg(10), whole.epochs[e].valid.Ndcg(10)) << e;
  }
  EXPECT_EQ(rest.best_epoch, whole.best_epoch);
  EXPECT_DOUBLE_EQ(rest.test->Ndcg(10), whole.test->Ndcg(10));
  EXPECT_DOUBLE_EQ(rest.test->mrr, whole.test->mrr);
  EXPECT_EQ(rest.steps, whole.steps);
  EXPECT_EQ(rest.tokens_seen, whole.tokens_seen);

  // A checkpoint of another configuration is refused.
  c.seed = 9;
  TrainOptions resume;
  resume.checkpoint_dir = dir.File("ckpt");
  PointResult other = TrainPointOnDataset(c, data, resume);
  EXPECT_EQ(other.status, RunStatus::kFailed);
  EXPECT_NE(other.message.find("different point configuration"), std::string::npos);
}

// A rank that wakes after its point moved on (a later attempt wrote the checkpoint) must not put
// its older state back: its next checkpoint is dropped and the later one stays.
TEST(TrainerTest, CheckpointOfALaterAttemptIsNotOverwritten) {
  apen::Dataset data = Synthetic();
  PointConfig c = SmallPoint();
  c.train.epochs = 3;
  perflaw::testing::TempDir dir;
  const std::string ckpt = dir.File("ckpt") + "/checkpoint.pt";
  const std::string later = dir.File("later.pt");
  TrainOptions opt;
  opt.checkpoint_dir = dir.File("ckpt");
  opt.on_epoch = [&](const EpochRecord& rec) {
    if (rec.epoch != 1) return;
    // What the later attempt's rename leaves: another file at the checkpoint's path.
    std::filesystem::copy_file(ckpt, later);
    std::filesystem::rename(later, ckpt);
  };
  PointResult r = TrainPointOnDataset(c, data, opt);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_NE(r.message.find("was written by a later attempt of this point"), std::string::npos)
      << r.message;
  EXPECT_FALSE(r.storage_error);
  EXPECT_FALSE(std::filesystem::exists(ckpt + ".tmp"));

  // The checkpoint left is the later attempt's (epoch 1): a fresh attempt resumes from it.
  TrainOptions resume;
  resume.checkpoint_dir = dir.File("ckpt");
  PointResult rest = TrainPointOnDataset(c, data, resume);
  ASSERT_EQ(rest.status, RunStatus::kOk) << rest.message;
  EXPECT_EQ(rest.epochs.size(), 3u);
}

}  // namespace
}  // namespace perflaw::worker
