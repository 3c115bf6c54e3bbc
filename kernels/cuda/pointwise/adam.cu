// CUDA kernel of adam_step: one pass updating param, exp_avg, exp_avg_sq (and max_exp_avg_sq
// with amsgrad) with the per-element math of cpu/optimizer_math.h, the reference kernel's. step
// and lr live in device memory (0-d float64 tensors) and are read by each thread, which derives
// the call's coefficients from them before its grid-stride loop.
#include "cpu/optimizer_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <typename T>
__global__ void adam_kernel(AdamArgs a, int64_t n) {
  using C = device_compute_t<T>;
  const adam_math::Coefficients<C> k = adam_math::coefficients<C>(a.beta1, a.beta2, a.eps, a.weight_decay, *a.step,
                                                                  *a.lr, a.decoupled, a.amsgrad, a.maximize);
  const T* p_in = static_cast<const T*>(a.param);
  const T* g_in = static_cast<const T*>(a.grad);
  const T* m_in = static_cast<const T*>(a.exp_avg);
  const T* v_in = static_cast<const T*>(a.exp_avg_sq);
  const T* vmax_in = static_cast<const T*>(a.max_exp_avg_sq);
  T* p_out = static_cast<T*>(a.param_out);
  T* m_out = static_cast<T*>(a.exp_avg_out);
  T* v_out = static_cast<T*>(a.exp_avg_sq_out);
  T* vmax_out = static_cast<T*>(a.max_exp_avg_sq_out);
  for (int64_t i = pw::thread_index(); i < n; i += pw::thread_count()) {
    C p = convert<C>(p_in[i]), m = convert<C>(m_in[i]), v = convert<C>(v_in[i]);
    C vmax = a.amsgrad ? convert<C>(vmax_in[i]) : C(0);
    adam_math::update(k, p, convert<C>(g_in[i]), m, v, vmax);
    p_out[i] = convert<T>(p);
    m_out[i] = convert<T>(m);
    v_out[i] = convert<T>(v);
    if (a.amsgrad) vmax_out[i] = convert<T>(vmax);
  }
}

}  // namespace

void launch_adam_step(DType dtype, const AdamArgs& args, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  pw::for_floating(dtype, "adam_step", [&]<typename T>() {
    const Launch l = launch_for(n);
    adam_kernel<T><<<l.blocks, l.threads, 0, s>>>(args, n);
    DOPPEL_CUDA_CHECK_LAUNCH("adam_kernel");
  });
}

}  // namespace doppel::cuda
