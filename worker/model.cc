#include "worker/model.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "worker/torch_compat.h"

namespace perflaw::worker {
namespace {

namespace F = torch::nn::functional;

// Fills `mask` (float, contiguous, CPU) with 0 or 1/keep: 16 random bits per element, element i
// taking bits 16*(i%4).. of the generator's (i/4)-th output. The bits are drawn into a block first
// so that the comparison loop vectorizes (little-endian: the 16-bit lanes of a word are in that
// order in memory).
void FillDropoutMask(Rng& rng, double p, torch::Tensor& mask) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lane order of the random words");
  constexpr int64_t kWords = 256;  // 1,024 elements per block
  const uint32_t threshold = static_cast<uint32_t>(std::lround(p * 65536.0));
  const float scale = static_cast<float>(65536.0 / (65536.0 - threshold));
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  uint64_t words[kWords];
  uint16_t lanes[4 * kWords];
  for (int64_t start = 0; start < n; start += 4 * kWords) {
    const int64_t count = std::min<int64_t>(4 * kWords, n - start);
    for (int64_t w = 0; w < (count + 3) / 4; ++w) words[w] = rng.Next();
    std::memcpy(lanes, words, sizeof(lanes));
    float* o = out + start;
    for (int64_t i = 0; i < count; ++i) o[i] = lanes[i] >= threshold ? scale : 0.0f;
  }
  if (n % 4 == 0) rng.Next();  // one word more when n is a multiple of 4, as masks always drew
}

// The input's item vectors: gathered by the caller, or here (row 0, padding, gets no gradient).
torch::Tensor ItemVectors(const torch::Tensor& table, const ModelInput& in) {
  return in.item_vectors.defined() ? in.item_vectors
                                   : GatherRows(table, in.items, /*padding_row0=*/true);
}

// Columns per task of GatherRows' backward when the point has several threads: each task adds its
// columns of every row, so the sum's order (and result) is the same for any thread count.
constexpr int64_t kScatterColumnGrain = 16;

// grad [rows, d] (zero) += out_grad[i] at row ids[i], for fp32 contiguous CPU tensors.
void ScatterAddRowsCpu(const torch::Tensor& out_grad, const torch::Tensor& ids, bool padding_row0,
                       torch::Tensor& grad) {
  const int64_t n = ids.numel(), d = grad.size(1);
  const int64_t* id = ids.data_ptr<int64_t>();
  const float* src = out_grad.data_ptr<float>();
  float* dst = grad.data_ptr<float>();
  at::parallel_for(0, d, kScatterColumnGrain, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; ++i) {
      if (padding_row0 && id[i] == 0) continue;
      float* row = dst + id[i] * d;
      const float* from = src + i * d;
      for (int64_t c = c0; c < c1; ++c) row[c] += from[c];
    }
  });
}

