// Adam and AdamW whose update of an fp32 CPU parameter is one pass over its memory (issue 20).
//
// LibTorch's Adam::step updates each parameter with about ten whole-tensor operations (mul_, add_,
// mul_, addcmul_, sqrt, div, add_, addcdiv_, ...), each a pass over the parameter's size. The item
// table is most of a SASRec's parameters and dense Adam touches every row each step, so on the
// reference point (23,716 x 50 items) those passes took a third of an epoch on one core. These
// subclasses do the same arithmetic element by element in one loop, keep the same per-parameter
// state (AdamParamState / AdamWParamState under the same keys), so checkpoints written by either
// load into the other, and fall back to LibTorch's step when a parameter is not a dense,
// contiguous fp32 CPU tensor or amsgrad is on. Results equal LibTorch's up to float rounding (the
// order of a few operations differs); tests/worker/fused_adam_test.cc compares them.
#pragma once

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

namespace perflaw::worker {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace perflaw::worker
