// The one-pass Adam / AdamW against LibTorch's (worker/fused_adam.h).
#include "worker/fused_adam.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <utility>
#include <vector>

#include "worker/torch_compat.h"

namespace perflaw::worker {
namespace {

// Two parameters of different shapes; the same seeded start for every optimizer.
std::vector<torch::Tensor> Params() {
  torch::manual_seed(7);
  return {torch::randn({97, 5}).requires_grad_(), torch::randn({13}).requires_grad_()};
}

// Gradients of step s, the same for every optimizer (a zero gradient row included: dense Adam still
// moves that row by its momentum).
void SetGrads(std::vector<torch::Tensor>& params, int s) {
  torch::manual_seed(1000 + s);
  for (auto& p : params) {
    torch::Tensor g = torch::randn(p.sizes()) * (s + 1);
    if (g.dim() == 2) g[3].zero_();
    p.mutable_grad() = g;
  }
}

template <typename Optimizer, typename Options>
std::vector<torch::Tensor> Train(const Options& options, int steps,
                                 std::ostringstream* saved = nullptr) {
  std::vector<torch::Tensor> params = Params();
  Optimizer opt(params, options);
  for (int s = 0; s < steps; ++s) {
    SetGrads(params, s);
    // Changing lr between steps, as the trainer's schedule does.
    for (auto& g : opt.param_groups()) g.options().set_lr(options.lr() * (1.0 + 0.1 * s));
    opt.step();
  }
  if (saved) {
    torch::serialize::OutputArchive archive;
    opt.save(archive);
    archive.save_to(*saved);
  }
  return params;
}

void ExpectClose(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i], b[i], /*rtol=*/1e-5, /*atol=*/1e-6))
        << "param " << i << " differs by " << (a[i] - b[i]).abs().max().item<float>();
  }
}

TEST(FusedAdamTest, AdamWithL2MatchesLibTorch) {
  auto o = torch::optim::AdamOptions(1e-2).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.05);
  ExpectClose(Train<FusedAdam>(o, 20), Train<torch::optim::Adam>(o, 20));
}

TEST(FusedAdamTest, AdamWMatchesLibTorch) {
  auto o = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.999}).eps(1e-6).weight_decay(0.1);
  ExpectClose(Train<FusedAdamW>(o, 20), Train<torch::optim::AdamW>(o, 20));
}

// `First` trains 5 steps and saves; `Second` loads that into new parameters' optimizer and trains 5
// more. Returns the parameters and the step count `Second` holds for the first of them.
template <typename First, typename Second>
std::pair<std::vector<torch::Tensor>, int64_t> Handover(const torch::optim::AdamOptions& o) {
  std::ostringstream saved;
  std::vector<torch::Tensor> params = Train<First>(o, 5, &saved);
  Second second(params, o);
  std::istringstream in(saved.str());
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  second.load(archive);
  for (int s = 5; s < 10; ++s) {
    SetGrads(params, s);
    for (auto& g : second.param_groups()) g.options().set_lr(o.lr() * (1.0 + 0.1 * s));
    second.step();
  }
  const auto& state = static_cast<const torch::optim::AdamParamState&>(
      *second.state().at(torch_compat::OptimizerStateKey(params[0])));
  return {params, state.step()};
}

// Checkpoints are interchangeable: 5 steps of one then 5 of the other equal 10 of LibTorch's, and
// the state was found under LibTorch's own key (its step count continued to 10).
TEST(FusedAdamTest, ItsStateContinuesInLibTorchsAdamAndBack) {
  auto o = torch::optim::AdamOptions(1e-2).betas({0.9, 0.98});
  const std::vector<torch::Tensor> reference = Train<torch::optim::Adam>(o, 10);
  auto [to_libtorch, steps1] = Handover<FusedAdam, torch::optim::Adam>(o);
  ExpectClose(to_libtorch, reference);
  EXPECT_EQ(steps1, 10);
  auto [to_fused, steps2] = Handover<torch::optim::Adam, FusedAdam>(o);
  ExpectClose(to_fused, reference);
  EXPECT_EQ(steps2, 10);
}

TEST(FusedAdamTest, NonContiguousParametersFallBackToLibTorch) {
  auto o = torch::optim::AdamOptions(1e-2);
  torch::manual_seed(3);
  torch::Tensor base = torch::randn({6, 8});
  std::vector<torch::Tensor> a = {
      base.t().contiguous().t().requires_grad_()};  // transposed storage
  std::vector<torch::Tensor> b = {base.clone().requires_grad_()};
  ASSERT_FALSE(a[0].is_contiguous());
  FusedAdam fused(a, o);
  torch::optim::Adam plain(b, o);
  for (int s = 0; s < 3; ++s) {
    torch::Tensor g = torch::randn({6, 8});
    a[0].mutable_grad() = g.t().contiguous().t();
    b[0].mutable_grad() = g.clone();
    fused.step();
    plain.step();
  }
  EXPECT_TRUE(torch::equal(a[0], b[0]));  // the fallback is LibTorch's step itself
}

}  // namespace
}  // namespace perflaw::worker
