// Reference kernels of the 2-d pooling ops (the max indices: max_window.h): the window formulas of PyTorch, computed
// per output element over any input strides.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"
#include "max_pool_2x2.h"
#include "max_window.h"
#include "registration.h"

namespace doppel::registration {

void reference_pooling_backward_kernels();  // pooling_backward.cpp

namespace {

// The input seen as planes [P = N*C, H, W] with element strides (a [C, H, W] input has N = 1).
struct Planes {
  int64_t C = 0, P = 0, H = 0, W = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;
};

Planes planes_of(const Tensor& x) {
  const int64_t nd = x.dim();
  Planes p;
  p.C = x.size(nd - 3);
  p.P = x.numel() / (x.size(nd - 2) * x.size(nd - 1));
  p.H = x.size(nd - 2);
  p.W = x.size(nd - 1);
  p.sn = nd == 4 ? x.stride(0) : 0;
  p.sc = x.stride(nd - 3);
  p.sh = x.stride(nd - 2);
  p.sw = x.stride(nd - 1);
  return p;
}

// Runs body(in_plane_ptr, out_plane_ptr) per plane in parallel; the output is contiguous.
template <typename T, typename Body>
void for_planes(const Tensor& x, const Tensor& y, const Planes& p, Body&& body) {
  const T* xd = x.data_ptr<T>();
  T* yd = y.data_ptr<T>();
  const int64_t out_plane = y.size(-2) * y.size(-1);
  parallel_for(0, p.P, 1, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) body(xd + (q / p.C) * p.sn + (q % p.C) * p.sc, yd + q * out_plane);
  });
}

// The floating dtypes, and int8/uint8 for max_pool2d and avg_pool2d (quantized graphs: the
// result keeps the input's scale and zero point).
template <typename F>
void dispatch_pool_dtype(DType t, const char* name, F&& f) {
  if (t == DType::Int8) return f.template operator()<int8_t>();
  if (t == DType::UInt8) return f.template operator()<uint8_t>();
  DOPPEL_DISPATCH_FLOATING(t, name, f);
}

// Sums of integer windows in int64; averages of them rounded half to even (PyTorch's quantized
// avg_pool2d) and saturated (a divisor_override below the count).
template <typename T>
using pool_acc_t = std::conditional_t<std::is_integral_v<T>, int64_t, compute_t<T>>;
template <typename T>
T window_average(pool_acc_t<T> sum, int64_t divisor) {
  if constexpr (std::is_integral_v<T>) {
    const double v = std::nearbyint(double(sum) / double(divisor));
    return T(std::clamp(v, double(std::numeric_limits<T>::lowest()), double(std::numeric_limits<T>::max())));
  } else {
    return T(sum / pool_acc_t<T>(divisor));
  }
}

// The windows of max_pool2d (and max_pool2d_indices, which has its attributes).
Pool2dGeometry max_geometry(const OpCall& c, const Planes& p) {
  const auto a = MaxPoolAttrs::of(c.attrs);
  return resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
}

void max_pool2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Planes p = planes_of(x);
  const Pool2dGeometry g = max_geometry(c, p);
  if (x.dtype() == DType::Float32 && x.is_contiguous() && disjoint_2x2(g, p.H, p.W))
    return max_pool_2x2::forward(x.data_ptr<float>(), out[0].data_ptr<float>(), p.P, p.H, p.W);
  dispatch_pool_dtype(x.dtype(), "max_pool2d", [&]<typename T>() {
    using acc_t = compute_t<T>;
    for_planes<T>(x, out[0], p, [&](const T* xp, T* yp) {
      for (int64_t oh = 0; oh < g.out[0]; ++oh)
        for (int64_t ow = 0; ow < g.out[1]; ++ow) {
          acc_t best = std::numeric_limits<acc_t>::has_infinity ? -std::numeric_limits<acc_t>::infinity()
                                                                : std::numeric_limits<acc_t>::lowest();
          for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
            const int64_t ih = oh * g.stride[0] - g.pad[0] + kh * g.dilation[0];
            if (ih < 0 || ih >= p.H) continue;
            for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
              const int64_t iw = ow * g.stride[1] - g.pad[1] + kw * g.dilation[1];
              if (iw < 0 || iw >= p.W) continue;
              const acc_t v = acc_t(xp[ih * p.sh + iw * p.sw]);
              if (v > best || std::isnan(v)) best = v;  // NaN wins, as in PyTorch
              if (std::isnan(best)) break;
            }
          }
          yp[oh * g.out[1] + ow] = T(best);
        }
    });
  });
}

