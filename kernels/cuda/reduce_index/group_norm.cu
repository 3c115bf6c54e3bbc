// CUDA group_norm and group_norm_backward (semantics of kernels/cpu/reference/nn.cpp and
// nn_backward.cpp): one block per group for the statistics and grad_input (Welford and block
// reductions), one block per channel for grad_weight / grad_bias. Accumulation in float (16-bit,
// float32) or double (float64).
#include "cuda/common/block_reduce.cuh"
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/group_norm_launch.h"
#include "cuda/reduce_index/reduce_kernels.cuh"

namespace doppel::cuda {
namespace {

using reduce::offset_at;

// Element i of a small floating tensor as C (`fill` when absent); the dtype switch is uniform.
template <typename C>
__device__ inline C load_param(const ParamRef& p, int64_t i, C fill) {
  if (p.data == nullptr) return fill;
  const int64_t off = offset_at(p.ix, i);
  switch (p.dtype) {
    case DType::Float64:
      return C(static_cast<const double*>(p.data)[off]);
    case DType::BFloat16:
      return C(convert<float>(static_cast<const __nv_bfloat16*>(p.data)[off]));
    case DType::Float16:
      return C(convert<float>(static_cast<const __half*>(p.data)[off]));
    default:
      return C(static_cast<const float*>(p.data)[off]);
  }
}

// out[i] = v in a contiguous floating tensor of dtype t.
template <typename C>
__device__ inline void store_param(void* out, DType t, int64_t i, C v) {
  switch (t) {
    case DType::Float64:
      static_cast<double*>(out)[i] = double(v);
      break;
    case DType::BFloat16:
      static_cast<__nv_bfloat16*>(out)[i] = convert<__nv_bfloat16>(float(v));
      break;
    case DType::Float16:
      static_cast<__half*>(out)[i] = convert<__half>(float(v));
      break;
    default:
      static_cast<float*>(out)[i] = float(v);
      break;
  }
}

template <typename C>
struct Pair {
  C a, b;
};
template <typename C>
__device__ inline Pair<C> add_pairs(Pair<C> x, Pair<C> y) {
  return {x.a + y.a, x.b + y.b};
}

template <typename T>
__global__ void group_norm_kernel(const T* __restrict__ x, StridedIndexer x_ix, ParamRef weight, ParamRef bias,
                                  T* __restrict__ y, void* mean, void* rstd, DType stats_dtype, GroupNormShape s,
                                  double eps) {
  using C = reduce::float_acc_t<T>;
  const reduce::VarOp<T> welford{0, false};
  using Acc = typename reduce::VarOp<T>::Acc;
  const int64_t Cg = s.C / s.G, len = Cg * s.S;
  const auto combine = [&welford](Acc a, Acc b) { return welford.combine(a, b); };
  for (int64_t ng = blockIdx.x; ng < s.N * s.G; ng += gridDim.x) {  // uniform over the block
    const int64_t base = ng * len;
    Acc acc = welford.identity();
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x)
      acc = combine(acc, welford.load(x[offset_at(x_ix, base + k)], 0));
    acc = block_reduce(acc, combine, welford.identity());
    const C mu = acc.n ? acc.mean : reduce::quiet_nan<C>();
    const C var = acc.n ? acc.m2 / C(acc.n) : reduce::quiet_nan<C>();
    const C rs = C(1) / reduce::dsqrt(var + C(eps));
    if (threadIdx.x == 0) {
      store_param(mean, stats_dtype, ng, mu);
      store_param(rstd, stats_dtype, ng, rs);
    }
    const int64_t g = ng % s.G;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const int64_t ch = g * Cg + k / s.S;
      const C scale = rs * load_param(weight, ch, C(1)), shift = load_param(bias, ch, C(0)) - mu * scale;
      y[base + k] = convert<T>(convert<C>(x[offset_at(x_ix, base + k)]) * scale + shift);
    }
  }
}

