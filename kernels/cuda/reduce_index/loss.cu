// CUDA kernels of the losses: cross_entropy / nll_loss and their backward ops with one warp per
// sample (a row of class scores), and the elementwise losses (mse, l1, smooth_l1,
// binary_cross_entropy_with_logits) with a grid-stride loop. Reductions over samples are one
// block in a fixed order (per-sample losses, or per-block partials, then one sum), so results
// are deterministic. Semantics of kernels/cpu/reference/loss.cpp; see loss_launch.h.
#include "cuda/common/block_reduce.cuh"
#include "cuda/common/dtype_dispatch.cuh"
#include "cuda/reduce_index/loss_launch.h"
#include "cuda/reduce_index/reduce_ops.cuh"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

using reduce::dexp;
using reduce::dlog;
using reduce::float_acc_t;

constexpr unsigned kRowThreads = 128;  // one warp per sample, four samples per block
constexpr int64_t kRowsPerBlock = kRowThreads / kWarpSize;
constexpr unsigned kSumThreads = 256;
constexpr int64_t kMaxPartials = 1024;  // blocks of an elementwise loss's reduction

constexpr int kNone = 0, kMean = 1;

template <typename A>
struct Plus {
  __device__ A operator()(A a, A b) const { return a + b; }
};

// Every lane gets the warp's sum / max (NaN-ignoring, like the reference's std::max from -inf:
// a NaN score still makes the row's Σ exp NaN).
template <typename A>
__device__ inline A warp_sum(A v) {
  return shfl_lane0(warp_reduce(v, Plus<A>{}));
}
template <typename A>
__device__ inline A warp_max(A v) {
  return shfl_lane0(warp_reduce(v, [](A a, A b) { return fmax(a, b); }));
}

__device__ inline float dlog1p(float v) { return log1pf(v); }
__device__ inline double dlog1p(double v) { return log1p(v); }

// The class index of sample i, or -1 when the sample contributes nothing (ignore_index, or out
// of range after recording the fault).
__device__ inline int64_t class_of(const int64_t* target, const ClassLossArgs& a, int64_t i, int lane,
                                   IndexFault* fault) {
  const int64_t t = target[a.target_ix.offset(i)];
  if (t == a.ignore_index) return -1;
  if (t < 0 || t >= a.classes) {
    if (lane == 0) record_fault(fault, t);
    return -1;
  }
  return t;
}

// The sample's log Σ exp over its scores (max-stabilised), in every lane of its warp.
template <typename A, typename Score>
__device__ inline A row_max(int64_t C, int lane, Score score) {
  A m = -reduce::infinity<A>();
  for (int64_t k = lane; k < C; k += kWarpSize) m = fmax(m, score(k));
  return warp_max(m);
}
template <typename A, typename Score>
__device__ inline A row_exp_sum(int64_t C, int lane, A m, Score score) {
  A s = 0;
  for (int64_t k = lane; k < C; k += kWarpSize) s += dexp(score(k) - m);
  return warp_sum(s);
}

// Per-sample losses: to `out` (reduction none, T) or `loss` (mean/sum, accumulation type).
template <typename T, bool kLogSoftmax>
__global__ void class_loss_kernel(const T* __restrict__ x, const int64_t* __restrict__ t_idx,
                                  const T* __restrict__ t_prob, ClassLossArgs a, T* __restrict__ out,
                                  float_acc_t<T>* __restrict__ loss, IndexFault* fault) {
  using A = float_acc_t<T>;
  const int lane = int(threadIdx.x) % kWarpSize;
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + int64_t(threadIdx.x) / kWarpSize;
  if (i >= a.samples) return;  // uniform across the warp
  const int64_t C = a.classes, base = i * C;
  const auto score = [&](int64_t k) { return convert<A>(x[a.x_ix.offset(base + k)]); };
  const int64_t t = a.index_target ? class_of(t_idx, a, i, lane, fault) : 0;
  A l = 0;
  if (t >= 0) {
    A lse = 0;
    if constexpr (kLogSoftmax) {
      const A m = row_max<A>(C, lane, score);
      lse = m + dlog(row_exp_sum<A>(C, lane, m, score));
    }
    const A eps = A(a.label_smoothing), smooth = eps / A(C);
    if (a.index_target) {
      l = -(A(1) - eps) * (score(t) - lse);
      if (eps > A(0)) {
        A s = 0;
        for (int64_t k = lane; k < C; k += kWarpSize) s += score(k) - lse;
        l -= smooth * warp_sum(s);
      }
    } else {
      A s = 0;
      for (int64_t k = lane; k < C; k += kWarpSize)
        s -= (score(k) - lse) * ((A(1) - eps) * convert<A>(t_prob[a.target_ix.offset(base + k)]) + smooth);
      l = warp_sum(s);
    }
  }
  if (lane != 0) return;
  if (out)
    out[i] = convert<T>(l);
  else
    loss[i] = l;
}

