// CUDA kernel of sgd_step: one pass updating param (and the momentum buffer) with the per-element
// math of cpu/optimizer_math.h, the reference kernel's. lr lives in device memory (a 0-d float64
// tensor) and is read by each thread before its grid-stride loop.
#include "cpu/optimizer_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <typename T, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
__global__ void sgd_kernel(SgdArgs a, int64_t n) {
  using C = device_compute_t<T>;
  const auto k = sgd_math::coefficients<C>(a.momentum, a.dampening, a.weight_decay, *a.lr);
  const T* p_in = static_cast<const T*>(a.param);
  const T* g_in = static_cast<const T*>(a.grad);
  const T* buf_in = static_cast<const T*>(a.momentum_buffer);
  T* p_out = static_cast<T*>(a.param_out);
  T* buf_out = static_cast<T*>(a.momentum_buffer_out);
  for (int64_t i = pw::thread_index(); i < n; i += pw::thread_count()) {
    C p = convert<C>(p_in[i]);
    C buf = kMomentum && !kFirst ? convert<C>(buf_in[i]) : C(0);
    sgd_math::update<kDecay, kMomentum, kFirst, kNesterov>(k, a.maximize, p, convert<C>(g_in[i]), buf);
    p_out[i] = convert<T>(p);
    if constexpr (kMomentum) buf_out[i] = convert<T>(buf);
  }
}

}  // namespace

void launch_sgd_step(DType dtype, const SgdArgs& args, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  const bool momentum = args.momentum != 0;
  pw::for_floating(dtype, "sgd_step", [&]<typename T>() {
    sgd_math::with_flags(args.weight_decay != 0, momentum, momentum && args.momentum_buffer == nullptr, args.nesterov,
                         [&]<bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>() {
                           const Launch l = launch_for(n);
                           sgd_kernel<T, kDecay, kMomentum, kFirst, kNesterov><<<l.blocks, l.threads, 0, s>>>(args, n);
                           DOPPEL_CUDA_CHECK_LAUNCH("sgd_kernel");
                         });
  });
}

}  // namespace doppel::cuda
