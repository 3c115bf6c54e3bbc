// The transformer kernels: rms_norm and its backward (one block per row), apply_rotary
// (elementwise), and scaled_dot_product_attention and its backward: one block per query row,
// whose scores live in a global scratch row (chunks of rows bound its size); the softmax and the
// dropout draw are the CPU kernels' (op_attrs/transformer.h, cpu/attention_math.h), accumulation
// in float (double for float64).
#include <cmath>

#include "cpu/attention_math.h"
#include "cuda/common/block_reduce.cuh"
#include "cuda/common/cuda_common.cuh"
#include "cuda/common/row_dispatch.cuh"
#include "cuda/transformer/transformer_kernels.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

constexpr unsigned kThreads = 256;

template <typename A>
__device__ A block_sum(A v) {
  return block_reduce(
      v, [](A a, A b) { return a + b; }, A(0));
}

template <typename T, typename A>
__global__ void rms_norm_kernel(const T* x, const A* w, T* y, A* rstd, int64_t rows, int64_t K, A eps) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * K;
    A q = A(0);
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const A v = convert<A>(xr[i]);
      q += v * v;
    }
    q = block_sum(q);
    const A rs = A(1) / sqrt(q / A(K) + eps);
    if (threadIdx.x == 0) rstd[r] = rs;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x)
      y[r * K + i] = convert<T>(convert<A>(xr[i]) * rs * (w ? w[i] : A(1)));
  }
}

template <typename T, typename A>
__global__ void rms_norm_grad_input_kernel(const T* g, const T* x, const A* rstd, const A* w, T* gi, int64_t rows,
                                           int64_t K) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *gr = g + r * K, *xr = x + r * K;
    const A rs = rstd[r];
    A s = A(0);
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x)
      s += convert<A>(gr[i]) * (w ? w[i] : A(1)) * convert<A>(xr[i]) * rs;
    const A m = block_sum(s) / A(K);
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x)
      gi[r * K + i] = convert<T>(rs * (convert<A>(gr[i]) * (w ? w[i] : A(1)) - convert<A>(xr[i]) * rs * m));
  }
}

template <typename T, typename A>
__global__ void rms_norm_grad_weight_kernel(const T* g, const T* x, const A* rstd, A* gw, int64_t rows, int64_t K) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < K; i += int64_t(blockDim.x) * gridDim.x) {
    A s = A(0);
    for (int64_t r = 0; r < rows; ++r) s += convert<A>(g[r * K + i]) * convert<A>(x[r * K + i]) * rstd[r];
    gw[i] = s;
  }
}

template <typename T, typename A>
__global__ void apply_rotary_kernel(const T* x, const T* c, const T* s, T* y, int64_t n, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += int64_t(blockDim.x) * gridDim.x) {
    const int64_t i = k % D;
    const A rot = i < half ? -convert<A>(x[k + half]) : convert<A>(x[k - half]);
    y[k] = convert<T>(convert<A>(x[k]) * convert<A>(c[k]) + rot * convert<A>(s[k]));
  }
}

// The key/value entry batch entry n reads.
__device__ inline int64_t kv_entry(const SdpaDims& d, int64_t n) {
  return (n / d.H) * (d.H / d.rep) + (n % d.H) / d.rep;
}

template <typename A>
struct RowStats {
  A max;
  int all_masked, has_nan;
};

