// The normalization kernels. layer_norm: forward one block per row (Welford moments merged across
// the block), backward one block per row for grad_input and one thread per feature for the
// parameter gradients. batch_norm: one block per channel, forward and backward. Fixed summation
// orders (deterministic); accumulation in float, double for float64.
#include "cuda/common/cuda_common.cuh"
#include "cuda/common/row_dispatch.cuh"
#include "cuda/libraries/norm_kernels.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;

template <typename A>
struct Moments {
  A n, mean, m2;
};

template <typename A>
__device__ Moments<A> merge(Moments<A> a, Moments<A> b) {
  const A n = a.n + b.n;
  if (n == A(0)) return a;
  const A delta = b.mean - a.mean, fb = b.n / n;
  return {n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb};
}

// The moments of the whole block, in every thread.
template <typename A>
__device__ Moments<A> block_moments(Moments<A> m) {
  __shared__ Moments<A> warp_part[kWarps];
  __shared__ Moments<A> total;
  for (int off = 16; off > 0; off /= 2)
    m = merge(m, Moments<A>{__shfl_down_sync(0xffffffffu, m.n, off), __shfl_down_sync(0xffffffffu, m.mean, off),
                            __shfl_down_sync(0xffffffffu, m.m2, off)});
  if (threadIdx.x % 32 == 0) warp_part[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    Moments<A> t = warp_part[0];
    for (unsigned w = 1; w < kWarps; ++w) t = merge(t, warp_part[w]);
    total = t;
  }
  __syncthreads();
  const Moments<A> r = total;
  __syncthreads();  // `total` is reused by the next row
  return r;
}

// Sums of two values over the block, in every thread.
template <typename A>
__device__ void block_sum2(A& s1, A& s2) {
  __shared__ A part[2][kWarps];
  for (int off = 16; off > 0; off /= 2) {
    s1 += __shfl_down_sync(0xffffffffu, s1, off);
    s2 += __shfl_down_sync(0xffffffffu, s2, off);
  }
  if (threadIdx.x % 32 == 0) part[0][threadIdx.x / 32] = s1, part[1][threadIdx.x / 32] = s2;
  __syncthreads();
  s1 = A(0), s2 = A(0);
  for (unsigned w = 0; w < kWarps; ++w) s1 += part[0][w], s2 += part[1][w];
  __syncthreads();
}

template <typename T, typename A>
__global__ void layer_norm_kernel(const T* x, const A* w, const A* b, T* y, A* mean, A* rstd, int64_t rows, int64_t K,
                                  A eps) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * K;
    Moments<A> m{A(0), A(0), A(0)};
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const A v = convert<A>(xr[i]);
      m.n += A(1);
      const A delta = v - m.mean;
      m.mean += delta / m.n;
      m.m2 += delta * (v - m.mean);
    }
    m = block_moments(m);
    const A mu = m.mean, rs = A(1) / sqrt(m.m2 / m.n + eps);
    if (threadIdx.x == 0) mean[r] = mu, rstd[r] = rs;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const A v = (convert<A>(xr[i]) - mu) * rs * (w ? w[i] : A(1)) + (b ? b[i] : A(0));
      y[r * K + i] = convert<T>(v);
    }
  }
}

template <typename T, typename A>
__global__ void layer_norm_grad_input_kernel(const T* g, const T* x, const A* mean, const A* rstd, const A* w, T* gi,
                                             int64_t rows, int64_t K) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *gr = g + r * K, *xr = x + r * K;
    const A mu = mean[r], rs = rstd[r];
    A s1 = A(0), s2 = A(0);  // sum(dxhat), sum(dxhat * xhat)
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const A dxh = convert<A>(gr[i]) * (w ? w[i] : A(1));
      s1 += dxh;
      s2 += dxh * (convert<A>(xr[i]) - mu) * rs;
    }
    block_sum2(s1, s2);
    const A m1 = s1 / A(K), m2 = s2 / A(K);
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
      const A dxh = convert<A>(gr[i]) * (w ? w[i] : A(1));
      gi[r * K + i] = convert<T>(rs * (dxh - m1 - (convert<A>(xr[i]) - mu) * rs * m2));
    }
  }
}