class GatherRowsFunction : public torch::autograd::Function<GatherRowsFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& table,
                               const torch::Tensor& ids, bool padding_row0) {
    ctx->save_for_backward({ids});
    ctx->saved_data["rows"] = table.size(0);
    ctx->saved_data["padding_row0"] = padding_row0;
    std::vector<int64_t> shape = ids.sizes().vec();
    shape.push_back(table.size(1));
    return table.index_select(0, ids.reshape(-1)).view(shape);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor ids = ctx->get_saved_variables()[0].reshape(-1).contiguous();
    const bool padding_row0 = ctx->saved_data["padding_row0"].toBool();
    const int64_t d = grads[0].size(-1);
    torch::Tensor out_grad = grads[0].reshape({-1, d}).contiguous();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    torch::Tensor grad;
    if (out_grad.device().is_cpu() && out_grad.scalar_type() == torch::kFloat) {
      grad = torch::zeros({rows, d}, out_grad.options());
      ScatterAddRowsCpu(out_grad, ids, padding_row0, grad);
    } else {
      // Elsewhere (CUDA) embedding's own backward: one table-sized gradient too, and deterministic
      // (it sorts the ids; index_add_ would add with atomics in a varying order).
      grad = at::embedding_dense_backward(out_grad, ids, rows, padding_row0 ? 0 : -1,
                                          /*scale_grad_by_freq=*/false);
    }
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

// Xavier-normal weights (what the public PyTorch SASRec applies to every matrix).
void XavierNormal(torch::Tensor w) {
  torch::NoGradGuard guard;
  torch::nn::init::xavier_normal_(w);
}

// The item table: row 0 is the padding item, rows 1..num_items the items. Initialise it, then
// call ZeroPaddingRow.
torch::Tensor RegisterItemEmbeddings(torch::nn::Module& m, uint32_t num_items, int64_t d) {
  return m.register_parameter("item_emb", torch::empty({int64_t{num_items} + 1, d}));
}

// Padding (item 0) must score and embed as zero.
void ZeroPaddingRow(torch::Tensor item_emb) {
  torch::NoGradGuard guard;
  item_emb[0].zero_();
}

// The item table and the learned positions of sasrec and hstu, Xavier-normal with the padding row
// zeroed, registered in this order (which fixes the seeded initial weights); they are the model's
// embedding parameters.
void RegisterItemAndPositionTables(SequenceModel& m, uint32_t num_items, uint32_t max_len,
                                   int64_t d, torch::Tensor* items, torch::Tensor* positions) {
  *items = RegisterItemEmbeddings(m, num_items, d);
  XavierNormal(*items);
  ZeroPaddingRow(*items);
  *positions = m.register_parameter("pos_emb", torch::empty({int64_t{max_len}, d}));
  XavierNormal(*positions);
  m.embedding_params = {*items, *positions};
}

// q, k and v of a fused projection [R, L, 3d], each [R, L, heads, dh] (views). unsafe_chunk, not
// three narrows: its backward is one concatenation, where each narrow's would be a zero-filled
// [R, L, 3d] gradient and the three are then summed (the same values, three times the memory
// passes).
std::vector<torch::Tensor> QkvParts(const torch::Tensor& qkv, int64_t heads) {
  std::vector<torch::Tensor> parts = qkv.unsafe_chunk(3, 2);
  for (torch::Tensor& t : parts) t = t.reshape({t.size(0), t.size(1), heads, t.size(2) / heads});
  return parts;
}

// Multi-head self-attention's projections: fused q/k/v in, one out. The attention itself is the
// model's (SequenceModel::SoftmaxAttention), so both kernels share these weights.
class SelfAttention : public torch::nn::Module {
 public:
  SelfAttention(int64_t d, int64_t heads) : heads_(heads) {
    in_ = register_module("in_proj", torch::nn::Linear(d, 3 * d));
    out_ = register_module("out_proj", torch::nn::Linear(d, d));
    XavierNormal(in_->weight);
    XavierNormal(out_->weight);
    torch::NoGradGuard guard;
    in_->bias.zero_();
    out_->bias.zero_();
  }
  // x [R, L, d] -> [R, L, d]; `attend` maps q, k, v [R, L, heads, dh] to [R, L, d].
  template <typename AttendFn>
  torch::Tensor Forward(const torch::Tensor& x, AttendFn&& attend) {
    const std::vector<torch::Tensor> qkv = QkvParts(in_->forward(x), heads_);
    return out_->forward(attend(qkv[0], qkv[1], qkv[2]));
  }
  std::vector<torch::Tensor> Weights() { return {in_->weight, out_->weight}; }
  std::vector<torch::Tensor> Biases() { return {in_->bias, out_->bias}; }

 private:
  int64_t heads_;
  torch::nn::Linear in_{nullptr}, out_{nullptr};
};

// What sasrec and hstu share: the item table and learned positions, registered before anything
// else, and their input: item embeddings scaled by sqrt(d) plus the positions, with dropout.
class PositionalModel : public SequenceModel {
 public:
  torch::Tensor ItemTable() override { return item_emb_; }

 protected:
  PositionalModel(const ModelConfig& c, uint32_t num_items, uint32_t max_len)
      : d_(c.d_model), heads_(c.heads), dropout_(c.dropout) {
    RegisterItemAndPositionTables(*this, num_items, max_len, d_, &item_emb_, &pos_emb_);
  }

  torch::Tensor EmbedInput(const ModelInput& in) {
    torch::Tensor x = ItemVectors(item_emb_, in) * std::sqrt(static_cast<double>(d_)) +
                      GatherRows(pos_emb_, in.positions, /*padding_row0=*/false);
    return Dropout(x, dropout_);
  }

  // The width, heads and dropout rate: the subclasses build their layers with them too.
  int64_t d_, heads_;
  double dropout_;

 private:
  torch::Tensor item_emb_, pos_emb_;
};

// SASRec (Kang & McAuley 2018) as in the public PyTorch implementation: item embeddings scaled by
// sqrt(d) plus learned positions, dropout, blocks of [attention, point-wise FFN] with LayerNorm
// (post-LN: x = LN(x + sublayer(x)); pre-LN: x = x + sublayer(LN(x))), a final LayerNorm, and the
// item embeddings shared with the output scoring.
class Sasrec : public PositionalModel {
 public:
  Sasrec(const ModelConfig& c, uint32_t num_items, uint32_t max_len)
      : PositionalModel(c, num_items, max_len), pre_ln_(c.norm == NormPlacement::kPre) {
    const int64_t hidden = std::lround(c.ffn_multiplier * c.d_model);
    for (uint32_t i = 0; i < c.layers; ++i) {
      const std::string n = std::to_string(i);
      Block b;
      b.attn = register_module("attn" + n, std::make_shared<SelfAttention>(d_, c.heads));
      b.ln1 = register_module("ln1_" + n, torch::nn::LayerNorm(LnOptions()));
      b.ln2 = register_module("ln2_" + n, torch::nn::LayerNorm(LnOptions()));
      b.fc1 = register_module("fc1_" + n, torch::nn::Linear(d_, hidden));
      b.fc2 = register_module("fc2_" + n, torch::nn::Linear(hidden, d_));
      XavierNormal(b.fc1->weight);
      XavierNormal(b.fc2->weight);
      for (auto& w : b.attn->Weights()) decay_params.push_back(w);
      for (auto& w : b.attn->Biases()) no_decay_params.push_back(w);
      decay_params.insert(decay_params.end(), {b.fc1->weight, b.fc2->weight});
      no_decay_params.insert(no_decay_params.end(), {b.fc1->bias, b.fc2->bias, b.ln1->weight,
                                                     b.ln1->bias, b.ln2->weight, b.ln2->bias});
      blocks_.push_back(b);
    }
    last_ln_ = register_module("last_ln", torch::nn::LayerNorm(LnOptions()));
    no_decay_params.insert(no_decay_params.end(), {last_ln_->weight, last_ln_->bias});
  }

  torch::Tensor Encode(const ModelInput& in) override {
    torch::Tensor x = EmbedInput(in);
    const torch::Tensor allowed = AllowedMask(in.segments);
    const torch::Tensor math_mask = MathMask(allowed, heads_);
    auto attend = [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
      return SoftmaxAttention(q, k, v, allowed, math_mask, dropout_);
    };
    for (Block& b : blocks_) {
      if (pre_ln_) {
        x = x + b.attn->Forward(b.ln1->forward(x), attend);
        x = x + Ffn(b, b.ln2->forward(x));
      } else {
        x = b.ln1->forward(x + b.attn->Forward(x, attend));
        x = b.ln2->forward(x + Ffn(b, x));
      }
    }
    return last_ln_->forward(x);
  }

 private:
  struct Block {
    std::shared_ptr<SelfAttention> attn;
    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  };
  torch::nn::LayerNormOptions LnOptions() const {
    return torch::nn::LayerNormOptions({d_}).eps(1e-8);  // the public SASRec's epsilon
  }
  torch::Tensor Ffn(Block& b, const torch::Tensor& x) {
    return Dropout(b.fc2->forward(torch::relu(Dropout(b.fc1->forward(x), dropout_))), dropout_);
  }

  bool pre_ln_;
  std::vector<Block> blocks_;
  torch::nn::LayerNorm last_ln_{nullptr};
};

// Root-mean-square LayerNorm (no centring, no bias).
class RmsNorm : public torch::nn::Module {
 public:
  explicit RmsNorm(int64_t d, double eps = 1e-6) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({d}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch_compat::RmsNorm(x, weight, eps_); }
  torch::Tensor weight;

 private:
  double eps_;
};

void NormalInit(torch::Tensor w, double std) {
  torch::NoGradGuard guard;
  w.normal_(0.0, std);
}

// Rotary position embedding on the first 2*floor(dh/2) features of each head (an odd head size, as
// with d_model 25 and 1 or 5 heads, leaves its last feature unrotated). The angles depend only on
// the positions, so a forward pass computes them once for all layers, in fp32 (bf16 holds integers
// exactly only up to 256).
struct RopeAngles {
  torch::Tensor cos, sin;  // [R, L, 1, half]
};
RopeAngles MakeRopeAngles(const torch::Tensor& positions, int64_t dh) {
  const int64_t half = dh / 2;
  if (half == 0) return {};
  const auto f32 = positions.options().dtype(torch::kFloat);
  torch::Tensor inv_freq =
      torch::pow(10000.0, -torch::arange(0, half, f32) * 2.0 / static_cast<double>(2 * half));
  torch::Tensor angle = positions.to(torch::kFloat).unsqueeze(2).unsqueeze(3) * inv_freq;
  return {angle.cos(), angle.sin()};
}
// x: [R, L, h, dh].
torch::Tensor Rope(const torch::Tensor& x, const RopeAngles& angles) {
  const int64_t dh = x.size(3), half = dh / 2;
  if (half == 0) return x;
  torch::Tensor cos = angles.cos.to(x.scalar_type()), sin = angles.sin.to(x.scalar_type());
  torch::Tensor x1 = x.narrow(3, 0, half), x2 = x.narrow(3, half, half);
  std::vector<torch::Tensor> parts = {x1 * cos - x2 * sin, x1 * sin + x2 * cos};
  if (dh > 2 * half) parts.push_back(x.narrow(3, 2 * half, dh - 2 * half));
  return torch::cat(parts, 3);
}

// [R, L, d] -> [R*h, L, dh] and back.
torch::Tensor SplitHeads(const torch::Tensor& t, int64_t heads) {
  const int64_t r = t.size(0), l = t.size(1), dh = t.size(2) / heads;
  if (heads == 1) return t;
  return t.reshape({r, l, heads, dh}).transpose(1, 2).reshape({r * heads, l, dh});
}
torch::Tensor MergeHeads(const torch::Tensor& t, int64_t heads) {
  if (heads == 1) return t;
  const int64_t rh = t.size(0), l = t.size(1), dh = t.size(2), r = rh / heads;
  return t.reshape({r, heads, l, dh}).transpose(1, 2).reshape({r, l, heads * dh});
}

// The Performance Law code's backbone (a LLaMA decoder): pre-norm RMSNorm blocks, rotary positions
// on q/k, SwiGLU feed-forward, no biases, item embeddings tied with the output scoring; weights
// N(0, 0.02) with the residual output projections scaled by 1/sqrt(2 * layers).
class Llama : public SequenceModel {
 public:
  Llama(const ModelConfig& c, uint32_t num_items)
      : d_(c.d_model), heads_(c.heads), dropout_(c.dropout) {
    const int64_t hidden = std::lround(c.ffn_multiplier * c.d_model);
    const double std = 0.02, residual_std = 0.02 / std::sqrt(2.0 * c.layers);
    item_emb_ = RegisterItemEmbeddings(*this, num_items, d_);
    NormalInit(item_emb_, std);
    ZeroPaddingRow(item_emb_);
    embedding_params = {item_emb_};
    auto linear = [&](const std::string& name, int64_t in, int64_t out, double init_std) {
      auto l =
          register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
      NormalInit(l->weight, init_std);
      decay_params.push_back(l->weight);
      return l;
    };
    for (uint32_t i = 0; i < c.layers; ++i) {
      const std::string n = std::to_string(i);
      Block b;
      b.norm1 = register_module("norm1_" + n, std::make_shared<RmsNorm>(d_));
      b.norm2 = register_module("norm2_" + n, std::make_shared<RmsNorm>(d_));
      b.qkv = linear("qkv" + n, d_, 3 * d_, std);
      b.out = linear("out" + n, d_, d_, residual_std);
      b.gate = linear("gate" + n, d_, hidden, std);
      b.up = linear("up" + n, d_, hidden, std);
      b.down = linear("down" + n, hidden, d_, residual_std);
      no_decay_params.insert(no_decay_params.end(), {b.norm1->weight, b.norm2->weight});
      blocks_.push_back(b);
    }
    final_norm_ = register_module("final_norm", std::make_shared<RmsNorm>(d_));
    no_decay_params.push_back(final_norm_->weight);
  }

  torch::Tensor Encode(const ModelInput& in) override {
    torch::Tensor x = Dropout(ItemVectors(item_emb_, in), dropout_);
    const torch::Tensor allowed = AllowedMask(in.segments);
    const torch::Tensor math_mask = MathMask(allowed, heads_);
    const RopeAngles rope = MakeRopeAngles(in.positions, d_ / heads_);
    for (Block& b : blocks_) {
      x = x + Dropout(Attention(b, b.norm1->forward(x), rope, allowed, math_mask), dropout_);
      torch::Tensor h = b.norm2->forward(x);
      x = x +
          Dropout(b.down->forward(torch::silu(b.gate->forward(h)) * b.up->forward(h)), dropout_);
    }
    return final_norm_->forward(x);
  }

  torch::Tensor ItemTable() override { return item_emb_; }

 private:
  struct Block {
    std::shared_ptr<RmsNorm> norm1, norm2;
    torch::nn::Linear qkv{nullptr}, out{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
  };
  torch::Tensor Attention(Block& b, const torch::Tensor& x, const RopeAngles& rope,
                          const torch::Tensor& allowed, const torch::Tensor& math_mask) {
    const std::vector<torch::Tensor> qkv = QkvParts(b.qkv->forward(x), heads_);
    return b.out->forward(SoftmaxAttention(Rope(qkv[0], rope), Rope(qkv[1], rope), qkv[2], allowed,
                                           math_mask, dropout_));
  }

  int64_t d_, heads_;
  double dropout_;
  torch::Tensor item_emb_;
  std::vector<Block> blocks_;
  std::shared_ptr<RmsNorm> final_norm_;
};

// HSTU (Zhai et al. 2024): per layer U, V, Q, K = split(SiLU(f1(LN(x)))); attention weights
// SiLU(q.k + rab(j - i)) / L (pointwise, no softmax; L = max_seq_len, as in the reference code's
// normalisation by the padded length), masked to earlier tokens of the same sequence; the output
// f2(dropout(LN(A V) * U)) is added to x. Relative position bias rab: one learned scalar per
// distance, shared by the heads. No feed-forward network. Input: item embeddings scaled by sqrt(d)
// plus learned positions (as sasrec); output: a final LayerNorm, scored against the item table.
class Hstu : public PositionalModel {
 public:
  Hstu(const ModelConfig& c, uint32_t num_items, uint32_t max_len)
      : PositionalModel(c, num_items, max_len), max_len_(max_len) {
    for (uint32_t i = 0; i < c.layers; ++i) {
      const std::string n = std::to_string(i);
      Layer layer;
      layer.norm_in =
          register_module("norm_in" + n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_})));
      layer.norm_attn =
          register_module("norm_attn" + n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_})));
      layer.f1 = register_module("f1_" + n, torch::nn::Linear(d_, 4 * d_));
      layer.f2 = register_module("f2_" + n, torch::nn::Linear(d_, d_));
      layer.rab = register_parameter("rab" + n, torch::zeros({2 * int64_t{max_len} - 1}));
      XavierNormal(layer.f1->weight);
      XavierNormal(layer.f2->weight);
      decay_params.insert(decay_params.end(), {layer.f1->weight, layer.f2->weight});
      no_decay_params.insert(
          no_decay_params.end(),
          {layer.f1->bias, layer.f2->bias, layer.norm_in->weight, layer.norm_in->bias,
           layer.norm_attn->weight, layer.norm_attn->bias, layer.rab});
      layers_.push_back(layer);
    }
    final_norm_ =
        register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_})));
    no_decay_params.insert(no_decay_params.end(), {final_norm_->weight, final_norm_->bias});
  }

  torch::Tensor Encode(const ModelInput& in) override {
    torch::Tensor x = EmbedInput(in);
    const int64_t r = in.items.size(0), l = in.items.size(1);
    // 0/1 mask (no softmax to absorb -inf) and relative distances j - i, shifted to index rab.
    torch::Tensor allowed = AllowedMask(in.segments).to(x.scalar_type());  // [R, L, L]
    torch::Tensor rel = in.positions.unsqueeze(1) - in.positions.unsqueeze(2) +
                        (int64_t{max_len_} - 1);  // [R, L, L]
    rel = rel.clamp(0, 2 * int64_t{max_len_} - 2);
    if (heads_ > 1) {
      allowed = allowed.unsqueeze(1).expand({r, heads_, l, l}).reshape({r * heads_, l, l});
      rel = rel.unsqueeze(1).expand({r, heads_, l, l}).reshape({r * heads_, l, l});
    }
    for (Layer& layer : layers_) {
      torch::Tensor uvqk = torch::silu(layer.f1->forward(layer.norm_in->forward(x)));
      torch::Tensor u = uvqk.narrow(2, 0, d_), v = SplitHeads(uvqk.narrow(2, d_, d_), heads_),
                    q = SplitHeads(uvqk.narrow(2, 2 * d_, d_), heads_),
                    k = SplitHeads(uvqk.narrow(2, 3 * d_, d_), heads_);
      torch::Tensor scores = torch::bmm(q, k.transpose(1, 2)) +
                             layer.rab.index_select(0, rel.reshape({-1})).view(rel.sizes());
      torch::Tensor attn = torch::silu(scores) * allowed / static_cast<double>(max_len_);
      torch::Tensor av = MergeHeads(torch::bmm(Dropout(attn, dropout_), v), heads_);
      // LayerNorm in x's dtype (fp32): CPU autocast leaves layer_norm's bf16 input to it.
      av = layer.norm_attn->forward(av.to(x.scalar_type()));
      x = x + layer.f2->forward(Dropout(av * u, dropout_));
    }
    return final_norm_->forward(x);
  }

 private:
  struct Layer {
    torch::nn::LayerNorm norm_in{nullptr}, norm_attn{nullptr};
    torch::nn::Linear f1{nullptr}, f2{nullptr};
    torch::Tensor rab;
  };
  uint32_t max_len_;
  std::vector<Layer> layers_;
  torch::nn::LayerNorm final_norm_{nullptr};
};

}  // namespace

