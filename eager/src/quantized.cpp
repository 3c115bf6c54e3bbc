// Eager quantize/dequantize and int8 kernels: build the op's inputs in its order and dispatch.
#include "doppel/ops/quantized.h"

#include "doppel/autograd.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {

// The quantized ops are not differentiable: refuse inputs that would need a gradient.
void refuse_grad(std::string_view op, std::initializer_list<Tensor> inputs) {
  for (const Tensor& t : inputs)
    DOPPEL_CHECK(!(t.defined() && t.requires_grad() && grad_mode_enabled()),
                 "{}: not differentiable (quantization-aware training is not supported); call it under no_grad or "
                 "on a detached tensor",
                 op);
}

}  // namespace

Tensor quantize(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int64_t axis, DType dtype,
                SourceLoc loc) {
  CallSiteScope s(loc);
  refuse_grad("quantize", {x});
  return dispatch1(OpId::quantize, {x, scale, zero_point}, QuantizeAttrs{.axis = axis, .dtype = dtype}.pack());
}

Tensor quantize_per_tensor(const Tensor& x, double scale, int64_t zero_point, DType dtype, SourceLoc loc) {
  CallSiteScope s(loc);
  const Tensor sc = scalar(scale, DType::Float32).to(x.device()), zp = scalar(zero_point, DType::Int32).to(x.device());
  return quantize(x, sc, zp, 0, dtype);
}

Tensor quantize_per_channel(const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis, DType dtype,
                            SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(scales.dim() == 1, "quantize_per_channel: scales must be 1-d [C], got shape {}",
                     shape_str(scales.shape()));
  return quantize(x, to_dtype(scales, DType::Float32), to_dtype(zero_points, DType::Int32), axis, dtype);
}

Tensor dequantize(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t axis, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::dequantize, {q, scale, zero_point}, DequantizeAttrs{.axis = axis}.pack());
}

Tensor quantized_linear(const QTensor& x, const QTensor& w, const Tensor& bias, const QOutput& out, bool relu,
                        SourceLoc loc) {
  CallSiteScope s(loc);
  refuse_grad("quantized_linear", {bias});
  return dispatch1(OpId::quantized_linear,
                   {x.q, x.scale, x.zero_point, w.q, w.scale, w.zero_point, out.scale, out.zero_point, bias},
                   QuantizedLinearAttrs{.relu = relu, .out_dtype = out.dtype}.pack());
}

Tensor quantized_conv2d(const QTensor& x, const QTensor& w, const Tensor& bias, const QOutput& out, IntList stride,
                        IntList padding, IntList dilation, int64_t groups, bool relu, const QTensor& residual,
                        SourceLoc loc) {
  CallSiteScope s(loc);
  refuse_grad("quantized_conv2d", {bias});
  std::vector<Tensor> in{x.q, x.scale, x.zero_point, w.q, w.scale, w.zero_point, out.scale, out.zero_point, bias};
  if (residual.q.defined()) in.insert(in.end(), {residual.q, residual.scale, residual.zero_point});
  return dispatch1(OpId::quantized_conv2d, in,
                   QuantizedConv2dAttrs{.stride = stride,
                                        .padding = padding,
                                        .dilation = dilation,
                                        .groups = groups,
                                        .relu = relu,
                                        .out_dtype = out.dtype}
                       .pack());
}

Tensor quantized_add(const QTensor& a, const QTensor& b, const QOutput& out, bool relu, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::quantized_add,
                   {a.q, a.scale, a.zero_point, b.q, b.scale, b.zero_point, out.scale, out.zero_point},
                   QuantizedAddAttrs{.relu = relu, .out_dtype = out.dtype}.pack());
}

Tensor quantized_cat(const std::vector<QTensor>& xs, const QOutput& out, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  std::vector<Tensor> in{out.scale, out.zero_point};
  for (const QTensor& x : xs) in.insert(in.end(), {x.q, x.scale, x.zero_point});
  return dispatch1(OpId::quantized_cat, in, QuantizedCatAttrs{.dim = dim, .out_dtype = out.dtype}.pack());
}

Tensor dynamic_quantized_linear(const Tensor& x, const Tensor& w, const Tensor& w_scale, const Tensor& bias,
                                bool reduce_range, SourceLoc loc) {
  CallSiteScope s(loc);
  refuse_grad("dynamic_quantized_linear", {x, bias});
  return dispatch1(OpId::dynamic_quantized_linear, {x, w, w_scale, bias},
                   DynamicQuantizedLinearAttrs{.reduce_range = reduce_range}.pack());
}

}  // namespace doppel