// grad_input = rstd · (dxhat - mean(dxhat) - xhat · mean(dxhat · xhat)) per group,
// dxhat = grad · weight, xhat = (x - mean) · rstd.
template <typename T>
__global__ void group_norm_backward_input_kernel(const T* __restrict__ grad, StridedIndexer grad_ix,
                                                 const T* __restrict__ x, StridedIndexer x_ix, ParamRef mean,
                                                 ParamRef rstd, ParamRef weight, T* __restrict__ dx, GroupNormShape s) {
  using C = reduce::float_acc_t<T>;
  const int64_t Cg = s.C / s.G, len = Cg * s.S;
  for (int64_t ng = blockIdx.x; ng < s.N * s.G; ng += gridDim.x) {
    const int64_t base = ng * len, g = ng % s.G;
    const C mu = load_param(mean, ng, C(0)), rs = load_param(rstd, ng, C(0));
    Pair<C> sums{C(0), C(0)};  // Σ dxhat, Σ dxhat · xhat
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const C dxh = convert<C>(grad[offset_at(grad_ix, base + k)]) * load_param(weight, g * Cg + k / s.S, C(1));
      const C xh = (convert<C>(x[offset_at(x_ix, base + k)]) - mu) * rs;
      sums = add_pairs(sums, Pair<C>{dxh, dxh * xh});
    }
    sums = block_reduce(
        sums, [](Pair<C> a, Pair<C> b) { return add_pairs(a, b); }, Pair<C>{C(0), C(0)});
    const C m1 = len ? sums.a / C(len) : C(0), m2 = len ? sums.b / C(len) : C(0);
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) {
      const C dxh = convert<C>(grad[offset_at(grad_ix, base + k)]) * load_param(weight, g * Cg + k / s.S, C(1));
      const C xh = (convert<C>(x[offset_at(x_ix, base + k)]) - mu) * rs;
      dx[base + k] = convert<T>(rs * (dxh - m1 - xh * m2));
    }
  }
}

// grad_weight[c] = Σ grad · xhat and grad_bias[c] = Σ grad over the N·S values of channel c.
template <typename T>
__global__ void group_norm_backward_params_kernel(const T* __restrict__ grad, StridedIndexer grad_ix,
                                                  const T* __restrict__ x, StridedIndexer x_ix, ParamRef mean,
                                                  ParamRef rstd, void* dw, void* db, DType param_dtype,
                                                  GroupNormShape s) {
  using C = reduce::float_acc_t<T>;
  const int64_t Cg = s.C / s.G, count = s.N * s.S;
  for (int64_t ch = blockIdx.x; ch < s.C; ch += gridDim.x) {
    Pair<C> sums{C(0), C(0)};  // Σ grad · xhat, Σ grad
    for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
      const int64_t n = j / s.S, k = (n * s.C + ch) * s.S + j % s.S, grp = n * s.G + ch / Cg;
      const C gv = convert<C>(grad[offset_at(grad_ix, k)]);
      const C xh = (convert<C>(x[offset_at(x_ix, k)]) - load_param(mean, grp, C(0))) * load_param(rstd, grp, C(0));
      sums = add_pairs(sums, Pair<C>{gv * xh, gv});
    }
    sums = block_reduce(
        sums, [](Pair<C> a, Pair<C> b) { return add_pairs(a, b); }, Pair<C>{C(0), C(0)});
    if (threadIdx.x == 0) {
      if (dw) store_param(dw, param_dtype, ch, sums.a);
      if (db) store_param(db, param_dtype, ch, sums.b);
    }
  }
}

unsigned blocks_for(int64_t n) { return unsigned(n < reduce::kMaxRowBlocks ? n : reduce::kMaxRowBlocks); }

}  // namespace

bool launch_group_norm(DType dtype, const void* x, const StridedIndexer& x_ix, const ParamRef& weight,
                       const ParamRef& bias, void* y, void* mean, void* rstd, DType stats_dtype,
                       const GroupNormShape& s, double eps, unsigned threads, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.N * s.G == 0) return;
    group_norm_kernel<T><<<blocks_for(s.N * s.G), threads, 0, stream>>>(
        static_cast<const T*>(x), x_ix, weight, bias, static_cast<T*>(y), mean, rstd, stats_dtype, s, eps);
    DOPPEL_CUDA_CHECK_LAUNCH("group_norm_kernel");
  });
}

bool launch_group_norm_backward(DType dtype, const void* grad, const StridedIndexer& grad_ix, const void* x,
                                const StridedIndexer& x_ix, const ParamRef& mean, const ParamRef& rstd,
                                const ParamRef& weight, void* dx, void* dw, void* db, DType param_dtype,
                                const GroupNormShape& s, unsigned threads, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto* g = static_cast<const T*>(grad);
    const auto* px = static_cast<const T*>(x);
    if (dx && s.N * s.G > 0) {
      group_norm_backward_input_kernel<T><<<blocks_for(s.N * s.G), threads, 0, stream>>>(
          g, grad_ix, px, x_ix, mean, rstd, weight, static_cast<T*>(dx), s);
      DOPPEL_CUDA_CHECK_LAUNCH("group_norm_backward_input_kernel");
    }
    if ((dw || db) && s.C > 0) {
      group_norm_backward_params_kernel<T>
          <<<blocks_for(s.C), threads, 0, stream>>>(g, grad_ix, px, x_ix, mean, rstd, dw, db, param_dtype, s);
      DOPPEL_CUDA_CHECK_LAUNCH("group_norm_backward_params_kernel");
    }
  });
}

}  // namespace doppel::cuda
