// Models and evaluation (LibTorch).
#include "worker/model.h"

#include <gtest/gtest.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <thread>

#include "law/params.h"
#include "worker/batches.h"
#include "worker/evaluator.h"
#include "worker/rng.h"

namespace perflaw::worker {
namespace {

ModelInput ToInput(const Batch& b) {
  auto t = [&](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::kInt64).view({b.rows, b.len});
  };
  return {t(b.items), t(b.positions), t(b.segments)};
}

// Hidden vectors of every token of every sequence, in sequence order.
std::vector<torch::Tensor> EncodeAll(SequenceModel& m,
                                     const std::vector<std::vector<uint32_t>>& seqs,
                                     uint32_t max_len, bool packing) {
  std::vector<apen::ItemSpan> spans;
  for (const auto& s : seqs) spans.push_back({s.data(), s.size()});
  Batch b;
  std::vector<int64_t> start = LayoutRows(spans, max_len, packing, &b);
  torch::Tensor h = m.Encode(ToInput(b));
  h = h.reshape({-1, h.size(2)});
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < seqs.size(); ++i) out.push_back(h.narrow(0, start[i], seqs[i].size()));
  return out;
}

ModelConfig Config(uint32_t d, uint32_t heads, NormPlacement norm = NormPlacement::kPost,
                   ModelType type = ModelType::kSasrec) {
  ModelConfig c;
  c.type = type;
  c.d_model = d;
  c.heads = heads;
  c.layers = 2;
  c.dropout = 0.0;
  c.norm = norm;
  return c;
}

const std::vector<std::vector<uint32_t>> kSeqs = {
    {3, 1, 4, 1, 5}, {9}, {2, 6}, {5, 3, 5, 8, 9, 7, 9}, {4, 4}};

const std::vector<ModelConfig> kEveryModel = {
    Config(16, 2, NormPlacement::kPost), Config(16, 2, NormPlacement::kPre),
    Config(16, 2, NormPlacement::kPost, ModelType::kLlama),
    Config(16, 2, NormPlacement::kPost, ModelType::kHstu)};

TEST(ModelsTest, PackedAndUnpackedLayoutsComputeTheSameFunction) {
  for (const ModelConfig& config : kEveryModel) {
    SCOPED_TRACE(ModelTypeName(config.type));
    auto m = MakeModel(config, 10, 8, 1);
    m->eval();
    torch::NoGradGuard g;
    auto a = EncodeAll(*m, kSeqs, 8, false), b = EncodeAll(*m, kSeqs, 8, true);
    for (size_t i = 0; i < kSeqs.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-5)) << i;
  }
}

TEST(ModelsTest, OtherSequencesAndTheFutureDoNotLeak) {
  for (ModelConfig config : kEveryModel) {
    SCOPED_TRACE(ModelTypeName(config.type));
    config.heads = 4;
    auto m = MakeModel(config, 10, 8, 2);
    m->eval();
    torch::NoGradGuard g;
    auto alone = EncodeAll(*m, {{3, 1, 4, 1, 5}}, 8, true);
    auto packed = EncodeAll(*m, {{3, 1, 4, 1, 5}, {7, 7}}, 8, true);
    EXPECT_TRUE(torch::allclose(alone[0], packed[0], 1e-5, 1e-5));
    // Changing the last item changes only the last output.
    auto other = EncodeAll(*m, {{3, 1, 4, 1, 9}}, 8, true);
    EXPECT_TRUE(torch::allclose(alone[0].narrow(0, 0, 4), other[0].narrow(0, 0, 4), 1e-5, 1e-5));
    EXPECT_FALSE(torch::allclose(alone[0].narrow(0, 4, 1), other[0].narrow(0, 4, 1), 1e-5, 1e-5));
  }
}