// *count = the number of index targets that are not ignore_index (one block).
template <typename A>
__global__ void count_kernel(const int64_t* __restrict__ target, StridedIndexer ix, int64_t n, int64_t ignore_index,
                             A* count) {
  long long c = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) c += target[ix.offset(i)] != ignore_index ? 1 : 0;
  c = block_reduce(c, Plus<long long>{}, 0LL);
  if (threadIdx.x == 0) *count = A(c);
}

// out[0] = Σ partial / (*count, or divisor without a count) (one block, fixed order).
template <typename T, typename A>
__global__ void finalize_kernel(const A* __restrict__ partial, int64_t m, const A* count, A divisor,
                                T* __restrict__ out) {
  A s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += partial[i];
  s = block_reduce(s, Plus<A>{}, A(0));
  if (threadIdx.x == 0) out[0] = convert<T>(s / (count ? *count : divisor));
}

template <typename T, bool kSoftmax>
__global__ void class_loss_backward_kernel(const T* __restrict__ g, StridedIndexer g_ix, const T* __restrict__ x,
                                           const int64_t* __restrict__ t_idx, const T* __restrict__ t_prob,
                                           ClassLossArgs a, const float_acc_t<T>* count, T* __restrict__ out,
                                           StridedIndexer out_ix, IndexFault* fault) {
  using A = float_acc_t<T>;
  const int lane = int(threadIdx.x) % kWarpSize;
  const int64_t i = int64_t(blockIdx.x) * kRowsPerBlock + int64_t(threadIdx.x) / kWarpSize;
  if (i >= a.samples) return;  // uniform across the warp
  const int64_t C = a.classes, base = i * C;
  const auto score = [&](int64_t k) { return convert<A>(x[a.x_ix.offset(base + k)]); };
  const auto put = [&](int64_t k, A v) { out[out_ix.offset(base + k)] = convert<T>(v); };
  const int64_t t = a.index_target ? class_of(t_idx, a, i, lane, fault) : 0;
  if (t < 0) {
    for (int64_t k = lane; k < C; k += kWarpSize) put(k, A(0));
    return;
  }
  A w = convert<A>(g[a.reduction == kNone ? g_ix.offset(i) : 0]);
  if (a.reduction == kMean) w /= count ? *count : A(a.samples);
  if constexpr (!kSoftmax) {
    for (int64_t k = lane; k < C; k += kWarpSize) put(k, k == t ? -w : A(0));
  } else {
    const A m = row_max<A>(C, lane, score);
    const A s = row_exp_sum<A>(C, lane, m, score);
    const A eps = A(a.label_smoothing), smooth = eps / A(C);
    if (a.index_target) {
      const A ws = w / s;
      for (int64_t k = lane; k < C; k += kWarpSize)
        put(k, ws * dexp(score(k) - m) - w * (k == t ? smooth + A(1) - eps : smooth));
    } else {
      const auto q = [&](int64_t k) {
        return (A(1) - eps) * convert<A>(t_prob[a.target_ix.offset(base + k)]) + smooth;
      };
      A sum_q = 0;
      for (int64_t k = lane; k < C; k += kWarpSize) sum_q += q(k);
      const A ws = w * warp_sum(sum_q) / s;
      for (int64_t k = lane; k < C; k += kWarpSize) put(k, ws * dexp(score(k) - m) - w * q(k));
    }
  }
}

