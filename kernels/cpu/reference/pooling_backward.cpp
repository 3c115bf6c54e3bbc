// Reference kernels of the 2-d pooling backward ops: each output gradient is scattered back over
// its window (max: to the window's argmax as PyTorch picks it, see max_window.h; adaptive max:
// to the forward's indices; average: divided by the forward's divisor). One plane per task, so
// the scatter has no races.
#include <algorithm>
#include <cstring>
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/parallel.h"
#include "max_pool_2x2.h"
#include "max_window.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// Inputs (grad_out, input): grad_out is made contiguous; the input is read through its strides;
// the output grad_input is contiguous like grad_out's planes.
struct PlaneGeom {
  int64_t C = 0, P = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;  // strides of the input
};

PlaneGeom plane_geom(const Tensor& x, const Tensor& go) {
  const int64_t nd = x.dim();
  PlaneGeom p;
  p.C = x.size(nd - 3);
  p.H = x.size(nd - 2);
  p.W = x.size(nd - 1);
  p.P = x.numel() / (p.H * p.W);
  p.OH = go.size(nd - 2);
  p.OW = go.size(nd - 1);
  p.sn = nd == 4 ? x.stride(0) : 0;
  p.sc = x.stride(nd - 3);
  p.sh = x.stride(nd - 2);
  p.sw = x.stride(nd - 1);
  return p;
}

// Runs body(input_plane, grad_out_plane, acc_plane) per plane; acc (double, zeroed) is written
// to the output plane afterwards.
template <typename T, typename Body>
void for_planes(const Tensor& x, const Tensor& go, const Tensor& gi, const PlaneGeom& p, Body&& body) {
  const T* xd = x.data_ptr<T>();
  const T* gd = go.data_ptr<T>();
  T* od = gi.data_ptr<T>();
  // Tiny problems (gradcheck's) run inline rather than paying for a parallel region.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, p.H * p.W + p.OH * p.OW));
  parallel_for(0, p.P, grain, [&](int64_t b, int64_t e) {
    std::vector<double> acc(size_t(p.H * p.W));
    for (int64_t q = b; q < e; ++q) {
      std::fill(acc.begin(), acc.end(), 0.0);
      body(xd + (q / p.C) * p.sn + (q % p.C) * p.sc, gd + q * p.OH * p.OW, acc.data());
      T* op = od + q * p.H * p.W;
      for (int64_t i = 0; i < p.H * p.W; ++i) op[i] = T(compute_t<T>(acc[size_t(i)]));
    }
  });
}

void max_pool2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_of(c.in(0));
  const Tensor& x = c.in(1);
  if (out[0].numel() == 0) return;
  const PlaneGeom p = plane_geom(x, go);
  const auto a = MaxPoolAttrs::of(c.attrs);
  const Pool2dGeometry g = resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
  if (x.dtype() == DType::Float32 && x.is_contiguous() && disjoint_2x2(g, p.H, p.W))
    return max_pool_2x2::backward(go.data_ptr<float>(), x.data_ptr<float>(), out[0].data_ptr<float>(), p.P, p.H, p.W);
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "max_pool2d_backward", [&]<typename T>() {
    for_planes<T>(x, go, out[0], p, [&](const T* xp, const T* gp, double* acc) {
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const int64_t arg =
              window_argmax(xp, p.sh, p.sw, {oh * g.stride[0] - g.pad[0], g.kernel[0], g.dilation[0], p.H},
                            {ow * g.stride[1] - g.pad[1], g.kernel[1], g.dilation[1], p.W});
          if (arg >= 0) acc[arg] += double(compute_t<T>(gp[oh * p.OW + ow]));
        }
    });
  });
}

// Inputs (grad_out, input, indices): each output gradient goes to the element its index names.
void adaptive_max_pool2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_of(c.in(0)), idx = contiguous_of(c.in(2));
  const Tensor& x = c.in(1);
  if (out[0].numel() == 0) return;
  const PlaneGeom p = plane_geom(x, go);
  const int64_t* id = idx.data_ptr<int64_t>();
  for (int64_t k = 0; k < idx.numel(); ++k)
    DOPPEL_CHECK_INDEX(id[k] >= 0 && id[k] < p.H * p.W,
                       "adaptive_max_pool2d_backward: index {} is out of range for a {}x{} plane", id[k], p.H, p.W);
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "adaptive_max_pool2d_backward", [&]<typename T>() {
    const T* gd = go.data_ptr<T>();
    for_planes<T>(x, go, out[0], p, [&](const T*, const T* gp, double* acc) {
      const int64_t* ip = id + (gp - gd);  // the indices have grad_out's (contiguous) layout
      for (int64_t k = 0; k < p.OH * p.OW; ++k) acc[ip[k]] += double(compute_t<T>(gp[k]));
    });
  });
}

void avg_pool2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_of(c.in(0));
  const Tensor& x = c.in(1);
  if (out[0].numel() == 0) return;
  const PlaneGeom p = plane_geom(x, go);
  const auto a = AvgPoolAttrs::of(c.attrs);
  const Pool2dGeometry g = resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, {}, a.ceil_mode);
  const bool include_pad = a.count_include_pad;
  const std::optional<int64_t> div = a.divisor_override;
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    for_planes<T>(x, go, out[0], p, [&](const T*, const T* gp, double* acc) {
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          // The same window and divisor as the forward kernel (see pooling.cpp).
          int64_t h0 = oh * g.stride[0] - g.pad[0], w0 = ow * g.stride[1] - g.pad[1];
          int64_t h1 = std::min(h0 + g.kernel[0], p.H + g.pad[0]), w1 = std::min(w0 + g.kernel[1], p.W + g.pad[1]);
          const int64_t padded_count = (h1 - h0) * (w1 - w0);
          h0 = std::max<int64_t>(h0, 0);
          w0 = std::max<int64_t>(w0, 0);
          h1 = std::min(h1, p.H);
          w1 = std::min(w1, p.W);
          if (h0 >= h1 || w0 >= w1) continue;
          const int64_t divisor = div ? *div : include_pad ? padded_count : (h1 - h0) * (w1 - w0);
          const double v = double(compute_t<T>(gp[oh * p.OW + ow])) / double(divisor);
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc[ih * p.W + iw] += v;
        }
    });
  });
}

void adaptive_avg_pool2d_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_of(c.in(0));
  const Tensor& x = c.in(1);
  if (out[0].numel() == 0) return;
  const PlaneGeom p = plane_geom(x, go);
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d_backward", [&]<typename T>() {
    for_planes<T>(x, go, out[0], p, [&](const T*, const T* gp, double* acc) {
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
          const double v = double(compute_t<T>(gp[oh * p.OW + ow])) / double((h1 - h0) * (w1 - w0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc[ih * p.W + iw] += v;
        }
      }
    });
  });
}

}  // namespace

void reference_pooling_backward_kernels() {
  register_kernel(OpId::max_pool2d_backward, Backend::Reference, {max_pool2d_backward_kernel});
  register_kernel(OpId::avg_pool2d_backward, Backend::Reference, {avg_pool2d_backward_kernel});
  register_kernel(OpId::adaptive_avg_pool2d_backward, Backend::Reference, {adaptive_avg_pool2d_backward_kernel});
  register_kernel(OpId::adaptive_max_pool2d_backward, Backend::Reference, {adaptive_max_pool2d_backward_kernel});
}

}  // namespace doppel::registration
