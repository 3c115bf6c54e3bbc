// The 2-d pooling kernels: max (dilation, NaN wins, ties to the first maximum), average
// (PyTorch's clipped windows, count_include_pad, divisor_override, ceil_mode through the output
// size) and adaptive average, forward one thread per output element and backward one thread
// per input element gathering over the windows that contain it. The sums accumulate in float
// (double for float64).
#include "cuda/common/cuda_common.cuh"
#include "cuda/libraries/pooling_kernels.h"
#include "doppel/core/cuda/runtime.h"

namespace doppel::cuda {
namespace {

template <typename T>
using acc_t = device_compute_t<T>;

__device__ inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// An average window clipped as PyTorch clips it, with its divisor; false when it is empty.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};
__device__ inline bool avg_window(int64_t oh, int64_t ow, const PoolPlanes& p, const PoolWindow& w, AvgWindow& a) {
  a.h0 = oh * w.sh - w.ph;
  a.w0 = ow * w.sw - w.pw;
  a.h1 = min64(a.h0 + w.kh, p.H + w.ph);
  a.w1 = min64(a.w0 + w.kw, p.W + w.pw);
  const int64_t padded = (a.h1 - a.h0) * (a.w1 - a.w0);
  a.h0 = max64(a.h0, 0);
  a.w0 = max64(a.w0, 0);
  a.h1 = min64(a.h1, p.H);
  a.w1 = min64(a.w1, p.W);
  if (a.h0 >= a.h1 || a.w0 >= a.w1) return false;
  a.divisor = w.divisor_override ? w.divisor_override : w.include_pad ? padded : (a.h1 - a.h0) * (a.w1 - a.w0);
  return true;
}

// The first maximum of window (oh, ow) of plane xp (NaN wins) as an index ih * W + iw, -1 when
// the window holds no input element; `best` receives its value (-inf for none).
template <typename T>
__device__ int64_t window_max(const T* xp, int64_t oh, int64_t ow, const PoolPlanes& p, const PoolWindow& w,
                              acc_t<T>& best) {
  using A = acc_t<T>;
  best = A(-INFINITY);
  int64_t arg = -1;
  for (int64_t kh = 0; kh < w.kh; ++kh) {
    const int64_t ih = oh * w.sh - w.ph + kh * w.dh;
    if (ih < 0 || ih >= p.H) continue;
    for (int64_t kw = 0; kw < w.kw; ++kw) {
      const int64_t iw = ow * w.sw - w.pw + kw * w.dw;
      if (iw < 0 || iw >= p.W) continue;
      const A v = convert<A>(xp[ih * p.sh + iw * p.sw]);
      if (arg < 0) arg = ih * p.W + iw;
      if (v > best || v != v) {
        best = v;
        arg = ih * p.W + iw;
      }
      if (best != best) return arg;
    }
  }
  return arg;
}

__device__ inline int64_t adaptive_begin(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
__device__ inline int64_t adaptive_finish(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
__device__ const T* plane(const T* x, int64_t q, const PoolPlanes& p) {
  return x + (q / p.C) * p.sn + (q % p.C) * p.sc;
}

template <typename T>
__global__ void pool2d_kernel(PoolKind kind, const T* x, T* y, PoolPlanes p, PoolWindow w) {
  using A = acc_t<T>;
  const int64_t n = p.P * p.OH * p.OW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ow = i % p.OW, oh = (i / p.OW) % p.OH;
    const T* xp = plane(x, i / (p.OW * p.OH), p);
    A r = A(0);
    if (kind == PoolKind::max) {
      window_max(xp, oh, ow, p, w, r);
    } else {
      int64_t h0, h1, w0, w1, divisor;
      if (kind == PoolKind::avg) {
        AvgWindow a;
        if (!avg_window(oh, ow, p, w, a)) {
          y[i] = convert<T>(A(0));
          continue;
        }
        h0 = a.h0, h1 = a.h1, w0 = a.w0, w1 = a.w1, divisor = a.divisor;
      } else {
        h0 = adaptive_begin(oh, p.H, p.OH), h1 = adaptive_finish(oh, p.H, p.OH);
        w0 = adaptive_begin(ow, p.W, p.OW), w1 = adaptive_finish(ow, p.W, p.OW);
        divisor = (h1 - h0) * (w1 - w0);
      }
      A sum = A(0);
      for (int64_t ih = h0; ih < h1; ++ih)
        for (int64_t iw = w0; iw < w1; ++iw) sum += convert<A>(xp[ih * p.sh + iw * p.sw]);
      r = sum / A(divisor);
    }
    y[i] = convert<T>(r);
  }
}

template <typename T>
__global__ void pool2d_backward_kernel(PoolKind kind, const T* x, const T* go, T* gi, PoolPlanes p, PoolWindow w) {
  using A = acc_t<T>;
  const int64_t n = p.P * p.H * p.W;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t iw = i % p.W, ih = (i / p.W) % p.H, q = i / (p.W * p.H);
    const T* gp = go + q * p.OH * p.OW;
    A acc = A(0);
    if (kind == PoolKind::adaptive_avg) {
      const int64_t oh_lo = max64(0, (ih * p.OH) / p.H - 1), oh_hi = min64(p.OH - 1, ((ih + 1) * p.OH) / p.H + 1);
      const int64_t ow_lo = max64(0, (iw * p.OW) / p.W - 1), ow_hi = min64(p.OW - 1, ((iw + 1) * p.OW) / p.W + 1);
      for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
        const int64_t h0 = adaptive_begin(oh, p.H, p.OH), h1 = adaptive_finish(oh, p.H, p.OH);
        if (ih < h0 || ih >= h1) continue;
        for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
          const int64_t w0 = adaptive_begin(ow, p.W, p.OW), w1 = adaptive_finish(ow, p.W, p.OW);
          if (iw < w0 || iw >= w1) continue;
          acc += convert<A>(gp[oh * p.OW + ow]) / A((h1 - h0) * (w1 - w0));
        }
      }
    } else {
      // The windows holding (ih, iw) at kernel offset (kh, kw) start at ih + pad - kh * dil.
      const int64_t dh = kind == PoolKind::max ? w.dh : 1, dw = kind == PoolKind::max ? w.dw : 1;
      const T* xp = kind == PoolKind::max ? plane(x, q, p) : nullptr;
      for (int64_t kh = 0; kh < w.kh; ++kh) {
        const int64_t th = ih + w.ph - kh * dh;
        if (th < 0 || th % w.sh != 0 || th / w.sh >= p.OH) continue;
        const int64_t oh = th / w.sh;
        for (int64_t kw = 0; kw < w.kw; ++kw) {
          const int64_t tw = iw + w.pw - kw * dw;
          if (tw < 0 || tw % w.sw != 0 || tw / w.sw >= p.OW) continue;
          const int64_t ow = tw / w.sw;
          const A g = convert<A>(gp[oh * p.OW + ow]);
          if (kind == PoolKind::max) {
            A best;
            if (window_max(xp, oh, ow, p, w, best) == ih * p.W + iw) acc += g;
          } else {
            AvgWindow a;
            if (avg_window(oh, ow, p, w, a) && ih >= a.h0 && ih < a.h1 && iw >= a.w0 && iw < a.w1)
              acc += g / A(a.divisor);
          }
        }
      }
    }
    gi[i] = convert<T>(acc);
  }
}