// The fused kernel (scaled_dot_product_attention; on LibTorch 1.13 its private composite version)
// and the written-out math compute the same outputs and gradients from the same weights and masks.
TEST(ModelsTest, AttentionKernelsAgreeOnOutputsAndGradients) {
  std::vector<ModelConfig> configs = {Config(16, 1),
                                      Config(16, 2),
                                      Config(16, 4, NormPlacement::kPre),
                                      Config(16, 1, NormPlacement::kPost, ModelType::kLlama),
                                      Config(16, 4, NormPlacement::kPost, ModelType::kLlama),
                                      Config(25, 5, NormPlacement::kPost, ModelType::kLlama)};
  for (const ModelConfig& config : configs) {
    SCOPED_TRACE(std::string(ModelTypeName(config.type)) + " d " + std::to_string(config.d_model) +
                 " heads " + std::to_string(config.heads));
    auto m = MakeModel(config, 10, 8, 6);
    std::vector<torch::Tensor> out[2], grads[2];
    for (AttentionKernel kernel : {AttentionKernel::kMath, AttentionKernel::kFused}) {
      const int i = kernel == AttentionKernel::kFused;
      m->set_attention(kernel);
      m->train();  // dropout is 0: train mode only makes the kernels take their backward paths
      m->zero_grad();
      out[i] = EncodeAll(*m, kSeqs, 8, true);
      torch::Tensor loss = torch::zeros({});
      for (auto& o : out[i]) loss = loss + (o * o).sum();
      loss.backward();
      for (const auto& p : m->parameters()) grads[i].push_back(p.grad().clone());
    }
    // Gradients: 1e-3 relative (LibTorch 2.x's fused CPU kernel sums its blocks in another order);
    // a wrong mask or scale moves them by orders of magnitude more.
    for (size_t s = 0; s < kSeqs.size(); ++s)
      EXPECT_TRUE(torch::allclose(out[0][s], out[1][s], 1e-5, 1e-5))
          << "sequence " << s << ": max difference "
          << (out[0][s] - out[1][s]).abs().max().item<double>();
    for (size_t p = 0; p < grads[0].size(); ++p)
      EXPECT_TRUE(torch::allclose(grads[0][p], grads[1][p], 1e-3, 1e-4))
          << "parameter " << p << ": max difference "
          << (grads[0][p] - grads[1][p]).abs().max().item<double>() << " of max "
          << grads[0][p].abs().max().item<double>();
  }
}

// bf16 autocast (on the CPU here, as on CUDA) changes the arithmetic, not the function: Hidden()
// stays fp32 and within bf16's resolution of the fp32 result.
TEST(ModelsTest, Bf16HiddenIsFp32AndCloseToTheFp32Result) {
  std::vector<apen::ItemSpan> spans;
  for (const auto& s : kSeqs) spans.push_back({s.data(), s.size()});
  Batch b;
  LayoutRows(spans, 8, /*packing=*/true, &b);
  for (const ModelConfig& config : kEveryModel) {
    SCOPED_TRACE(ModelTypeName(config.type));
    auto m = MakeModel(config, 10, 8, 1);
    m->eval();
    torch::NoGradGuard g;
    torch::Tensor fp32 = m->Hidden(ToInput(b));
    m->set_bf16(true);
    torch::Tensor bf16 = m->Hidden(ToInput(b));
    EXPECT_EQ(bf16.scalar_type(), torch::kFloat);
    EXPECT_FALSE(torch::equal(fp32, bf16));
    EXPECT_TRUE(torch::allclose(fp32, bf16, 5e-2, 5e-2));
  }
}

TEST(ModelsTest, DefaultAttentionKernelIsFusedWhereLibTorchHasIt) {
  auto m = MakeModel(Config(16, 2), 10, 8, 6);
  EXPECT_EQ(m->attention(), DefaultAttentionKernel());
  EXPECT_STREQ(AttentionKernelName(DefaultAttentionKernel()),
               TORCH_VERSION_MAJOR >= 2 ? "sdpa" : "math");
}