template <typename T, typename A>
__global__ void layer_norm_grad_params_kernel(const T* g, const T* x, const A* mean, const A* rstd, A* gw, A* gb,
                                              int64_t rows, int64_t K) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < K; i += int64_t(blockDim.x) * gridDim.x) {
    A sw = A(0), sb = A(0);
    for (int64_t r = 0; r < rows; ++r) {
      const A gv = convert<A>(g[r * K + i]);
      sw += gv * (convert<A>(x[r * K + i]) - mean[r]) * rstd[r];
      sb += gv;
    }
    if (gw) gw[i] = sw;
    if (gb) gb[i] = sb;
  }
}

// Channel ch of batch_norm's [N, C, S] layout: value k < N * S is run k / S, element k % S.
__device__ inline int64_t channel_offset(int64_t k, int64_t ch, int64_t C, int64_t S) {
  return ((k / S) * C + ch) * S + k % S;
}

template <typename T, typename A>
__global__ void batch_norm_kernel(const T* x, const A* w, const A* b, const A* rm, const A* rv, T* y, A* save_mean,
                                  A* save_invstd, A* new_mean, A* new_var, int64_t N, int64_t C, int64_t S,
                                  bool training, A momentum, A eps) {
  const int64_t n = N * S;
  for (int64_t ch = blockIdx.x; ch < C; ch += gridDim.x) {
    A mu, var;
    if (training) {
      Moments<A> m{A(0), A(0), A(0)};
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        const A v = convert<A>(x[channel_offset(k, ch, C, S)]);
        m.n += A(1);
        const A delta = v - m.mean;
        m.mean += delta / m.n;
        m.m2 += delta * (v - m.mean);
      }
      m = block_moments(m);
      // No values: NaN statistics, as the reference.
      mu = n ? m.mean : A(NAN);
      var = n ? m.m2 / m.n : A(NAN);
    } else {
      mu = rm[ch];
      var = rv[ch];
    }
    const A invstd = A(1) / sqrt(var + eps);
    const A scale = (w ? w[ch] : A(1)) * invstd, shift = (b ? b[ch] : A(0)) - mu * scale;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const int64_t off = channel_offset(k, ch, C, S);
      y[off] = convert<T>(convert<A>(x[off]) * scale + shift);
    }
    if (threadIdx.x == 0) {
      save_mean[ch] = mu;
      save_invstd[ch] = invstd;
      if (new_mean) {
        const A unbias = A(n) / A(n - 1);
        new_mean[ch] = training ? (A(1) - momentum) * rm[ch] + momentum * mu : rm[ch];
        new_var[ch] = training ? (A(1) - momentum) * rv[ch] + momentum * var * unbias : rv[ch];
      }
    }
  }
}

template <typename T, typename A>
__global__ void batch_norm_backward_kernel(const T* g, const T* x, const A* mean, const A* invstd, const A* w, T* gi,
                                           A* gw, A* gb, int64_t N, int64_t C, int64_t S, bool training) {
  const int64_t n = N * S;
  for (int64_t ch = blockIdx.x; ch < C; ch += gridDim.x) {
    const A mu = mean[ch], rs = invstd[ch], wc = w ? w[ch] : A(1);
    A sg = A(0), sgx = A(0);  // sum(g), sum(g * xhat)
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const int64_t off = channel_offset(k, ch, C, S);
      const A gv = convert<A>(g[off]);
      sg += gv;
      sgx += gv * (convert<A>(x[off]) - mu) * rs;
    }
    block_sum2(sg, sgx);
    if (threadIdx.x == 0) {
      if (gw) gw[ch] = sgx;
      if (gb) gb[ch] = sg;
    }
    if (!gi) continue;
    const A m1 = n ? wc * sg / A(n) : A(0), m2 = n ? wc * sgx / A(n) : A(0);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const int64_t off = channel_offset(k, ch, C, S);
      const A dxh = convert<A>(g[off]) * wc;
      gi[off] = convert<T>(training ? rs * (dxh - m1 - (convert<A>(x[off]) - mu) * rs * m2) : rs * dxh);
    }
  }
}

}  // namespace