// Calls f.template operator()<T>() with the device type of a floating dtype.
template <typename F>
void dispatch_floating(DType t, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16>();
    case DType::Float16:
      return f.template operator()<__half>();
    default:
      return;  // the host glue accepts only these
  }
}

}  // namespace

void launch_pool2d(PoolKind kind, DType dtype, const void* x, void* y, const PoolPlanes& p, const PoolWindow& w,
                   cudaStream_t stream) {
  const Launch l = launch_for(p.P * p.OH * p.OW);
  dispatch_floating(dtype, [&]<typename T>() {
    pool2d_kernel<T><<<l.blocks, l.threads, 0, stream>>>(kind, static_cast<const T*>(x), static_cast<T*>(y), p, w);
    DOPPEL_CUDA_CHECK_LAUNCH("pool2d_kernel");
  });
}

void launch_pool2d_backward(PoolKind kind, DType dtype, const void* x, const void* grad_out, void* grad_input,
                            const PoolPlanes& p, const PoolWindow& w, cudaStream_t stream) {
  const Launch l = launch_for(p.P * p.H * p.W);
  dispatch_floating(dtype, [&]<typename T>() {
    pool2d_backward_kernel<T><<<l.blocks, l.threads, 0, stream>>>(
        kind, static_cast<const T*>(x), static_cast<const T*>(grad_out), static_cast<T*>(grad_input), p, w);
    DOPPEL_CUDA_CHECK_LAUNCH("pool2d_backward_kernel");
  });
}

}  // namespace doppel::cuda
