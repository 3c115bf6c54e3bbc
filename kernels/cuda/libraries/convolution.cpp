// cuDNN kernels of convolution (1-3 spatial dims, groups, dilation, padding, stride, transposed
// with output_padding), convolution_backward (grad_input, grad_weight, grad_bias per the output
// mask) and fused_conv2d. Inputs are made packed NCHW first (the CUDA copy kernel, only when not
// already contiguous). The bias is added and grad_bias reduced by the add and sum CUDA kernels
// through the kernel table; fused_conv2d is one cudnnConvolutionBiasActivationForward call for
// float32 relu with a bias, else the convolution followed by the residual add and the
// activation's own CUDA kernels.
#include <vector>

#include "cuda/libraries/conv_plan.h"
#include "cuda/libraries/library_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_attrs/reduction.h"

namespace doppel::cuda {

void cuda_convolution_kernels();  // registration.cpp

namespace {

struct ConvAttrs {
  Shape stride, pad, dilation;
  int64_t groups;
  bool transposed;
};
// convolution's attributes, or the leading ones of convolution_backward.
ConvAttrs conv_attrs(const OpCall& c) {
  const auto a = ConvolutionAttrs::of_prefix(c.attrs);
  return {a.stride, a.padding, a.dilation, a.groups, a.transposed};
}

// The forward convolution of a call on (input, weight) with output shape `out`: for a transposed
// convolution its output is cuDNN's input (see conv_plan.h).
ConvShape shape_of(const ConvAttrs& a, DType t, IntList input, IntList weight, IntList out) {
  return a.transposed ? conv_shape(t, out, weight, input, a.pad, a.stride, a.dilation, a.groups)
                      : conv_shape(t, input, weight, out, a.pad, a.stride, a.dilation, a.groups);
}

void* ptr(const Tensor& t) { return t.raw_data(); }

// y += bias[c] over every other dim, in place through the add kernel.
void add_channel_bias(const Tensor& y, const Tensor& bias) {
  Shape shape(size_t(y.dim() - 1), 1), strides(size_t(y.dim() - 1), 0);
  shape[0] = bias.size(0);
  strides[0] = bias.stride(0);
  const Tensor in[2] = {y, make_view(bias, shape, strides, bias.storage_offset())};
  run_cuda_op(OpId::add, in, Attrs{}, std::span<const Tensor>(&y, 1));
}

// y = conv(x, w) (+ bias) for a forward or transposed convolution.
void convolve(const ConvAttrs& a, const Tensor& x0, const Tensor& w0, const Tensor& bias, const Tensor& y) {
  const Tensor x = contiguous_cuda(x0), w = contiguous_cuda(w0);
  const ConvShape s = shape_of(a, y.dtype(), x.shape(), w.shape(), y.shape());
  if (a.transposed)
    run_conv(s, ConvPass::backward_data, ptr(y), ptr(w), ptr(x), y.device());
  else
    run_conv(s, ConvPass::forward, ptr(x), ptr(w), ptr(y), y.device());
  if (bias.defined()) add_channel_bias(y, bias);
}

void convolution_kernel(const OpCall& c, std::span<const Tensor> out) {
  convolve(conv_attrs(c), c.in(0), c.in(1), optional_input(c, 2), out[0]);
}

void convolution_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const ConvAttrs a = conv_attrs(c);
  const Shape mask = ConvolutionBackwardAttrs::of(c.attrs).output_mask;
  const Tensor go = contiguous_cuda(c.in(0)), x = contiguous_cuda(c.in(1)), w = contiguous_cuda(c.in(2));
  const ConvShape s = shape_of(a, x.dtype(), x.shape(), w.shape(), go.shape());
  // cuDNN's forward input and output: (x, grad_out), or (grad_out, x) when transposed.
  const Tensor& cx = a.transposed ? go : x;
  const Tensor& cy = a.transposed ? x : go;
  if (mask[0]) {
    if (a.transposed)
      run_conv(s, ConvPass::forward, ptr(go), ptr(w), ptr(out[0]), go.device());
    else
      run_conv(s, ConvPass::backward_data, ptr(out[0]), ptr(w), ptr(go), go.device());
  }
  if (mask[1]) run_conv(s, ConvPass::backward_filter, ptr(cx), ptr(out[1]), ptr(cy), go.device());
  if (mask[2]) {
    Shape dims{0};
    for (int64_t d = 2; d < go.dim(); ++d) dims.push_back(d);
    const Tensor in[1] = {go};
    run_cuda_op(OpId::sum, in, ReduceAttrs{.dims = dims, .keepdim = false}.pack(), out.subspan(2, 1));
  }
}

void fused_conv2d_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& y = out[0];
  const auto fa = FusedConv2dAttrs::of(c.attrs);
  const ConvAttrs a{fa.stride, fa.padding, fa.dilation, fa.groups, false};
  const Tensor bias = optional_input(c, 2), residual = optional_input(c, 3);
  const auto act = FusedActivation(fa.activation);
  if (act == FusedActivation::relu && bias.defined() && y.dtype() == DType::Float32) {
    const Tensor x = contiguous_cuda(c.in(0)), w = contiguous_cuda(c.in(1)), b = contiguous_cuda(bias);
    const Tensor z = residual.defined() ? contiguous_cuda(residual) : Tensor();
    const ConvShape s = shape_of(a, y.dtype(), x.shape(), w.shape(), y.shape());
    run_conv_bias_relu(s, ptr(x), ptr(w), ptr(b), z.defined() ? ptr(z) : nullptr, ptr(y), y.device());
    return;
  }
  convolve(a, c.in(0), c.in(1), bias, y);
  // In place: y and each result share one layout, so every element is read before it is written.
  if (residual.defined()) {
    const Tensor in[2] = {y, residual};
    run_cuda_op(OpId::add, in, Attrs{}, std::span<const Tensor>(&y, 1));
  }
  if (const auto u = unfused_activation(act, fa.alpha, fa.beta)) {
    const Tensor in[1] = {y};
    run_cuda_op(u->op, in, u->attrs, std::span<const Tensor>(&y, 1));
  }
}

}  // namespace

void cuda_convolution_kernels() {
  register_kernel(OpId::convolution, Backend::CUDA, {convolution_kernel, all_library_float});
  register_kernel(OpId::convolution_backward, Backend::CUDA, {convolution_backward_kernel, all_library_float});
  register_kernel(OpId::fused_conv2d, Backend::CUDA, {fused_conv2d_kernel, all_library_float});
}

}  // namespace doppel::cuda
