// Blocked-layout ops (to_blocked, from_blocked, blocked_conv2d, blocked_max_pool2d): produced by
// the layout-propagation pass for inference graphs, not differentiable. Shape inference of the
// conv and pool variants runs the plain op's inference on the equivalent plain shape (a
// metadata-only tensor), so they accept and reject exactly what convolution / max_pool2d do.
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "registration.h"

namespace doppel::registration {
namespace {

int64_t blocks_of(int64_t channels, int64_t block) { return (channels + block - 1) / block; }

// Shape and dtype only: the inference functions read nothing else.
Tensor meta_like(IntList shape, DType dtype, Device device) {
  return from_blob(nullptr, shape, contiguous_strides(shape), dtype, device);
}

void check_block(const OpCall& c, int64_t block) {
  DOPPEL_CHECK(block >= 1, "{}: block must be at least 1, got {}", c.name(), block);
}

// The plain [N, Cb*b, H, W] shape covering a blocked tensor (padded channels included).
Shape padded_plain_shape(const OpCall& c, const Tensor& xb) {
  DOPPEL_CHECK_SHAPE(xb.dim() == 5, "{}: blocked input must be [N, C/b, H, W, b], got {}", c.name(),
                     shape_str(xb.shape()));
  DOPPEL_CHECK_SHAPE(xb.size(4) >= 1, "{}: blocked input {} has an empty block dim", c.name(), shape_str(xb.shape()));
  return {xb.size(0), xb.size(1) * xb.size(4), xb.size(2), xb.size(3)};
}

// Runs the plain op's inference, re-throwing its errors (same type) prefixed with this op's
// name, so a user sees which op of the graph failed.
void infer_as(const OpCall& c, const OpCall& plain, std::span<OutputMeta> out) {
  try {
    op_def(plain.op).infer(plain, out);
  } catch (const ShapeError& e) {
    throw ShapeError(fmt::format("{}: {}", c.name(), e.what()));
  } catch (const DTypeError& e) {
    throw DTypeError(fmt::format("{}: {}", c.name(), e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", c.name(), e.what()));
  }
}

void infer_to_blocked(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const int64_t b = ToBlockedAttrs::of(c.attrs).block;
  check_block(c, b);
  DOPPEL_CHECK_SHAPE(x.dim() == 4, "{}: input must be [N, C, H, W], got {}", c.name(), shape_str(x.shape()));
  out[0].shape = {x.size(0), blocks_of(x.size(1), b), x.size(2), x.size(3), b};
  out[0].dtype = x.dtype();
}

void infer_from_blocked(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  padded_plain_shape(c, x);
  const int64_t ch = FromBlockedAttrs::of(c.attrs).channels, b = x.size(4);
  DOPPEL_CHECK_SHAPE(ch >= 0 && blocks_of(ch, b) == x.size(1),
                     "{}: {} channels do not fill blocked input {} ({} blocks of {} need {} to {} channels)", c.name(),
                     ch, shape_str(x.shape()), x.size(1), b, x.size(1) == 0 ? 0 : (x.size(1) - 1) * b + 1,
                     x.size(1) * b);
  out[0].shape = {x.size(0), ch, x.size(2), x.size(3)};
  out[0].dtype = x.dtype();
}

void infer_blocked_conv2d(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const auto a = BlockedConv2dAttrs::of(c.attrs);
  const int64_t b = a.block;
  check_block(c, b);
  DOPPEL_CHECK_SHAPE(w.dim() == 4, "{}: weight must be [Cout, Cin, kh, kw], got {}", c.name(), shape_str(w.shape()));
  Shape plain;
  if (x.dim() == 5) {
    DOPPEL_CHECK_SHAPE(x.size(4) == b, "{}: blocked input {} has blocks of {}, the op's block is {}", c.name(),
                       shape_str(x.shape()), x.size(4), b);
    DOPPEL_CHECK_SHAPE(blocks_of(w.size(1), b) == x.size(1),
                       "{}: blocked input {} has {} channel blocks, weight {} needs {} (block {})", c.name(),
                       shape_str(x.shape()), x.size(1), shape_str(w.shape()), blocks_of(w.size(1), b), b);
    plain = {x.size(0), w.size(1), x.size(2), x.size(3)};
  } else {
    DOPPEL_CHECK_SHAPE(x.dim() == 4, "{}: input must be [N, C, H, W] or blocked [N, C/b, H, W, b], got {}", c.name(),
                       shape_str(x.shape()));
    plain = x.shape();
  }
  // The equivalent fused_conv2d call (groups 1) checks the geometry, bias, dtypes, activation.
  const Tensor px = meta_like(plain, x.dtype(), x.device());
  Tensor inputs[3] = {px, w, c.inputs.size() > 2 ? c.in(2) : Tensor()};
  const Attrs fa = fused_conv2d_of(a).pack();
  OutputMeta plain_out[1];
  const OpCall fc{OpId::fused_conv2d, std::span<const Tensor>(inputs, 3), fa};
  infer_as(c, fc, std::span<OutputMeta>(plain_out, 1));
  const Shape& s = plain_out[0].shape;
  out[0].shape = {s[0], blocks_of(s[1], b), s[2], s[3], b};
  out[0].dtype = plain_out[0].dtype;
  // The residual (added before the activation, as fused_conv2d's) is blocked like the output.
  if (c.inputs.size() > 3 && c.in(3).defined()) {
    const Tensor& r = c.in(3);
    DOPPEL_CHECK_SHAPE(r.shape() == out[0].shape, "{}: residual {} must have the blocked output's shape {}", c.name(),
                       shape_str(r.shape()), shape_str(out[0].shape));
    DOPPEL_CHECK_DTYPE(r.dtype() == out[0].dtype, "{}: residual is {} but the output is {}", c.name(),
                       dtype_name(r.dtype()), dtype_name(out[0].dtype));
  }
}

void infer_blocked_max_pool2d(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor px = meta_like(padded_plain_shape(c, x), x.dtype(), x.device());
  OutputMeta plain_out[1];
  const Tensor inputs[1] = {px};
  infer_as(c, OpCall{OpId::max_pool2d, inputs, c.attrs}, std::span<OutputMeta>(plain_out, 1));
  const Shape& s = plain_out[0].shape;
  out[0].shape = {x.size(0), x.size(1), s[2], s[3], x.size(4)};
  out[0].dtype = x.dtype();
}

}  // namespace

void define_layout_ops(OpDef* table) {
  table[int(OpId::to_blocked)] =
      OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = ToBlockedAttrs::kSpec, .infer = infer_to_blocked};
  table[int(OpId::from_blocked)] =
      OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = FromBlockedAttrs::kSpec, .infer = infer_from_blocked};
  table[int(OpId::blocked_conv2d)] =
      OpDef{.min_inputs = 2, .max_inputs = 4, .attrs = BlockedConv2dAttrs::kSpec, .infer = infer_blocked_conv2d};
  table[int(OpId::blocked_max_pool2d)] =
      OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = MaxPoolAttrs::kSpec, .infer = infer_blocked_max_pool2d};
}

}  // namespace doppel::registration