TEST(ModelsTest, HeadsMustDivideDModel) {
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama, ModelType::kHstu})
    for (auto [d, h] :
         std::vector<std::pair<uint32_t, uint32_t>>{{25, 1}, {25, 5}, {75, 5}, {75, 3}}) {
      SCOPED_TRACE(ModelTypeName(type));
      auto m = MakeModel(Config(d, h, NormPlacement::kPost, type), 10, 8, 3);
      m->eval();
      torch::NoGradGuard g;
      auto out = EncodeAll(*m, kSeqs, 8, true);
      EXPECT_EQ(out[0].size(1), d);
      EXPECT_TRUE(torch::isfinite(out[0]).all().item<bool>());
    }
  EXPECT_THROW(MakeModel(Config(25, 2), 10, 8, 3), std::invalid_argument);
}

TEST(ModelsTest, ParameterGroupsCoverEveryParameter) {
  for (ModelType type : {ModelType::kLlama, ModelType::kHstu}) {
    auto m = MakeModel(Config(50, 5, NormPlacement::kPost, type), 100, 20, 4);
    int64_t total = 0;
    for (const auto& p : m->parameters()) total += p.numel();
    ParamCounts c = m->CountParams();
    EXPECT_EQ(c.embedding, type == ModelType::kLlama ? 101u * 50 : 101u * 50 + 20u * 50);
    EXPECT_EQ(static_cast<int64_t>(c.embedding + c.non_embedding), total);
    EXPECT_EQ(m->decay_params.size() + m->no_decay_params.size() + m->embedding_params.size(),
              m->parameters().size());
  }
}

// The one parameter count of perflaw (law/params.h: sweep check, the cost estimate, the law)
// equals what the worker counts on the model it builds, for every family and feed-forward width.
TEST(ModelsTest, TheLawsParameterCountIsTheWorkers) {
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama, ModelType::kHstu}) {
    for (double ffn : {1.0, 2.5, 4.0}) {
      SCOPED_TRACE(std::string(ModelTypeName(type)) + " ffn " + std::to_string(ffn));
      ModelConfig c = Config(24, 2, NormPlacement::kPost, type);
      c.layers = 3;
      c.ffn_multiplier = ffn;
      auto m = MakeModel(c, 100, 30, 1);
      law::ModelShape shape;
      shape.type = ModelTypeName(type);
      shape.layers = c.layers;
      shape.d_model = c.d_model;
      shape.ffn_multiplier = ffn;
      shape.max_seq_len = 30;
      EXPECT_EQ(law::NonEmbeddingParams(shape),
                static_cast<double>(m->CountParams().non_embedding));
    }
  }
}

TEST(SasrecTest, ParameterGroupsCoverEveryParameter) {
  auto m = MakeModel(Config(50, 1), 100, 20, 4);
  int64_t total = 0;
  for (const auto& p : m->parameters()) total += p.numel();
  ParamCounts c = m->CountParams();
  EXPECT_EQ(c.embedding, 101u * 50 + 20u * 50);
  EXPECT_EQ(static_cast<int64_t>(c.embedding + c.non_embedding), total);
  EXPECT_EQ(m->decay_params.size() + m->no_decay_params.size() + m->embedding_params.size(),
            m->parameters().size());
}