void launch_layer_norm(DType dtype, const void* x, const void* w, const void* b, void* y, void* mean, void* rstd,
                       int64_t rows, int64_t K, double eps, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    layer_norm_kernel<T, A><<<row_blocks(rows), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const A*>(w), static_cast<const A*>(b), static_cast<T*>(y),
        static_cast<A*>(mean), static_cast<A*>(rstd), rows, K, A(eps));
    DOPPEL_CUDA_CHECK_LAUNCH("layer_norm_kernel");
  });
}

void launch_layer_norm_backward(DType dtype, const void* g, const void* x, const void* mean, const void* rstd,
                                const void* w, void* grad_input, void* grad_weight, void* grad_bias, int64_t rows,
                                int64_t K, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    const T *gt = static_cast<const T*>(g), *xt = static_cast<const T*>(x);
    const A *mt = static_cast<const A*>(mean), *rt = static_cast<const A*>(rstd);
    if (grad_input) {
      layer_norm_grad_input_kernel<T, A><<<row_blocks(rows), kThreads, 0, stream>>>(
          gt, xt, mt, rt, static_cast<const A*>(w), static_cast<T*>(grad_input), rows, K);
      DOPPEL_CUDA_CHECK_LAUNCH("layer_norm_grad_input_kernel");
    }
    if (grad_weight || grad_bias) {
      const Launch l = launch_for(K);
      layer_norm_grad_params_kernel<T, A><<<l.blocks, l.threads, 0, stream>>>(
          gt, xt, mt, rt, static_cast<A*>(grad_weight), static_cast<A*>(grad_bias), rows, K);
      DOPPEL_CUDA_CHECK_LAUNCH("layer_norm_grad_params_kernel");
    }
  });
}

void launch_batch_norm(DType dtype, const void* x, const void* w, const void* b, const void* running_mean,
                       const void* running_var, void* y, void* save_mean, void* save_invstd, void* new_mean,
                       void* new_var, int64_t N, int64_t C, int64_t S, bool training, double momentum, double eps,
                       cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    batch_norm_kernel<T, A><<<row_blocks(C), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const A*>(w), static_cast<const A*>(b),
        static_cast<const A*>(running_mean), static_cast<const A*>(running_var), static_cast<T*>(y),
        static_cast<A*>(save_mean), static_cast<A*>(save_invstd), static_cast<A*>(new_mean), static_cast<A*>(new_var),
        N, C, S, training, A(momentum), A(eps));
    DOPPEL_CUDA_CHECK_LAUNCH("batch_norm_kernel");
  });
}

void launch_batch_norm_backward(DType dtype, const void* g, const void* x, const void* mean, const void* invstd,
                                const void* w, void* grad_input, void* grad_weight, void* grad_bias, int64_t N,
                                int64_t C, int64_t S, bool training, cudaStream_t stream) {
  dispatch_storage_accumulation(dtype, [&]<typename T, typename A>() {
    batch_norm_backward_kernel<T, A><<<row_blocks(C), kThreads, 0, stream>>>(
        static_cast<const T*>(g), static_cast<const T*>(x), static_cast<const A*>(mean), static_cast<const A*>(invstd),
        static_cast<const A*>(w), static_cast<T*>(grad_input), static_cast<A*>(grad_weight), static_cast<A*>(grad_bias),
        N, C, S, training);
    DOPPEL_CUDA_CHECK_LAUNCH("batch_norm_backward_kernel");
  });
}

}  // namespace doppel::cuda
