// Everything that differs between the LibTorch versions perflaw-worker builds against:
// Debian's 1.13 (CPU, the CI build), PyTorch's 2.x (GPU machines), and the 2.6 headers every worker
// source is compiled against in CI (scripts/ci/libtorch2-check.sh). Version guards live here and
// nowhere else. Internal header: include only from .cc files.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#define PERFLAW_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||          \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace perflaw::worker::torch_compat {

// The key an optimizer files a parameter's state under: its TensorImpl's address, as text (as
// c10::guts::to_string writes a pointer) in LibTorch up to 2.1, as the pointer itself later; picked
// by the state map's own key type rather than by version.
template <typename Key>
Key OptimizerStateKeyAs(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << static_cast<const void*>(p.unsafeGetTensorImpl());
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}
inline auto OptimizerStateKey(const torch::Tensor& p) {
  using Map = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
  return OptimizerStateKeyAs<typename Map::key_type>(p);
}

// Whether LibTorch has the public, dispatching scaled_dot_product_attention (2.0+): flash /
// memory-efficient / cuDNN kernels on CUDA, fused kernels on CPU. 1.13 has only a private
// composite version (math), used by tests to compare the two attention paths.
inline constexpr bool kHasFusedAttention = PERFLAW_TORCH_AT_LEAST(2, 0);

// softmax(q k^T / sqrt(dh) + mask) v, with dropout p on the attention weights (torch's generator).
// q, k, v: [B, H, L, dh]; allowed: bool [B, 1, L, L], true where a query may attend to a key. Every
// query row must allow at least one key (the models' masks always allow the token itself).
inline torch::Tensor ScaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k,
                                               const torch::Tensor& v, const torch::Tensor& allowed,
                                               double dropout_p) {
#if PERFLAW_TORCH_AT_LEAST(2, 0)
  // A bool mask is turned into the query's dtype inside, so it also holds under bf16 autocast.
  return at::scaled_dot_product_attention(q, k, v, allowed, dropout_p, /*is_causal=*/false);
#else
  torch::Tensor additive =
      torch::zeros(allowed.sizes(), q.options())
          .masked_fill_(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, additive, dropout_p,
                                                       /*need_attn_weights=*/false,
                                                       /*is_causal=*/false));
#endif
}

// x * rsqrt(mean(x^2 over the last dim) + eps) * weight: LibTorch's own rms_norm from 2.4 (one
// fused kernel on CUDA in recent versions), written out before.
inline torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
#if PERFLAW_TORCH_AT_LEAST(2, 4)
  return at::rms_norm(x, {x.size(-1)}, weight, eps);
#else
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight;
#endif
}

// Autocast of `device`'s floating-point operations to bfloat16 while alive, nesting like Python's
// torch.autocast: the previous state comes back at the end, and the cache of weights cast to bf16
// is dropped when the outermost guard ends (weights change at every optimizer step). Autocast
// state is per thread. Disabled guards do nothing.
class AutocastBf16 {
 public:
  AutocastBf16(const torch::Device& device, bool enabled)
      : enabled_(enabled), type_(device.type()) {
    if (!enabled_) return;
    prev_enabled_ = IsEnabled(type_);
    prev_dtype_ = GetDtype(type_);
    Set(type_, true, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastBf16() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    Set(type_, prev_enabled_, prev_dtype_);
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
#if PERFLAW_TORCH_AT_LEAST(2, 4)
  // 2.4 made autocast per device type; the per-backend functions below are deprecated there.
  static bool IsEnabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
  static at::ScalarType GetDtype(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
  static void Set(c10::DeviceType t, bool on, at::ScalarType dtype) {
    at::autocast::set_autocast_dtype(t, dtype);
    at::autocast::set_autocast_enabled(t, on);
  }
#else
  static bool IsEnabled(c10::DeviceType t) {
    return t == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
  }
  static at::ScalarType GetDtype(c10::DeviceType t) {
    return t == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype()
                                     : at::autocast::get_autocast_gpu_dtype();
  }
  static void Set(c10::DeviceType t, bool on, at::ScalarType dtype) {
    if (t == c10::DeviceType::CPU) {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(on);
    } else {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(on);
    }
  }
#endif

  bool enabled_;
  c10::DeviceType type_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace perflaw::worker::torch_compat
