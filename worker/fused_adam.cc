#include "worker/fused_adam.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "worker/torch_compat.h"

namespace perflaw::worker {
namespace {

// Elements per task when the point has several threads: big enough that a task outweighs its
// scheduling, small enough to split the item table.
constexpr int64_t kGrain = 32768;

// One parameter's update, in floats as LibTorch's kernels compute it.
struct Update {
  float beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0;
  float l2 = 0;            // Adam: grad += l2 * p (0: none)
  float decay_factor = 1;  // AdamW: p *= decay_factor first (1: none)
  float sqrt_bias_correction2 = 1, eps = 0;
  float neg_step_size = 0;  // -lr / bias_correction1
};

void ApplyUpdate(const Update& u, float* p, const float* grad, float* m, float* v, int64_t n) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float pi = p[i] * u.decay_factor;
      const float g = grad[i] + u.l2 * pi;
      const float mi = m[i] * u.beta1 + u.one_minus_beta1 * g;
      const float vi = v[i] * u.beta2 + u.one_minus_beta2 * g * g;
      const float denom = std::sqrt(vi) / u.sqrt_bias_correction2 + u.eps;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi + u.neg_step_size * mi / denom;
    }
  });
}

bool IsDenseCpuFloat(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
         t.layout() == torch::kStrided && t.is_contiguous();
}

using torch_compat::OptimizerStateKey;

// Optimizer::state_'s type (its key differs between LibTorch versions).
using StateMap =
    std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

// Whether every parameter with a gradient can take the fused loop (and no group asks for amsgrad).
template <typename State, typename Options>
bool AllFusable(const std::vector<torch::optim::OptimizerParamGroup>& groups,
                const StateMap& state) {
  for (const auto& group : groups) {
    if (static_cast<const Options&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!IsDenseCpuFloat(p) || !IsDenseCpuFloat(p.grad())) return false;
      auto it = state.find(OptimizerStateKey(p));
      if (it == state.end()) continue;
      const auto& s = static_cast<const State&>(*it->second);
      if (!IsDenseCpuFloat(s.exp_avg()) || !IsDenseCpuFloat(s.exp_avg_sq())) return false;
    }
  }
  return true;
}

// p's state, created (LibTorch's way: step 0, zero moments) on first use.
template <typename State>
State& StateOf(StateMap& state, const torch::Tensor& p) {
  auto& slot = state[OptimizerStateKey(p)];
  if (!slot) {
    auto fresh = std::make_unique<State>();
    fresh->step(0);
    fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    slot = std::move(fresh);
  }
  return static_cast<State&>(*slot);
}

// The coefficients of step number `step` (1-based) that Adam and AdamW share.
template <typename Options>
Update AdamCoefficients(const Options& options, int64_t step) {
  const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
  const double t = static_cast<double>(step);
  Update u;
  u.beta1 = static_cast<float>(beta1);
  u.one_minus_beta1 = static_cast<float>(1 - beta1);
  u.beta2 = static_cast<float>(beta2);
  u.one_minus_beta2 = static_cast<float>(1 - beta2);
  u.sqrt_bias_correction2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
  u.eps = static_cast<float>(options.eps());
  u.neg_step_size = static_cast<float>(-options.lr() / (1 - std::pow(beta1, t)));
  return u;
}

// LibTorch's step for each parameter with a gradient: counts the step and applies the shared
// coefficients plus `fill`'s (weight decay) in one pass. `fallback` (LibTorch's own step) runs
// instead when a closure is given or a parameter cannot take the fused loop.
template <typename State, typename Options, typename FallbackFn, typename FillFn>
torch::Tensor FusedStep(std::vector<torch::optim::OptimizerParamGroup>& groups, StateMap& state,
                        bool has_closure, FallbackFn&& fallback, FillFn&& fill) {
  if (has_closure || !AllFusable<State, Options>(groups, state)) return fallback();
  torch::NoGradGuard no_grad;
  for (auto& group : groups) {
    const auto& options = static_cast<const Options&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      State& s = StateOf<State>(state, p);
      s.step(s.step() + 1);
      Update u = AdamCoefficients(options, s.step());
      fill(options, &u);
      ApplyUpdate(u, p.data_ptr<float>(), p.grad().data_ptr<float>(),
                  s.exp_avg().template data_ptr<float>(), s.exp_avg_sq().template data_ptr<float>(),
                  p.numel());
      p.unsafeGetTensorImpl()->bump_version();  // as an in-place op would: autograd sees the change
    }
  }
  return {};
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  const bool has_closure = closure != nullptr;
  return FusedStep<torch::optim::AdamParamState, torch::optim::AdamOptions>(
      param_groups_, state_, has_closure, [&] { return Adam::step(std::move(closure)); },
      [](const torch::optim::AdamOptions& o, Update* u) {
        u->l2 = static_cast<float>(o.weight_decay());  // L2: the gradient gets wd * p
      });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  const bool has_closure = closure != nullptr;
  return FusedStep<torch::optim::AdamWParamState, torch::optim::AdamWOptions>(
      param_groups_, state_, has_closure, [&] { return AdamW::step(std::move(closure)); },
      [](const torch::optim::AdamWOptions& o, Update* u) {
        // Decoupled: p *= 1 - lr * wd before the Adam update.
        u->decay_factor = static_cast<float>(1 - o.lr() * o.weight_decay());
      });
}

}  // namespace perflaw::worker
