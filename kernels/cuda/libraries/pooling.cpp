// Host glue of the 2-d pooling kernels (pooling.cu): max_pool2d, avg_pool2d,
// adaptive_avg_pool2d and their backward ops on [C, H, W] or [N, C, H, W] inputs of any
// strides, with the window geometry every backend shares (op_attrs/pooling.h). cuDNN's pooling
// is not used: it has no dilation, ceil_mode or PyTorch's clipped average windows.
#include "doppel/kernels/op_attrs/pooling.h"
#include "cuda/libraries/library_common.h"
#include "cuda/libraries/pooling_kernels.h"
#include "doppel/kernels/kernel_table.h"

namespace doppel::cuda {

void cuda_pooling_kernels();  // registration.cpp

namespace {

// `x`'s planes read through its strides; (OH, OW) from the output (or grad_out).
PoolPlanes planes_of(const Tensor& x, const Tensor& pooled) {
  const int64_t nd = x.dim();
  PoolPlanes p;
  p.C = x.size(nd - 3);
  p.H = x.size(nd - 2);
  p.W = x.size(nd - 1);
  p.P = x.numel() / std::max<int64_t>(p.H * p.W, 1);
  p.OH = pooled.size(nd - 2);
  p.OW = pooled.size(nd - 1);
  p.sn = nd == 4 ? x.stride(0) : 0;
  p.sc = x.stride(nd - 3);
  p.sh = x.stride(nd - 2);
  p.sw = x.stride(nd - 1);
  return p;
}

PoolWindow max_window(const OpCall& c, const PoolPlanes& p) {
  const auto a = MaxPoolAttrs::of(c.attrs);
  const Pool2dGeometry g = resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
  return {g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.pad[0], g.pad[1], g.dilation[0], g.dilation[1]};
}

PoolWindow avg_window(const OpCall& c, const PoolPlanes& p) {
  const auto a = AvgPoolAttrs::of(c.attrs);
  const Pool2dGeometry g = resolve_pool2d(p.H, p.W, a.kernel_size, a.stride, a.padding, {}, a.ceil_mode);
  const std::optional<int64_t> div = a.divisor_override;
  return {g.kernel[0], g.kernel[1], g.stride[0], g.stride[1],         g.pad[0],
          g.pad[1],    1,           1,           a.count_include_pad, div.value_or(0)};
}

PoolWindow window_of(PoolKind kind, const OpCall& c, const PoolPlanes& p) {
  return kind == PoolKind::max ? max_window(c, p) : kind == PoolKind::avg ? avg_window(c, p) : PoolWindow{};
}

template <PoolKind kind>
void pool_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor &x = c.in(0), &y = out[0];
  if (y.numel() == 0) return;
  const PoolPlanes p = planes_of(x, y);
  const DeviceGuard guard(y.device().index);
  launch_pool2d(kind, x.dtype(), x.raw_data(), y.raw_data(), p, window_of(kind, c, p), stream_of(y));
}

// Inputs (grad_out, input) and the forward's attributes.
template <PoolKind kind>
void pool_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_cuda(c.in(0));
  const Tensor &x = c.in(1), &gi = out[0];
  if (gi.numel() == 0) return;
  const PoolPlanes p = planes_of(x, go);
  const DeviceGuard guard(gi.device().index);
  launch_pool2d_backward(kind, x.dtype(), x.raw_data(), go.raw_data(), gi.raw_data(), p, window_of(kind, c, p),
                         stream_of(gi));
}

bool supports_float(const OpCall& c) { return library_float(c.in(0).dtype()); }

}  // namespace

void cuda_pooling_kernels() {
  register_kernel(OpId::max_pool2d, Backend::CUDA, {pool_kernel<PoolKind::max>, supports_float});
  register_kernel(OpId::avg_pool2d, Backend::CUDA, {pool_kernel<PoolKind::avg>, supports_float});
  register_kernel(OpId::adaptive_avg_pool2d, Backend::CUDA, {pool_kernel<PoolKind::adaptive_avg>, supports_float});
  register_kernel(OpId::max_pool2d_backward, Backend::CUDA, {pool_backward_kernel<PoolKind::max>, supports_float});
  register_kernel(OpId::avg_pool2d_backward, Backend::CUDA, {pool_backward_kernel<PoolKind::avg>, supports_float});
  register_kernel(OpId::adaptive_avg_pool2d_backward, Backend::CUDA,
                  {pool_backward_kernel<PoolKind::adaptive_avg>, supports_float});
}

}  // namespace doppel::cuda
