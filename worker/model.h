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
  // Optional [rows, len, d_model]: the item table's rows of `items`, already gathered (GatherRows
  // with padding). Training gathers them together with the loss's rows in one op, so that the
  // table's gradient is built once per step; without it the model gathers them itself.
  torch::Tensor item_vectors;
};

// table[ids] ([ids..., d]) like torch::embedding, with a backward that adds the rows' gradients
// into one zero-filled table-sized gradient in a single pass (LibTorch 1.13's embedding and
// index_select backwards cost a dense table each plus a per-index overhead, and a table used twice
// gets the two summed: most of a small SASRec's step on CPU). `padding_row0`: row 0 gets no
// gradient (padding).
torch::Tensor GatherRows(const torch::Tensor& table, const torch::Tensor& ids, bool padding_row0);

// Dropout whose masks come from a seeded worker::Rng on CPU: reproducible across LibTorch versions,
// restartable from the step number, and much cheaper than LibTorch's bernoulli_ on CPU (the largest
// single cost of a small SASRec step, see docs/design.md). The keep probability is quantised to
// 1/65536. On other devices it falls back to torch::dropout.
class MaskDropout {
 public:
  void Reseed(uint64_t seed) { rng_ = Rng(seed); }
  torch::Tensor Apply(const torch::Tensor& x, double p, bool training);

 private:
  Rng rng_{0};
};

// How softmax attention is computed: kMath writes it out (scores, softmax, weighted sum; attention
// dropout from MaskDropout), kFused calls LibTorch's scaled_dot_product_attention (flash /
// memory-efficient / cuDNN kernels on CUDA; attention dropout from torch's generator). Both take
// the same mask. The default is kFused where LibTorch has it (2.x) and kMath on 1.13.
enum class AttentionKernel { kMath, kFused };
const char* AttentionKernelName(AttentionKernel kernel);
AttentionKernel DefaultAttentionKernel();

// The common interface of the models: encode a batch of sequences into one hidden vector per token,
// and score hidden vectors against the item table (logit = <h, table[item]>).
class SequenceModel : public torch::nn::Module {
 public:
  // [rows, len, d_model]; tokens attend only to earlier tokens of their own sequence. Computed in
  // the dtype the ops give (bf16 under autocast); callers that score use Hidden().
  virtual torch::Tensor Encode(const ModelInput& input) = 0;
  // Encode at the model's precision (bf16: under autocast), returned in fp32 so that losses and
  // scores are always fp32.
  torch::Tensor Hidden(const ModelInput& input);
  // [num_items + 1, d_model]; row 0 (padding) is zero.
  virtual torch::Tensor ItemTable() = 0;

  // Parameter groups for the optimizer: weight matrices, norms and biases, embeddings.
  std::vector<torch::Tensor> decay_params, no_decay_params, embedding_params;
  ParamCounts CountParams() const;
  // Reseeds the dropout masks (once per training step): MaskDropout's generator and torch's (used
  // by dropout on CUDA and inside fused attention), so a run resumed from a checkpoint draws the
  // same masks as an uninterrupted one.
  void ReseedDropout(uint64_t seed);

  // bf16 autocast in Hidden() (the trainer sets it from train.precision). The weights stay fp32.
  void set_bf16(bool bf16) { bf16_ = bf16; }
  bool bf16() const { return bf16_; }
  void set_attention(AttentionKernel kernel) { attention_ = kernel; }
  AttentionKernel attention() const { return attention_; }

 protected:
  torch::Tensor Dropout(const torch::Tensor& x, double p) {
    return dropout_.Apply(x, p, is_training());
  }
  // [rows, len, len] bool: true where a token may attend (earlier or same position, same sequence).
  static torch::Tensor AllowedMask(const torch::Tensor& segments);
  // The math kernel's mask: 0 where a token may attend, -inf elsewhere, repeated per head
  // [rows*heads, len, len]; an undefined tensor when the fused kernel is used (it takes `allowed`).
  torch::Tensor MathMask(const torch::Tensor& allowed, int64_t heads) const;
  // Softmax attention of q, k, v [rows, len, heads, dh] under `allowed` [rows, len, len] (and its
  // MathMask), with dropout p on the weights; returns [rows, len, heads*dh].
  torch::Tensor SoftmaxAttention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const torch::Tensor& allowed,
                                 const torch::Tensor& math_mask, double p);

 private:
  MaskDropout dropout_;
  bool bf16_ = false;
  AttentionKernel attention_ = DefaultAttentionKernel();
};

// Builds and initialises the model `config.type`; throws std::invalid_argument for bad shapes.
std::shared_ptr<SequenceModel> MakeModel(const ModelConfig& config, uint32_t num_items,
                                         uint32_t max_len, uint64_t seed);

}  // namespace perflaw::worker
