// 2-d pooling: max_pool2d (and its indices), avg_pool2d, adaptive_avg_pool2d and
// adaptive_max_pool2d on [N, C, H, W] or [C, H, W] inputs, with PyTorch's output-size rules,
// and their backward ops.
#include <algorithm>
#include <optional>

#include "doppel/kernels/op_attrs/pooling.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// quantized_ok: int8/uint8 are accepted too (max and average pooling of quantized graphs keep
// the input's scale and zero point).
void check_input(const OpCall& c, bool quantized_ok = false) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() == 3 || x.dim() == 4, "{}: input must be [N, C, H, W] or [C, H, W], got {}", c.name(),
                     shape_str(x.shape()));
  // As in PyTorch, only the batch dim may be empty.
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    DOPPEL_CHECK_SHAPE(x.shape()[size_t(d)] > 0, "{}: input {} has an empty non-batch dim", c.name(),
                       shape_str(x.shape()));
  const bool quantized = x.dtype() == DType::Int8 || x.dtype() == DType::UInt8;
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()) || (quantized_ok && quantized),
                     "{}: dtype {} is not supported (use a floating dtype{})", c.name(), dtype_name(x.dtype()),
                     quantized_ok ? ", int8 or uint8" : "");
}

void check_pair(const OpCall& c, IntList v, const char* name, bool allow_empty) {
  DOPPEL_CHECK(v.size() == 1 || v.size() == 2 || (allow_empty && v.empty()),
               "{}: {} must have 1 or 2 entries{}, got {}", c.name(), name, allow_empty ? " (or none)" : "",
               shape_str(v));
}

Shape out_shape(const Tensor& x, int64_t oh, int64_t ow) {
  Shape s = x.shape();
  s[size_t(x.dim() - 2)] = oh;
  s[size_t(x.dim() - 1)] = ow;
  return s;
}

void set_window_output(const OpCall& c, std::span<OutputMeta> out, const Pool2dGeometry& g) {
  const Tensor& x = c.in(0);
  for (int d = 0; d < 2; ++d) {
    DOPPEL_CHECK(g.kernel[d] >= 1 && g.stride[d] >= 1 && g.dilation[d] >= 1,
                 "{}: kernel_size, stride and dilation must be positive, got kernel {}x{}, stride {}x{}, dilation "
                 "{}x{}",
                 c.name(), g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.dilation[0], g.dilation[1]);
    DOPPEL_CHECK(g.pad[d] >= 0 && g.pad[d] <= g.kernel[d] / 2,
                 "{}: padding must be between 0 and half the kernel size, got padding {}x{} for kernel {}x{}", c.name(),
                 g.pad[0], g.pad[1], g.kernel[0], g.kernel[1]);
    DOPPEL_CHECK_SHAPE(g.out[d] >= 1,
                       "{}: output size is too small for input {} (kernel {}x{}, stride {}x{}, padding {}x{}, "
                       "dilation {}x{}): computed output {}x{}",
                       c.name(), shape_str(x.shape()), g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.pad[0],
                       g.pad[1], g.dilation[0], g.dilation[1], g.out[0], g.out[1]);
  }
  out[0].shape = out_shape(x, g.out[0], g.out[1]);
  out[0].dtype = x.dtype();
}

// avg_pool2d has no dilation (nullopt: 1).
Pool2dGeometry geometry(const OpCall& c, IntList kernel, IntList stride, IntList padding,
                        std::optional<IntList> dilation, bool ceil_mode) {
  const Tensor& x = c.in(0);
  check_pair(c, kernel, "kernel_size", false);
  check_pair(c, stride, "stride", true);
  check_pair(c, padding, "padding", false);
  if (dilation) check_pair(c, *dilation, "dilation", false);
  return resolve_pool2d(x.shape()[size_t(x.dim() - 2)], x.shape()[size_t(x.dim() - 1)], kernel, stride, padding,
                        dilation.value_or(IntList()), ceil_mode);
}

void infer_max_pool2d(const OpCall& c, std::span<OutputMeta> out) {
  check_input(c, c.op == OpId::max_pool2d);
  const auto a = MaxPoolAttrs::of(c.attrs);
  set_window_output(c, out, geometry(c, a.kernel_size, a.stride, a.padding, IntList(a.dilation), a.ceil_mode));
}

void infer_avg_pool2d(const OpCall& c, std::span<OutputMeta> out) {
  check_input(c, c.op == OpId::avg_pool2d);
  const auto a = AvgPoolAttrs::of(c.attrs);
  // The padding of a quantized input is the real value 0, its zero point, which the op does not
  // know: windows that count padding would average raw 0s.
  DOPPEL_CHECK(is_floating(c.in(0).dtype()) || !a.count_include_pad ||
                   std::ranges::all_of(a.padding, [](int64_t p) { return p == 0; }),
               "avg_pool2d: an int8/uint8 input with padding needs count_include_pad=False (the padding would "
               "count as the integer 0, not the zero point); dequantize first or pass count_include_pad=False");
  DOPPEL_CHECK(!a.divisor_override || *a.divisor_override != 0, "avg_pool2d: divisor_override must be non-zero");
  set_window_output(c, out, geometry(c, a.kernel_size, a.stride, a.padding, std::nullopt, a.ceil_mode));
}