torch::Tensor GatherRows(const torch::Tensor& table, const torch::Tensor& ids, bool padding_row0) {
  return GatherRowsFunction::apply(table, ids, padding_row0);
}

torch::Tensor MaskDropout::Apply(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, true);
  // fp32 whatever x's dtype (1/keep is not exact in bf16); a bf16 x comes out fp32.
  torch::Tensor mask =
      torch::empty(x.sizes(), x.options().dtype(torch::kFloat).requires_grad(false));
  FillDropoutMask(rng_, p, mask);
  return x * mask;
}

const char* AttentionKernelName(AttentionKernel kernel) {
  return kernel == AttentionKernel::kFused ? "sdpa" : "math";
}

AttentionKernel DefaultAttentionKernel() {
  return torch_compat::kHasFusedAttention ? AttentionKernel::kFused : AttentionKernel::kMath;
}

torch::Tensor SequenceModel::Hidden(const ModelInput& input) {
  torch::Tensor h;
  {
    torch_compat::AutocastBf16 autocast(input.items.device(), bf16_);
    h = Encode(input);
  }
  return h.to(torch::kFloat);
}

void SequenceModel::ReseedDropout(uint64_t seed) {
  dropout_.Reseed(seed);
  torch::manual_seed(seed);  // CPU and every CUDA device's default generator
}