template <PointwiseLoss L, typename A>
__device__ inline A pointwise(A x, A y, A pos_weight, A beta) {
  if constexpr (L == PointwiseLoss::Mse) {
    return (x - y) * (x - y);
  } else if constexpr (L == PointwiseLoss::L1) {
    return fabs(x - y);
  } else if constexpr (L == PointwiseLoss::SmoothL1) {
    const A d = fabs(x - y);
    return d < beta ? A(0.5) * d * d / beta : d - A(0.5) * beta;  // beta == 0 reduces to l1
  } else {
    // (1 - y)·x + w·softplus(-x), softplus(-x) = log1p(exp(-|x|)) + max(-x, 0): no overflow.
    const A w = A(1) + (pos_weight - A(1)) * y;
    return (A(1) - y) * x + w * (dlog1p(dexp(-fabs(x))) + fmax(-x, A(0)));
  }
}

// Per-element losses into `out` (reduction none) or per-block sums into `partial`.
template <PointwiseLoss L, typename T>
__global__ void pointwise_loss_kernel(const T* __restrict__ x, StridedIndexer x_ix, const T* __restrict__ y,
                                      StridedIndexer y_ix, const T* __restrict__ pw, StridedIndexer pw_ix,
                                      float_acc_t<T> beta, int64_t n, T* __restrict__ out,
                                      float_acc_t<T>* __restrict__ partial) {
  using A = float_acc_t<T>;
  A s = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const A v = pointwise<L, A>(convert<A>(x[x_ix.offset(i)]), convert<A>(y[y_ix.offset(i)]),
                                pw ? convert<A>(pw[pw_ix.offset(i)]) : A(1), beta);
    if (out)
      out[i] = convert<T>(v);
    else
      s += v;
  }
  if (out) return;
  s = block_reduce(s, Plus<A>{}, A(0));
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

unsigned row_blocks(int64_t samples) { return unsigned((samples + kRowsPerBlock - 1) / kRowsPerBlock); }

unsigned partial_blocks(int64_t n) {
  const int64_t b = (n + kSumThreads - 1) / kSumThreads;
  return unsigned(b < 1 ? 1 : (b > kMaxPartials ? kMaxPartials : b));
}

template <typename T, typename A>
void launch_finalize(const A* partial, int64_t m, const A* count, A divisor, T* out, cudaStream_t stream) {
  finalize_kernel<T, A><<<1, kSumThreads, 0, stream>>>(partial, m, count, divisor, out);
  DOPPEL_CUDA_CHECK_LAUNCH("finalize_kernel (loss reduction)");
}

// The mean's count of non-ignored index targets into *count; null when the mean divides by the
// number of samples (probability targets) or there is no mean.
template <typename A>
const A* launch_count(const void* target, const ClassLossArgs& a, A* count, cudaStream_t stream) {
  if (a.reduction != kMean || !a.index_target) return nullptr;
  count_kernel<A><<<1, kSumThreads, 0, stream>>>(static_cast<const int64_t*>(target), a.target_ix, a.samples,
                                                 a.ignore_index, count);
  DOPPEL_CUDA_CHECK_LAUNCH("count_kernel (loss mean)");
  return count;
}

}  // namespace

bool launch_class_loss(bool log_softmax, DType dtype, const void* x, const void* target, const ClassLossArgs& a,
                       void* out, void* scratch, IndexFault* fault, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = float_acc_t<T>;
    const T* xp = static_cast<const T*>(x);
    const int64_t* ti = a.index_target ? static_cast<const int64_t*>(target) : nullptr;
    const T* tp = a.index_target ? nullptr : static_cast<const T*>(target);
    T* o = static_cast<T*>(out);
    A* loss = static_cast<A*>(scratch);
    T* row_out = a.reduction == kNone ? o : nullptr;
    if (a.samples > 0) {
      if (log_softmax) {
        class_loss_kernel<T, true>
            <<<row_blocks(a.samples), kRowThreads, 0, stream>>>(xp, ti, tp, a, row_out, loss, fault);
        DOPPEL_CUDA_CHECK_LAUNCH("class_loss_kernel (cross_entropy)");
      } else {
        class_loss_kernel<T, false>
            <<<row_blocks(a.samples), kRowThreads, 0, stream>>>(xp, ti, tp, a, row_out, loss, fault);
        DOPPEL_CUDA_CHECK_LAUNCH("class_loss_kernel (nll_loss)");
      }
    }
    if (a.reduction == kNone) return;
    const A* count = launch_count(target, a, loss + a.samples, stream);
    launch_finalize(loss, a.samples, count, a.reduction == kMean ? A(a.samples) : A(1), o, stream);
  });
}

