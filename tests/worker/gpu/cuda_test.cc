// perflaw-worker on CUDA (label `gpu`): training of every model, full-ranking evaluation against
// the CPU's, bf16 against fp32, the attention kernels, and checkpoints written on the GPU. Run on a
// GPU machine by scripts/gpu/device-check.sh; without a CUDA device every test reports itself
// skipped.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "apen/dataset.h"
#include "tests/test_util.h"
#include "tests/worker/worker_test_util.h"
#include "worker/evaluator.h"
#include "worker/model.h"
#include "worker/trainer.h"

namespace perflaw::worker {
namespace {

using testing::SmallPoint;
using testing::SmallSynthetic;

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: LibTorch sees none"

PointConfig CudaPoint() {
  PointConfig c = SmallPoint();
  c.device = Device::kCuda;
  c.threads = 0;
  return c;
}

TEST(CudaTest, EveryModelAndLossTrainsOnTheGpuInBf16ByDefault) {
  SKIP_WITHOUT_CUDA();
  apen::Dataset data = SmallSynthetic();
  struct Case {
    ModelType type;
    LossType loss;
    uint32_t negatives;
  };
  for (Case k : {Case{ModelType::kSasrec, LossType::kBce, 1},
                 Case{ModelType::kSasrec, LossType::kSampledSoftmax, 8},
                 Case{ModelType::kLlama, LossType::kSampledSoftmax, 8},
                 Case{ModelType::kHstu, LossType::kBce, 1}}) {
    SCOPED_TRACE(std::string(ModelTypeName(k.type)) +
                 (k.loss == LossType::kBce ? " bce" : " sampled_softmax"));
    PointConfig c = CudaPoint();
    c.model.type = k.type;
    c.train.loss = k.loss;
    c.train.negatives = k.negatives;
    PointResult r = TrainPointOnDataset(c, data, {});
    ASSERT_EQ(r.status, RunStatus::kOk) << r.message;
    EXPECT_EQ(r.device, "cuda:0");
    EXPECT_EQ(r.precision, "bf16");  // train.precision auto on CUDA
    EXPECT_EQ(r.attention, AttentionKernelName(DefaultAttentionKernel()));
    EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
    EXPECT_GT(r.test->Hr(10), 0.3);  // random: 0.125
    std::printf("%s: test HR@10 %.4f NDCG@10 %.4f (full ranking, seed 0), %.0f tokens/s\n",
                ModelTypeName(k.type), r.test->Hr(10), r.test->Ndcg(10), r.tokens_per_second);
  }
}

// The same weights rank every ml-100k user's test item among all 1,682 items on the GPU (fp32) and
// on the CPU: ranks equal for at least 99.5% of users (the rest are near-ties that summation order
// can flip) and HR/NDCG@10 within 0.005.
TEST(CudaTest, FullRankingOnTheGpuEqualsTheCpu) {
  SKIP_WITHOUT_CUDA();
  if (!perflaw::testing::HaveSharedData()) GTEST_SKIP() << "no " << PERFLAW_SHARED_DATA_DIR;
  apen::DataOptions options;
  options.path = perflaw::testing::SharedData("ml-100k.inter");
  options.max_seq_len = 50;
  apen::CacheOptions cache;
  cache.enabled = false;
  StatusOr<apen::Dataset> data = apen::LoadDataset(options, cache);
  ASSERT_TRUE(data.ok()) << data.status().message();
  StatusOr<std::unique_ptr<TrainSet>> set = TrainSet::Create(data->sequences, data->num_items, 50);
  ASSERT_TRUE(set.ok()) << set.status().message();
  EvalConfig eval;
  StatusOr<std::unique_ptr<Evaluator>> evaluator =
      Evaluator::Create((*set)->split(), data->num_items, 50, eval);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status().message();
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama, ModelType::kHstu}) {
    SCOPED_TRACE(ModelTypeName(type));
    ModelConfig mc;
    mc.type = type;
    mc.d_model = 64;
    mc.heads = 2;
    auto model = MakeModel(mc, data->num_items, 50, 7);
    const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA, 0);
    const std::vector<uint32_t> on_cpu = (*evaluator)->Ranks(*model, Split::kTest, cpu);
    RankMetrics m_cpu = (*evaluator)->Evaluate(*model, Split::kTest, cpu);
    model->to(cuda);
    const std::vector<uint32_t> on_gpu = (*evaluator)->Ranks(*model, Split::kTest, cuda);
    RankMetrics m_gpu = (*evaluator)->Evaluate(*model, Split::kTest, cuda);
    ASSERT_EQ(on_cpu.size(), on_gpu.size());
    size_t same = 0;
    for (size_t i = 0; i < on_cpu.size(); ++i) same += on_cpu[i] == on_gpu[i];
    EXPECT_GE(static_cast<double>(same), 0.995 * on_cpu.size());
    EXPECT_NEAR(m_gpu.Hr(10), m_cpu.Hr(10), 0.005);
    EXPECT_NEAR(m_gpu.Ndcg(10), m_cpu.Ndcg(10), 0.005);
    std::printf("%s: %zu of %zu users ranked identically; NDCG@10 gpu %.5f cpu %.5f\n",
                ModelTypeName(type), same, on_cpu.size(), m_gpu.Ndcg(10), m_cpu.Ndcg(10));
  }
}