TEST(ModelsTest, SeededInitIsReproducibleAndPaddingRowStaysZero) {
  for (ModelType type : {ModelType::kSasrec, ModelType::kLlama, ModelType::kHstu}) {
    SCOPED_TRACE(ModelTypeName(type));
    ModelConfig c = Config(8, 1, NormPlacement::kPost, type);
    c.dropout = 0.3;
    auto a = MakeModel(c, 10, 8, 5), b = MakeModel(c, 10, 8, 5);
    EXPECT_TRUE(torch::equal(a->ItemTable(), b->ItemTable()));
    EXPECT_EQ(a->ItemTable()[0].abs().sum().item<float>(), 0.0f);
    torch::optim::Adam opt(a->parameters(), torch::optim::AdamOptions(0.1));
    for (int step = 0; step < 3; ++step) {
      a->train();
      a->ReseedDropout(step);
      auto out = EncodeAll(*a, kSeqs, 8, true);
      torch::Tensor loss = torch::zeros({});
      for (auto& o : out) loss = loss + o.sum() * o.sum();
      loss = loss + a->ItemTable().index_select(0, torch::tensor({1, 2, 3}, torch::kInt64)).sum();
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    EXPECT_EQ(a->ItemTable()[0].abs().sum().item<float>(), 0.0f);
    EXPECT_FALSE(torch::equal(a->ItemTable(), b->ItemTable()));
  }
}

TEST(MaskDropoutTest, KeepsTheRightShareAndScales) {
  MaskDropout d;
  d.Reseed(7);
  torch::Tensor x = torch::ones({1000, 100});
  torch::Tensor y = d.Apply(x, 0.5, true);
  const double kept = (y > 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.5, 0.01);
  EXPECT_NEAR(y.max().item<float>(), 2.0f, 1e-6);
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.02);
  EXPECT_TRUE(torch::equal(d.Apply(x, 0.5, false), x));
  MaskDropout e;
  e.Reseed(7);
  EXPECT_TRUE(torch::equal(e.Apply(x, 0.5, true), y));
}

// The masks' bits as documented (element i: bits 16*(i%4).. of the (i/4)-th word; a mask of n
// elements draws n/4 + 1 words), so masks, and thereby trained models, stay what earlier versions
// drew.
TEST(MaskDropoutTest, MasksFollowTheDocumentedBitLayout) {
  const double p = 0.3;
  const uint32_t threshold = static_cast<uint32_t>(std::lround(p * 65536.0));
  const float scale = static_cast<float>(65536.0 / (65536.0 - threshold));
  MaskDropout d;
  d.Reseed(11);
  Rng rng(11);
  for (int64_t n : {2051, 4096, 7, 3000}) {  // several masks in a row: the word count carries over
    SCOPED_TRACE(n);
    torch::Tensor y = d.Apply(torch::ones({n}), p, true);
    std::vector<float> expected(n);
    for (int64_t i = 0; i < n; i += 4) {
      uint64_t r = rng.Next();
      for (int64_t k = i; k < std::min(n, i + 4); ++k, r >>= 16)
        expected[k] = (r & 0xffff) >= threshold ? scale : 0.0f;
    }
    if (n % 4 == 0) rng.Next();
    EXPECT_TRUE(torch::equal(y, torch::tensor(expected)));
  }
}

TEST(GatherRowsTest, ValuesAndGradientsAreEmbeddingsAndIndexSelects) {
  torch::manual_seed(4);
  const torch::Tensor start = torch::randn({12, 40});
  const torch::Tensor ids =
      torch::tensor({3, 0, 5, 3, 11, 0, 7, 3, 5, 1}, torch::kInt64).view({2, 5});
  const torch::Tensor out_grad = torch::randn({2, 5, 40});
  auto gradient = [&](auto&& gather) {
    torch::Tensor table = start.clone().requires_grad_();
    torch::Tensor out = gather(table);
    out.backward(out_grad);
    return std::make_pair(out.detach(), table.grad());
  };
  for (bool padding : {true, false}) {
    SCOPED_TRACE(padding);
    auto [out, grad] =
        gradient([&](const torch::Tensor& t) { return GatherRows(t, ids, padding); });
    auto [ref_out, ref_grad] = gradient([&](const torch::Tensor& t) {
      return padding ? torch::embedding(t, ids, /*padding_idx=*/0)
                     : t.index_select(0, ids.reshape(-1)).view({2, 5, 40});
    });
    EXPECT_TRUE(torch::equal(out, ref_out));
    EXPECT_TRUE(torch::allclose(grad, ref_grad, 1e-6, 1e-6));
    EXPECT_EQ(grad[0].abs().sum().item<float>() == 0.0f, padding);
    // The same sums in the same order whatever the thread count.
    const int threads = at::get_num_threads();
    at::set_num_threads(2);
    auto [out2, grad2] =
        gradient([&](const torch::Tensor& t) { return GatherRows(t, ids, padding); });
    at::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(grad2, grad));
    // Other devices and dtypes take embedding's own backward (here: a double table on CPU).
    torch::Tensor table64 = start.to(torch::kDouble).requires_grad_();
    GatherRows(table64, ids, padding).backward(out_grad.to(torch::kDouble));
    EXPECT_TRUE(torch::allclose(table64.grad().to(torch::kFloat), grad, 1e-6, 1e-6));
  }
}