// The softmax weights of query row `row` (times the dropout factors when `dropout`) into w[0, S),
// by the whole block; ends with a barrier.
template <typename T, typename A>
__device__ void row_weights(const T* q, const T* k, const void* mask, const SdpaDims& d, int64_t row, A* w,
                            bool dropout) {
  const A inf = A(INFINITY);
  const int64_t n = row / d.L, i = row % d.L;
  const T* qr = q + row * d.E;
  const T* kb = k + kv_entry(d, n) * d.S * d.E;
  RowStats<A> st{-inf, 1, 0};
  for (int64_t j = threadIdx.x; j < d.S; j += blockDim.x) {
    A s = A(0);
    for (int64_t e = 0; e < d.E; ++e) s += convert<A>(qr[e]) * convert<A>(kb[j * d.E + e]);
    s *= A(d.scale);
    if (d.causal && j > i) s = -inf;
    if (mask) {
      const int64_t mk = row * d.S + j;
      if (d.mask_bool)
        s = static_cast<const bool*>(mask)[mk] ? s : -inf;
      else
        s += convert<A>(static_cast<const T*>(mask)[mk]);
    }
    w[j] = s;
    st.all_masked &= int(s == -inf);
    st.has_nan |= int(isnan(s));
    if (s > st.max) st.max = s;
  }
  st = block_reduce(
      st,
      [](RowStats<A> a, RowStats<A> b) {
        return RowStats<A>{a.max > b.max ? a.max : b.max, a.all_masked & b.all_masked, a.has_nan | b.has_nan};
      },
      RowStats<A>{-inf, 1, 0});
  A sum = A(0);
  for (int64_t j = threadIdx.x; j < d.S; j += blockDim.x) {
    const A e = st.all_masked ? A(0) : exp(w[j] - st.max);
    w[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  for (int64_t j = threadIdx.x; j < d.S; j += blockDim.x) {
    A p = st.all_masked ? A(0) : (st.has_nan ? A(NAN) : w[j] / sum);
    if (dropout && d.dropout_p > 0)
      p *= A(rnd::sdpa_dropout_factor(rnd::sdpa_dropout_block(d.seed, d.offset, row, j / 4), j, d.dropout_p));
    w[j] = p;
  }
  __syncthreads();
}

template <typename T, typename A>
__global__ void sdpa_kernel(const T* q, const T* k, const T* v, const void* mask, T* out, A* scratch, int64_t row0,
                            int64_t row1, SdpaDims d) {
  for (int64_t row = row0 + blockIdx.x; row < row1; row += gridDim.x) {
    A* w = scratch + (row - row0) * d.S;
    row_weights<T, A>(q, k, mask, d, row, w, true);
    const T* vb = v + kv_entry(d, row / d.L) * d.S * d.Ev;
    for (int64_t e = threadIdx.x; e < d.Ev; e += blockDim.x) {
      A acc = A(0);
      for (int64_t j = 0; j < d.S; ++j) acc += w[j] * convert<A>(vb[j * d.Ev + e]);
      out[row * d.Ev + e] = convert<T>(acc);
    }
  }
}

template <typename T, typename A>
__global__ void sdpa_backward_kernel(const T* g, const T* q, const T* k, const T* v, const void* mask, T* dq, A* dk,
                                     A* dv, A* scratch, int64_t row0, int64_t row1, SdpaDims d) {
  for (int64_t row = row0 + blockIdx.x; row < row1; row += gridDim.x) {
    A* p = scratch + (row - row0) * 2 * d.S;
    A* ds = p + d.S;
    row_weights<T, A>(q, k, mask, d, row, p, false);
    const int64_t kvn = kv_entry(d, row / d.L);
    const T* gr = g + row * d.Ev;
    const T* qr = q + row * d.E;
    const T* kb = k + kvn * d.S * d.E;
    const T* vb = v + kvn * d.S * d.Ev;
    A dot = A(0);
    for (int64_t j = threadIdx.x; j < d.S; j += blockDim.x) {
      A dp = A(0);
      for (int64_t e = 0; e < d.Ev; ++e) dp += convert<A>(gr[e]) * convert<A>(vb[j * d.Ev + e]);
      const A f =
          d.dropout_p > 0
              ? A(rnd::sdpa_dropout_factor(rnd::sdpa_dropout_block(d.seed, d.offset, row, j / 4), j, d.dropout_p))
              : A(1);
      ds[j] = dp * f;
      dot += p[j] * dp * f;
      for (int64_t e = 0; e < d.Ev; ++e) atomicAdd(dv + (kvn * d.S + j) * d.Ev + e, p[j] * f * convert<A>(gr[e]));
    }
    dot = block_sum(dot);
    for (int64_t j = threadIdx.x; j < d.S; j += blockDim.x) {
      ds[j] = p[j] * (ds[j] - dot) * A(d.scale);
      for (int64_t e = 0; e < d.E; ++e) atomicAdd(dk + (kvn * d.S + j) * d.E + e, ds[j] * convert<A>(qr[e]));
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < d.E; e += blockDim.x) {
      A acc = A(0);
      for (int64_t j = 0; j < d.S; ++j) acc += ds[j] * convert<A>(kb[j * d.E + e]);
      dq[row * d.E + e] = convert<T>(acc);
    }
    __syncthreads();
  }
}

}  // namespace

void launch_rms_norm(DType dtype, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t K,
                     double eps, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    rms_norm_kernel<T, A><<<row_blocks(rows), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const A*>(w), static_cast<T*>(y), static_cast<A*>(rstd), rows, K, A(eps));
    DOPPEL_CUDA_CHECK_LAUNCH("rms_norm_kernel");
  });
}