void avg_pool2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Planes p = planes_of(x);
  const auto a = AvgPoolAttrs::of(c.attrs);
  const Pool2dGeometry g = resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, {}, a.ceil_mode);
  const bool include_pad = a.count_include_pad;
  const std::optional<int64_t> div = a.divisor_override;
  dispatch_pool_dtype(x.dtype(), "avg_pool2d", [&]<typename T>() {
    using acc_t = pool_acc_t<T>;
    for_planes<T>(x, out[0], p, [&](const T* xp, T* yp) {
      for (int64_t oh = 0; oh < g.out[0]; ++oh)
        for (int64_t ow = 0; ow < g.out[1]; ++ow) {
          // PyTorch: the padded window is clipped to the padded input (that is the count with
          // padding), then to the input (the count without).
          int64_t h0 = oh * g.stride[0] - g.pad[0], w0 = ow * g.stride[1] - g.pad[1];
          int64_t h1 = std::min(h0 + g.kernel[0], p.H + g.pad[0]), w1 = std::min(w0 + g.kernel[1], p.W + g.pad[1]);
          const int64_t padded_count = (h1 - h0) * (w1 - w0);
          h0 = std::max<int64_t>(h0, 0);
          w0 = std::max<int64_t>(w0, 0);
          h1 = std::min(h1, p.H);
          w1 = std::min(w1, p.W);
          if (h0 >= h1 || w0 >= w1) {
            yp[oh * g.out[1] + ow] = T(0);
            continue;
          }
          acc_t sum = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) sum += acc_t(xp[ih * p.sh + iw * p.sw]);
          const int64_t divisor = div ? *div : include_pad ? padded_count : (h1 - h0) * (w1 - w0);
          yp[oh * g.out[1] + ow] = window_average<T>(sum, divisor);
        }
    });
  });
}

void adaptive_avg_pool2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Planes p = planes_of(x);
  const int64_t OH = out[0].size(-2), OW = out[0].size(-1);
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d", [&]<typename T>() {
    using acc_t = compute_t<T>;
    for_planes<T>(x, out[0], p, [&](const T* xp, T* yp) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, p.H, OH), h1 = adaptive_end(oh, p.H, OH);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, p.W, OW), w1 = adaptive_end(ow, p.W, OW);
          acc_t sum = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) sum += acc_t(xp[ih * p.sh + iw * p.sw]);
          yp[oh * OW + ow] = T(sum / acc_t((h1 - h0) * (w1 - w0)));
        }
      }
    });
  });
}

// Runs body(in_plane_ptr, plane_index) per plane in parallel (for outputs other than the values).
template <typename T, typename Body>
void for_plane_indices(const Tensor& x, const Planes& p, Body&& body) {
  const T* xd = x.data_ptr<T>();
  parallel_for(0, p.P, 1, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) body(xd + (q / p.C) * p.sn + (q % p.C) * p.sc, q);
  });
}

void max_pool2d_indices_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Planes p = planes_of(x);
  const Pool2dGeometry g = max_geometry(c, p);
  int64_t* id = out[0].data_ptr<int64_t>();
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "max_pool2d_indices", [&]<typename T>() {
    for_plane_indices<T>(x, p, [&](const T* xp, int64_t q) {
      int64_t* ip = id + q * g.out[0] * g.out[1];
      for (int64_t oh = 0; oh < g.out[0]; ++oh)
        for (int64_t ow = 0; ow < g.out[1]; ++ow)
          ip[oh * g.out[1] + ow] =
              window_argmax(xp, p.sh, p.sw, {oh * g.stride[0] - g.pad[0], g.kernel[0], g.dilation[0], p.H},
                            {ow * g.stride[1] - g.pad[1], g.kernel[1], g.dilation[1], p.W});
    });
  });
}

// Outputs: the window maxima and their flat indices in the plane (the windows of
// adaptive_avg_pool2d).
void adaptive_max_pool2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Planes p = planes_of(x);
  const int64_t OH = out[0].size(-2), OW = out[0].size(-1);
  int64_t* id = out[1].data_ptr<int64_t>();
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "adaptive_max_pool2d", [&]<typename T>() {
    T* yd = out[0].data_ptr<T>();
    for_plane_indices<T>(x, p, [&](const T* xp, int64_t q) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, p.H, OH), h1 = adaptive_end(oh, p.H, OH);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, p.W, OW), w1 = adaptive_end(ow, p.W, OW);
          const int64_t arg = window_argmax(xp, p.sh, p.sw, {h0, h1 - h0, 1, p.H}, {w0, w1 - w0, 1, p.W});
          const int64_t o = q * OH * OW + oh * OW + ow;
          id[o] = arg;
          yd[o] = xp[(arg / p.W) * p.sh + (arg % p.W) * p.sw];
        }
      }
    });
  });
}

}  // namespace

void reference_pooling_kernels() {
  register_kernel(OpId::max_pool2d, Backend::Reference, {max_pool2d_kernel});
  register_kernel(OpId::avg_pool2d, Backend::Reference, {avg_pool2d_kernel});
  register_kernel(OpId::adaptive_avg_pool2d, Backend::Reference, {adaptive_avg_pool2d_kernel});
  register_kernel(OpId::adaptive_max_pool2d, Backend::Reference, {adaptive_max_pool2d_kernel});
  register_kernel(OpId::max_pool2d_indices, Backend::Reference, {max_pool2d_indices_kernel});
  reference_pooling_backward_kernels();
}

}  // namespace doppel::registration