// A model whose hidden vector is constant, so scores are the item table's first column.
class FixedScores : public SequenceModel {
 public:
  explicit FixedScores(torch::Tensor column) {
    table_ = torch::cat({column.unsqueeze(1), torch::zeros_like(column).unsqueeze(1)}, 1);
  }
  torch::Tensor Encode(const ModelInput& in) override {
    return torch::tensor({1.0f, 0.0f}).expand({in.items.size(0), in.items.size(1), 2});
  }
  torch::Tensor ItemTable() override { return table_; }

 private:
  torch::Tensor table_;
};

apen::Sequences EvalSeqs() {
  apen::Sequences s;
  std::vector<std::vector<uint32_t>> users = {
      {1, 2, 3, 4}, {5, 6, 7}, {8, 9, 10, 11, 2}, {12, 3}, {3, 14, 15, 16}};
  for (const auto& u : users) s.AddUser(u.data(), u.size());
  return s;
}

EvalConfig Eval(uint32_t sampled, bool exclude = true) {
  EvalConfig e;
  e.sampled_negatives = sampled;
  e.exclude_history = exclude;
  e.ks = {1, 10};
  return e;
}

TEST(EvaluatorTest, FullRankingMatchesBruteForce) {
  const uint32_t n = 20;
  apen::Sequences seqs = EvalSeqs();
  apen::LeaveOneOutSplit split(seqs);
  torch::Tensor score =
      torch::arange(0, int64_t{n} + 1, torch::kFloat).remainder(7.0);  // ties on purpose
  FixedScores model(score);
  // 1 thread, 3 threads (over 2 chunks of 3 users: 2 threads), one per core; the libraries' own
  // thread setting is what it was after each evaluation.
  const int lib_threads = at::get_num_threads();
  for (uint32_t threads : {1u, 3u, 0u}) {
    for (bool exclude : {true, false}) {
      auto ev = Evaluator::Create(split, n, 50, Eval(0, exclude));
      ASSERT_TRUE(ev.ok());
      EXPECT_EQ((*ev)->users(), (std::vector<uint32_t>{0, 1, 2, 4}));  // user 3 has < 3 items
      (*ev)->set_threads(threads);
      EXPECT_EQ((*ev)->threads(torch::kCPU),
                threads ? threads : std::max(1u, std::thread::hardware_concurrency()));
      for (Split s : {Split::kValid, Split::kTest}) {
        std::vector<uint32_t> ranks = (*ev)->Ranks(model, s, torch::kCPU, /*users_per_chunk=*/3);
        EXPECT_EQ(at::get_num_threads(), lib_threads);
        for (size_t i = 0; i < ranks.size(); ++i) {
          const uint32_t u = (*ev)->users()[i];
          const uint32_t target = s == Split::kValid ? split.ValidTarget(u) : split.TestTarget(u);
          apen::ItemSpan h = s == Split::kValid ? split.ValidHistory(u) : split.TestHistory(u);
          std::set<uint32_t> hist(h.begin(), h.end());
          uint32_t expected = 1;
          for (uint32_t item = 1; item <= n; ++item) {
            if (item == target || (exclude && hist.count(item))) continue;
            if (score[item].item<float>() >= score[target].item<float>())
              ++expected;  // ties count against
          }
          EXPECT_EQ(ranks[i], expected)
              << "user " << u << " exclude " << exclude << " threads " << threads;
        }
      }
    }
  }
}