// The CPU test's tolerance (testing::ExpectBf16ReachesFp32), on the GPU.
TEST(CudaTest, Bf16ReachesTheFp32MetricsOnTheGpu) {
  SKIP_WITHOUT_CUDA();
  apen::Dataset data = SmallSynthetic();
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama}) {
    SCOPED_TRACE(ModelTypeName(type));
    PointConfig c = CudaPoint();
    c.model.type = type;
    const auto [fp32, bf16] = testing::RunFp32AndBf16(c, data);
    ASSERT_EQ(fp32.status, RunStatus::kOk) << fp32.message;
    ASSERT_EQ(bf16.status, RunStatus::kOk) << bf16.message;
    EXPECT_EQ(fp32.precision, "fp32");
    EXPECT_EQ(bf16.precision, "bf16");
    testing::ExpectBf16ReachesFp32(fp32, bf16);
    std::printf("%s: test NDCG@10 fp32 %.4f bf16 %.4f; last loss fp32 %.5f bf16 %.5f\n",
                ModelTypeName(type), fp32.test->Ndcg(10), bf16.test->Ndcg(10),
                fp32.epochs.back().train_loss, bf16.epochs.back().train_loss);
  }
}

// LibTorch's fused CUDA kernels (flash / memory-efficient / cuDNN) against the written-out
// attention, same weights: fp32 outputs within 1e-4, and under bf16 autocast within bf16's
// resolution of the fp32 output.
TEST(CudaTest, AttentionKernelsAgreeOnTheGpu) {
  SKIP_WITHOUT_CUDA();
  const torch::Device cuda(torch::kCUDA, 0);
  const std::vector<std::vector<uint32_t>> seqs = {
      {3, 1, 4, 1, 5}, {9}, {2, 6}, {5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8}, {4, 4}};
  std::vector<apen::ItemSpan> spans;
  for (const auto& s : seqs) spans.push_back({s.data(), s.size()});
  Batch b;
  LayoutRows(spans, 16, /*packing=*/true, &b);
  auto t = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kInt64).view({b.rows, b.len}).to(cuda);
  };
  const ModelInput in{t(b.items), t(b.positions), t(b.segments)};
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama}) {
    SCOPED_TRACE(ModelTypeName(type));
    ModelConfig mc;
    mc.type = type;
    mc.d_model = 64;
    mc.heads = 4;
    mc.dropout = 0.0;
    auto m = MakeModel(mc, 10, 16, 8);
    m->to(cuda);
    m->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor out[2][2];  // [bf16][fused]
    for (bool bf16 : {false, true})
      for (AttentionKernel kernel : {AttentionKernel::kMath, AttentionKernel::kFused}) {
        m->set_bf16(bf16);
        m->set_attention(kernel);
        out[bf16][kernel == AttentionKernel::kFused] = m->Hidden(in);
      }
    EXPECT_TRUE(torch::allclose(out[0][0], out[0][1], 1e-4, 1e-4));
    EXPECT_TRUE(torch::allclose(out[1][1], out[0][0], 5e-2, 5e-2));
    EXPECT_FALSE(torch::equal(out[1][1], out[0][1]));  // autocast really ran
    std::printf("%s: max |fused - math| fp32 %.2e; max |fused bf16 - math fp32| %.2e\n",
                ModelTypeName(type), (out[0][0] - out[0][1]).abs().max().item<double>(),
                (out[1][1] - out[0][0]).abs().max().item<double>());
  }
}

// Stopped mid-epoch on the GPU, resumed from its checkpoint: the run continues where it stopped
// (same steps, tokens and epochs) and ends at the uninterrupted run's result. Exact equality is not
// expected on CUDA (the embedding backward's atomic adds sum in varying order), so: training losses
// within 0.1% and test HR/NDCG@10 within 0.02.
TEST(CudaTest, CheckpointWrittenOnTheGpuResumesToTheSameResult) {
  SKIP_WITHOUT_CUDA();
  apen::Dataset data = SmallSynthetic();
  perflaw::testing::TempDir dir;
  const auto [whole, part, rest] =
      testing::RunStoppedAndResumed(testing::Resumable(CudaPoint()), data, dir.File("ckpt"));
  ASSERT_EQ(whole.status, RunStatus::kOk) << whole.message;
  ASSERT_EQ(part.status, RunStatus::kInterrupted) << part.message;
  EXPECT_EQ(part.steps, 19u);
  ASSERT_EQ(rest.status, RunStatus::kOk) << rest.message;
  ASSERT_EQ(rest.epochs.size(), whole.epochs.size());
  for (size_t e = 0; e < whole.epochs.size(); ++e)
    EXPECT_NEAR(rest.epochs[e].train_loss, whole.epochs[e].train_loss,
                1e-3 * whole.epochs[e].train_loss)
        << e;
  EXPECT_NEAR(rest.test->Hr(10), whole.test->Hr(10), 0.02);
  EXPECT_NEAR(rest.test->Ndcg(10), whole.test->Ndcg(10), 0.02);
  EXPECT_EQ(rest.steps, whole.steps);
  EXPECT_EQ(rest.tokens_seen, whole.tokens_seen);
  std::printf("resumed vs whole: last loss %.6f vs %.6f, test NDCG@10 %.5f vs %.5f\n",
              rest.epochs.back().train_loss, whole.epochs.back().train_loss, rest.test->Ndcg(10),
              whole.test->Ndcg(10));
}

}  // namespace
}  // namespace perflaw::worker
