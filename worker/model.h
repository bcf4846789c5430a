// Sequential-recommendation models in LibTorch. Internal header: include only from .cc files
// (LibTorch headers are slow to compile).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "worker/point_config.h"
#include "worker/result.h"
#include "worker/rng.h"

namespace perflaw::worker {

// A batch laid out as in batches.h, as [rows, len] int64 tensors on the model's device.
struct ModelInput {
  torch::Tensor items;      // 0 = padding
  torch::Tensor positions;  // in [0, max_seq_len)
  torch::Tensor segments;   // sequence id per token, -1 = padding
};

// Dropout whose masks come from a seeded worker::Rng on CPU: reproducible across LibTorch versions,
// restartable from the step number, and much cheaper than LibTorch's bernoulli_ on CPU (the largest
// single cost of a small SASRec step, see DESIGN.md). The keep probability is quantised to 1/65536.
// On other devices it falls back to torch::dropout.
class MaskDropout {
 public:
  void Reseed(uint64_t seed) { rng_ = Rng(seed); }
  torch::Tensor Apply(const torch::Tensor& x, double p, bool training);

 private:
  Rng rng_{0};
};

// The common interface of the models: encode a batch of sequences into one hidden vector per token,
// and score hidden vectors against the item table (logit = <h, table[item]>).
class SequenceModel : public torch::nn::Module {
 public:
  // [rows, len, d_model]; tokens attend only to earlier tokens of their own sequence.
  virtual torch::Tensor Encode(const ModelInput& input) = 0;
  // [num_items + 1, d_model]; row 0 (padding) is zero.
  virtual torch::Tensor ItemTable() = 0;

  // Parameter groups for the optimizer: weight matrices, norms and biases, embeddings.
  std::vector<torch::Tensor> decay_params, no_decay_params, embedding_params;
  ParamCounts CountParams() const;
  // Reseeds the dropout masks (once per training step).
  void ReseedDropout(uint64_t seed) { dropout_.Reseed(seed); }

 protected:
  torch::Tensor Dropout(const torch::Tensor& x, double p) {
    return dropout_.Apply(x, p, is_training());
  }
  // Additive attention mask [rows, len, len]: 0 where a token may attend, -inf elsewhere.
  static torch::Tensor AttentionMask(const torch::Tensor& segments);

 private:
  MaskDropout dropout_;
};

// Builds and initialises the model `config.type`; throws std::invalid_argument for bad shapes.
std::shared_ptr<SequenceModel> MakeModel(const ModelConfig& config, uint32_t num_items,
                                         uint32_t max_len, uint64_t seed);

}  // namespace perflaw::worker