bool launch_class_loss_backward(bool softmax, DType dtype, const void* grad, const StridedIndexer& grad_ix,
                                const void* x, const void* target, const ClassLossArgs& a, void* out,
                                const StridedIndexer& out_ix, void* scratch, IndexFault* fault, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = float_acc_t<T>;
    if (a.samples == 0) return;
    const A* count = launch_count(target, a, static_cast<A*>(scratch), stream);
    const T* g = static_cast<const T*>(grad);
    const T* xp = static_cast<const T*>(x);
    const int64_t* ti = a.index_target ? static_cast<const int64_t*>(target) : nullptr;
    const T* tp = a.index_target ? nullptr : static_cast<const T*>(target);
    T* o = static_cast<T*>(out);
    if (softmax) {
      class_loss_backward_kernel<T, true>
          <<<row_blocks(a.samples), kRowThreads, 0, stream>>>(g, grad_ix, xp, ti, tp, a, count, o, out_ix, fault);
      DOPPEL_CUDA_CHECK_LAUNCH("class_loss_backward_kernel (cross_entropy_backward)");
    } else {
      class_loss_backward_kernel<T, false>
          <<<row_blocks(a.samples), kRowThreads, 0, stream>>>(g, grad_ix, xp, ti, tp, a, count, o, out_ix, fault);
      DOPPEL_CUDA_CHECK_LAUNCH("class_loss_backward_kernel (nll_loss_backward)");
    }
  });
}

int64_t pointwise_loss_scratch(int64_t n) { return partial_blocks(n); }

bool launch_pointwise_loss(PointwiseLoss loss, DType dtype, const void* x, const StridedIndexer& x_ix, const void* y,
                           const StridedIndexer& y_ix, const void* pos_weight, const StridedIndexer& pw_ix,
                           double param, int reduction, int64_t n, void* out, void* scratch, cudaStream_t stream) {
  return dispatch_floating(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = float_acc_t<T>;
    const bool none = reduction == kNone;
    if (none && n == 0) return;
    const Launch l = none ? launch_for(n) : Launch{partial_blocks(n), kSumThreads};
    const T* xp = static_cast<const T*>(x);
    const T* yp = static_cast<const T*>(y);
    const T* pp = static_cast<const T*>(pos_weight);
    T* o = none ? static_cast<T*>(out) : nullptr;
    A* partial = static_cast<A*>(scratch);
    const auto run = [&]<PointwiseLoss L>() {
      pointwise_loss_kernel<L, T>
          <<<l.blocks, l.threads, 0, stream>>>(xp, x_ix, yp, y_ix, pp, pw_ix, A(param), n, o, partial);
      DOPPEL_CUDA_CHECK_LAUNCH("pointwise_loss_kernel");
    };
    switch (loss) {
      case PointwiseLoss::Mse:
        run.template operator()<PointwiseLoss::Mse>();
        break;
      case PointwiseLoss::L1:
        run.template operator()<PointwiseLoss::L1>();
        break;
      case PointwiseLoss::SmoothL1:
        run.template operator()<PointwiseLoss::SmoothL1>();
        break;
      case PointwiseLoss::BceWithLogits:
        run.template operator()<PointwiseLoss::BceWithLogits>();
        break;
    }
    if (none) return;
    launch_finalize(partial, int64_t(l.blocks), static_cast<const A*>(nullptr), reduction == kMean ? A(n) : A(1),
                    static_cast<T*>(out), stream);
  });
}

}  // namespace doppel::cuda