torch::Tensor SequenceModel::AllowedMask(const torch::Tensor& segments) {
  const int64_t l = segments.size(1);
  torch::Tensor same = segments.unsqueeze(2) == segments.unsqueeze(1);  // [R, L, L]
  torch::Tensor causal = torch::ones({l, l}, segments.options().dtype(torch::kBool)).tril();
  return same.logical_and(causal);
}

torch::Tensor SequenceModel::MathMask(const torch::Tensor& allowed, int64_t heads) const {
  if (attention_ != AttentionKernel::kMath) return torch::Tensor();
  torch::Tensor mask = torch::zeros(allowed.sizes(), allowed.options().dtype(torch::kFloat));
  mask.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  if (heads == 1) return mask;
  const int64_t r = mask.size(0), l = mask.size(1);
  return mask.unsqueeze(1).expand({r, heads, l, l}).reshape({r * heads, l, l});
}

torch::Tensor SequenceModel::SoftmaxAttention(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& allowed,
                                              const torch::Tensor& math_mask, double p) {
  const int64_t r = q.size(0), l = q.size(1), heads = q.size(2), dh = q.size(3);
  if (attention_ == AttentionKernel::kFused) {
    // [R, h, L, dh] views: the fused kernels take strided heads, no copies.
    torch::Tensor out = torch_compat::ScaledDotProductAttention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), allowed.unsqueeze(1),
        is_training() ? p : 0.0);
    return out.transpose(1, 2).reshape({r, l, heads * dh});
  }
  auto split = [&](const torch::Tensor& t) {  // [R*h, L, dh], heads-major within a row
    return t.transpose(1, 2).reshape({r * heads, l, dh});
  };
  torch::Tensor scores = torch::baddbmm(math_mask, split(q), split(k).transpose(1, 2), 1.0,
                                        1.0 / std::sqrt(static_cast<double>(dh)));
  torch::Tensor out = torch::bmm(Dropout(torch::softmax(scores, -1), p), split(v));
  return out.reshape({r, heads, l, dh}).transpose(1, 2).reshape({r, l, heads * dh});
}

ParamCounts SequenceModel::CountParams() const {
  ParamCounts c;
  for (const auto& p : embedding_params) c.embedding += p.numel();
  for (const auto& p : decay_params) c.non_embedding += p.numel();
  for (const auto& p : no_decay_params) c.non_embedding += p.numel();
  return c;
}

std::shared_ptr<SequenceModel> MakeModel(const ModelConfig& config, uint32_t num_items,
                                         uint32_t max_len, uint64_t seed) {
  std::string why;
  if (!config.IsValid(&why)) throw std::invalid_argument(why);
  torch::manual_seed(seed);
  switch (config.type) {
    case ModelType::kSasrec:
      return std::make_shared<Sasrec>(config, num_items, max_len);
    case ModelType::kLlama:
      return std::make_shared<Llama>(config, num_items);
    case ModelType::kHstu:
      return std::make_shared<Hstu>(config, num_items, max_len);
  }
  throw std::invalid_argument(std::string("model.type ") + ModelTypeName(config.type) +
                              " is not implemented");
}

}  // namespace perflaw::worker
