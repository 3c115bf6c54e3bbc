// CUDA softmax, log_softmax and their backward ops: one block per row along the dim. The forward
// makes one pass for the running (max, Σ exp) of the row (reduce_ops.cuh's MaxSum) and one to
// write; statistics in float (16-bit, float32) or double (float64). Rows holding a NaN or an
// infinity come out all NaN, as in the reference kernel (kernels/cpu/reference/reduction.cpp).
#include "cuda/common/block_reduce.cuh"
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/reduce_kernels.cuh"

namespace doppel::cuda {
namespace {

using reduce::offset_at;

template <typename T, bool kLog>
__global__ void softmax_kernel(const T* __restrict__ in, T* __restrict__ out, ReduceGeometry in_g,
                               ReduceGeometry out_g) {
  using C = reduce::float_acc_t<T>;
  using Acc = reduce::MaxSum<C>;
  const int64_t n = in_g.reduced;
  const auto combine = [](Acc a, Acc b) { return reduce::max_sum_combine(a, b); };
  for (int64_t row = blockIdx.x; row < in_g.outputs; row += gridDim.x) {  // uniform over the block
    const T* x = in + offset_at(in_g.kept, row);
    T* y = out + offset_at(out_g.kept, row);
    Acc acc = reduce::max_sum_identity<C>();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      acc = combine(acc, reduce::max_sum_load(convert<C>(x[offset_at(in_g.red, i)])));
    acc = block_reduce(acc, combine, reduce::max_sum_identity<C>());
    const bool finite = !reduce::is_nan(acc.m) && acc.m != reduce::infinity<C>() && acc.m != -reduce::infinity<C>();
    const C log_s = reduce::dlog(acc.s), inv_s = C(1) / acc.s;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C z = convert<C>(x[offset_at(in_g.red, i)]) - acc.m;
      const C v = !finite ? reduce::quiet_nan<C>() : (kLog ? z - log_s : reduce::dexp(z) * inv_s);
      y[offset_at(out_g.red, i)] = convert<T>(v);
    }
  }
}

template <typename T, bool kLog>
__global__ void softmax_backward_kernel(const T* __restrict__ grad, const T* __restrict__ y, T* __restrict__ out,
                                        ReduceGeometry grad_g, ReduceGeometry y_g, ReduceGeometry out_g) {
  using C = reduce::float_acc_t<T>;
  const int64_t n = y_g.reduced;
  const auto add = [](C a, C b) { return a + b; };
  for (int64_t row = blockIdx.x; row < y_g.outputs; row += gridDim.x) {
    const T* g = grad + offset_at(grad_g.kept, row);
    const T* p = y + offset_at(y_g.kept, row);
    T* dx = out + offset_at(out_g.kept, row);
    C s = 0;  // Σ g (log_softmax) or Σ g·y (softmax)
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C gv = convert<C>(g[offset_at(grad_g.red, i)]);
      s += kLog ? gv : gv * convert<C>(p[offset_at(y_g.red, i)]);
    }
    s = block_reduce(s, add, C(0));
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const C gv = convert<C>(g[offset_at(grad_g.red, i)]), yv = convert<C>(p[offset_at(y_g.red, i)]);
      dx[offset_at(out_g.red, i)] = convert<T>(kLog ? gv - reduce::dexp(yv) * s : yv * (gv - s));
    }
  }
}

unsigned row_blocks(int64_t rows) { return unsigned(rows < reduce::kMaxRowBlocks ? rows : reduce::kMaxRowBlocks); }

}  // namespace

bool launch_softmax(bool log, DType dtype, const void* in, void* out, const ReduceGeometry& in_g,
                    const ReduceGeometry& out_g, unsigned threads, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (in_g.outputs == 0 || in_g.reduced == 0) return;
    const auto* x = static_cast<const T*>(in);
    auto* y = static_cast<T*>(out);
    if (log) {
      softmax_kernel<T, true><<<row_blocks(in_g.outputs), threads, 0, stream>>>(x, y, in_g, out_g);
      DOPPEL_CUDA_CHECK_LAUNCH("softmax_kernel (log_softmax)");
    } else {
      softmax_kernel<T, false><<<row_blocks(in_g.outputs), threads, 0, stream>>>(x, y, in_g, out_g);
      DOPPEL_CUDA_CHECK_LAUNCH("softmax_kernel");
    }
  });
}

bool launch_softmax_backward(bool log, DType dtype, const void* grad, const void* y, void* out,
                             const ReduceGeometry& grad_g, const ReduceGeometry& y_g, const ReduceGeometry& out_g,
                             unsigned threads, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (y_g.outputs == 0 || y_g.reduced == 0) return;
    const auto* g = static_cast<const T*>(grad);
    const auto* p = static_cast<const T*>(y);
    auto* dx = static_cast<T*>(out);
    if (log) {
      softmax_backward_kernel<T, true><<<row_blocks(y_g.outputs), threads, 0, stream>>>(g, p, dx, grad_g, y_g, out_g);
      DOPPEL_CUDA_CHECK_LAUNCH("softmax_backward_kernel (log_softmax_backward)");
    } else {
      softmax_backward_kernel<T, false><<<row_blocks(y_g.outputs), threads, 0, stream>>>(g, p, dx, grad_g, y_g, out_g);
      DOPPEL_CUDA_CHECK_LAUNCH("softmax_backward_kernel");
    }
  });
}

}  // namespace doppel::cuda