void infer_adaptive_pool2d(const OpCall& c, std::span<OutputMeta> out) {
  check_input(c);
  const Shape os = AdaptivePoolAttrs::of(c.attrs).output_size;
  check_pair(c, os, "output_size", false);
  const auto o = pool_pair(os, {});
  DOPPEL_CHECK(o[0] >= 0 && o[1] >= 0, "{}: output_size must be non-negative, got {}", c.name(), shape_str(os));
  out[0].shape = out_shape(c.in(0), o[0], o[1]);
  out[0].dtype = c.in(0).dtype();
  if (c.op == OpId::adaptive_max_pool2d) out[1] = {out[0].shape, DType::Int64, out[0].device};
}

// The flat (h * W + w) int64 index of each window's maximum in its plane, as PyTorch's
// max_pool2d(return_indices=True).
void infer_max_pool2d_indices(const OpCall& c, std::span<OutputMeta> out) {
  infer_max_pool2d(c, out);
  out[0].dtype = DType::Int64;
}

// The backward ops take (grad_out, input[, indices]) and the forward's attributes: the forward call on
// `input` is re-inferred (same checks, messages naming the backward op) and grad_out must have
// its output's shape; the result is the gradient w.r.t. input.
template <InferFn forward>
void infer_pool_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &go = c.in(0), &x = c.in(1);
  OutputMeta fwd[1];
  forward(OpCall{c.op, std::span<const Tensor>(&x, 1), c.attrs}, std::span<OutputMeta>(fwd, 1));
  DOPPEL_CHECK_SHAPE(go.shape() == fwd[0].shape, "{}: grad_out {} must have the forward output's shape {} (input {})",
                     c.name(), shape_str(go.shape()), shape_str(fwd[0].shape), shape_str(x.shape()));
  DOPPEL_CHECK_DTYPE(go.dtype() == x.dtype(), "{}: grad_out dtype {} differs from input dtype {}", c.name(),
                     dtype_name(go.dtype()), dtype_name(x.dtype()));
  if (c.op == OpId::adaptive_max_pool2d_backward)
    DOPPEL_CHECK_DTYPE(c.in(2).dtype() == DType::Int64 && c.in(2).shape() == go.shape(),
                       "adaptive_max_pool2d_backward: indices must be int64 of grad_out's shape {}, got {} {}",
                       shape_str(go.shape()), dtype_name(c.in(2).dtype()), shape_str(c.in(2).shape()));
  out[0].shape = x.shape();
  out[0].dtype = x.dtype();
}

// A pooling op on (input) or a pooling backward op on (grad_out, input[, indices]); by default
// only input 0 is differentiable. Max pooling's gradient is piecewise constant in the input
// (zero derivative almost everywhere, as PyTorch's derivative formula says) and the average
// pools read only the input's shape.
OpDef pool(int inputs, std::span<const AttrSpec> attrs, InferFn infer, uint32_t differentiable = 1) {
  return OpDef{.min_inputs = inputs,
               .max_inputs = inputs,
               .attrs = attrs,
               .infer = infer,
               .differentiable_inputs = differentiable};
}

}  // namespace

void define_pooling_ops(OpDef* table) {
  table[int(OpId::max_pool2d)] = pool(1, MaxPoolAttrs::kSpec, infer_max_pool2d);
  table[int(OpId::avg_pool2d)] = pool(1, AvgPoolAttrs::kSpec, infer_avg_pool2d);
  table[int(OpId::adaptive_avg_pool2d)] = pool(1, AdaptivePoolAttrs::kSpec, infer_adaptive_pool2d);
  // Outputs: the values and their int64 flat indices in the plane.
  table[int(OpId::adaptive_max_pool2d)] = pool(1, AdaptivePoolAttrs::kSpec, infer_adaptive_pool2d);
  table[int(OpId::adaptive_max_pool2d)].num_outputs = 2;
  table[int(OpId::max_pool2d_indices)] = pool(1, MaxPoolAttrs::kSpec, infer_max_pool2d_indices, 0);
  table[int(OpId::max_pool2d_backward)] = pool(2, MaxPoolAttrs::kSpec, infer_pool_backward<infer_max_pool2d>);
  table[int(OpId::avg_pool2d_backward)] = pool(2, AvgPoolAttrs::kSpec, infer_pool_backward<infer_avg_pool2d>);
  table[int(OpId::adaptive_avg_pool2d_backward)] =
      pool(2, AdaptivePoolAttrs::kSpec, infer_pool_backward<infer_adaptive_pool2d>);
  // (grad_out, input, indices): grad_out scattered to the forward's indices (the input gives
  // the shape and is checked like the forward's).
  table[int(OpId::adaptive_max_pool2d_backward)] =
      pool(3, AdaptivePoolAttrs::kSpec, infer_pool_backward<infer_adaptive_pool2d>);
}

}  // namespace doppel::registration