void launch_rms_norm_backward(DType dtype, const void* g, const void* x, const void* rstd, const void* w,
                              void* grad_input, void* grad_weight, int64_t rows, int64_t K, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    const T* gt = static_cast<const T*>(g);
    const T* xt = static_cast<const T*>(x);
    const A* rt = static_cast<const A*>(rstd);
    if (grad_input) {
      rms_norm_grad_input_kernel<T, A><<<row_blocks(rows), kThreads, 0, stream>>>(gt, xt, rt, static_cast<const A*>(w),
                                                                                  static_cast<T*>(grad_input), rows, K);
      DOPPEL_CUDA_CHECK_LAUNCH("rms_norm_grad_input_kernel");
    }
    if (grad_weight) {
      const Launch l = launch_for(K);
      rms_norm_grad_weight_kernel<T, A>
          <<<l.blocks, l.threads, 0, stream>>>(gt, xt, rt, static_cast<A*>(grad_weight), rows, K);
      DOPPEL_CUDA_CHECK_LAUNCH("rms_norm_grad_weight_kernel");
    }
  });
}

void launch_apply_rotary(DType dtype, const void* x, const void* cos, const void* sin, void* y, int64_t rows, int64_t D,
                         cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    const Launch l = launch_for(rows * D);
    apply_rotary_kernel<T, A><<<l.blocks, l.threads, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(cos),
                                                                  static_cast<const T*>(sin), static_cast<T*>(y),
                                                                  rows * D, D);
    DOPPEL_CUDA_CHECK_LAUNCH("apply_rotary_kernel");
  });
}

void launch_sdpa(DType dtype, const void* q, const void* k, const void* v, const void* mask, void* out, void* scratch,
                 int64_t chunk_rows, const SdpaDims& d, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    const int64_t rows = d.nb * d.L;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
      sdpa_kernel<T, A><<<row_blocks(r1 - r0), kThreads, 0, stream>>>(
          static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), mask, static_cast<T*>(out),
          static_cast<A*>(scratch), r0, r1, d);
      DOPPEL_CUDA_CHECK_LAUNCH("sdpa_kernel");
    }
  });
}

void launch_sdpa_backward(DType dtype, const void* grad_out, const void* q, const void* k, const void* v,
                          const void* mask, void* grad_q, void* grad_k, void* grad_v, void* scratch, int64_t chunk_rows,
                          const SdpaDims& d, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    const int64_t rows = d.nb * d.L;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
      sdpa_backward_kernel<T, A><<<row_blocks(r1 - r0), kThreads, 0, stream>>>(
          static_cast<const T*>(grad_out), static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v),
          mask, static_cast<T*>(grad_q), static_cast<A*>(grad_k), static_cast<A*>(grad_v), static_cast<A*>(scratch), r0,
          r1, d);
      DOPPEL_CUDA_CHECK_LAUNCH("sdpa_backward_kernel");
    }
  });
}

}  // namespace doppel::cuda