TEST(EvaluatorTest, SampledCandidatesAreDistinctOutsideHistoryAndSeeded) {
  const uint32_t n = 40;
  apen::Sequences seqs = EvalSeqs();
  apen::LeaveOneOutSplit split(seqs);
  auto ev = Evaluator::Create(split, n, 50, Eval(20));
  ASSERT_TRUE(ev.ok());
  torch::Tensor score = torch::arange(0, int64_t{n} + 1, torch::kFloat).remainder(5.0);
  FixedScores model(score);
  std::vector<uint32_t> ranks = (*ev)->Ranks(model, Split::kTest, torch::kCPU);
  for (size_t i = 0; i < ranks.size(); ++i) {
    const uint32_t u = (*ev)->users()[i];
    std::vector<int64_t> c = (*ev)->Candidates(u, Split::kTest);
    ASSERT_EQ(c.size(), 21u);
    EXPECT_EQ(c[0], split.TestTarget(u));
    std::set<int64_t> distinct(c.begin(), c.end());
    EXPECT_EQ(distinct.size(), 21u);
    apen::ItemSpan h = split.TestHistory(u);
    for (size_t j = 1; j < c.size(); ++j) {
      EXPECT_EQ(std::count(h.begin(), h.end(), c[j]), 0);
      EXPECT_GE(c[j], 1);
      EXPECT_LE(c[j], n);
    }
    uint32_t expected = 1;
    for (size_t j = 1; j < c.size(); ++j)
      expected += score[c[j]].item<float>() >= score[c[0]].item<float>();
    EXPECT_EQ(ranks[i], expected);
    EXPECT_EQ(c, (*ev)->Candidates(u, Split::kTest));
    EXPECT_NE(c, (*ev)->Candidates(u, Split::kValid));
  }
}

TEST(EvaluatorTest, ConstantScoresGetTheWorstRank) {
  apen::Sequences seqs = EvalSeqs();
  apen::LeaveOneOutSplit split(seqs);
  FixedScores model(torch::zeros({31}));
  auto sampled = Evaluator::Create(split, 30, 50, Eval(9));
  ASSERT_TRUE(sampled.ok());
  for (uint32_t r : (*sampled)->Ranks(model, Split::kValid, torch::kCPU)) EXPECT_EQ(r, 10u);
  RankMetrics m = (*sampled)->Evaluate(model, Split::kValid, torch::kCPU);
  EXPECT_EQ(m.protocol, "sampled:9");
  EXPECT_EQ(m.split, "valid");
  EXPECT_DOUBLE_EQ(m.Hr(1), 0.0);
}

TEST(EvaluatorTest, UserSubsampleIsSeededAndInfeasibleProtocolsFail) {
  apen::Sequences seqs;
  for (uint32_t u = 0; u < 100; ++u) {
    std::vector<uint32_t> s = {1 + u % 50, 2 + u % 40, 3 + u % 30};
    seqs.AddUser(s.data(), s.size());
  }
  apen::LeaveOneOutSplit split(seqs);
  EvalConfig e = Eval(10);
  e.users = 30;
  auto a = Evaluator::Create(split, 60, 50, e), b = Evaluator::Create(split, 60, 50, e);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->users().size(), 30u);
  EXPECT_EQ((*a)->users(), (*b)->users());
  e.seed = 1;
  auto c = Evaluator::Create(split, 60, 50, e);
  EXPECT_NE((*a)->users(), (*c)->users());
  e.sampled_negatives = 58;  // 60 items, history 2-3 + target
  auto bad = Evaluator::Create(split, 60, 50, e);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("eval.protocol sampled:58 needs 58 negatives"),
            std::string::npos);
}

}  // namespace
}  // namespace perflaw::worker
