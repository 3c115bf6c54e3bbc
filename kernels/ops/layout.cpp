// Blocked-layout ops (to_blocked, from_blocked, blocked_conv2d, blocked_max_pool2d and the
// backward ops of the last two, and the 2x2 pools' winners ops): produced by the
// layout-propagation pass, not differentiable.
// Shape inference of the conv and pool variants runs the plain op's inference on the equivalent
// plain shapes (metadata-only tensors), so they accept and reject exactly what convolution /
// max_pool2d and their backward ops do.
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
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
    // The input's block (its last dim) may differ from the output's (`block`).
    const int64_t bin = x.size(4);
    DOPPEL_CHECK_SHAPE(bin >= 1 && blocks_of(w.size(1), bin) == x.size(1),
                       "{}: blocked input {} has {} channel blocks of {}, weight {} needs {}", c.name(),
                       shape_str(x.shape()), x.size(1), bin, shape_str(w.shape()),
                       bin >= 1 ? blocks_of(w.size(1), bin) : 0);
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

// The plain [N, channels, H, W] shape of blocked value `xb` whose block must be b and whose
// channel blocks must hold `channels`; `what` names the operand in errors.
Shape plain_shape_of(const OpCall& c, const Tensor& xb, int64_t channels, int64_t b, const char* what) {
  DOPPEL_CHECK_SHAPE(xb.dim() == 5 && xb.size(4) == b && blocks_of(channels, b) == xb.size(1),
                     "{}: {} must be blocked [N, {}, H, W, {}] ({} channels in blocks of {}), got {}", c.name(), what,
                     blocks_of(channels, b), b, channels, b, shape_str(xb.shape()));
  return {xb.size(0), channels, xb.size(2), xb.size(3)};
}

// Inputs (grad_out blocked, x plain or blocked, w): convolution_backward's checks on the plain
// shapes; grad_input takes x's (blocked or plain) shape.
void infer_blocked_conv2d_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &gy = c.in(0), &x = c.in(1), &w = c.in(2);
  DOPPEL_CHECK_SHAPE(w.dim() == 4, "{}: weight must be [Cout, Cin, kh, kw], got {}", c.name(), shape_str(w.shape()));
  DOPPEL_CHECK_SHAPE(gy.dim() == 5 && gy.size(4) >= 1, "{}: grad_out must be blocked [N, C/b, H, W, b], got {}",
                     c.name(), shape_str(gy.shape()));
  const int64_t b = gy.size(4);
  const Shape pgy = plain_shape_of(c, gy, w.size(0), b, "grad_out");
  DOPPEL_CHECK_SHAPE(x.dim() == 4 || x.dim() == 5,
                     "{}: input must be [N, C, H, W] or blocked [N, C/b, H, W, b], got {}", c.name(),
                     shape_str(x.shape()));
  const Shape px = x.dim() == 5 ? plain_shape_of(c, x, w.size(1), b, "blocked input") : x.shape();
  const Tensor inputs[3] = {meta_like(pgy, gy.dtype(), gy.device()), meta_like(px, x.dtype(), x.device()), w};
  const auto a = BlockedConv2dBackwardAttrs::of(c.attrs);
  const Attrs ca = convolution_backward_of(a).pack();
  OutputMeta plain_out[3];
  infer_as(c, OpCall{OpId::convolution_backward, inputs, ca}, plain_out);
  for (size_t k = 0; k < 3; ++k) out[k] = plain_out[k];
  if (a.output_mask[0]) out[0].shape = x.shape();
}

// Inputs (grad_out, x), both blocked with the same block: max_pool2d's checks on the padded
// plain shape; grad_out must have the blocked pooled shape.
void infer_blocked_max_pool2d_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &gy = c.in(0), &x = c.in(1);
  const Tensor px = meta_like(padded_plain_shape(c, x), x.dtype(), x.device());
  OutputMeta plain_out[1];
  const Tensor inputs[1] = {px};
  const Attrs pa = max_pool_of(BlockedMaxPool2dBackwardAttrs::of(c.attrs)).pack();
  infer_as(c, OpCall{OpId::max_pool2d, inputs, pa}, std::span<OutputMeta>(plain_out, 1));
  const Shape& s = plain_out[0].shape;
  const Shape want = {x.size(0), x.size(1), s[2], s[3], x.size(4)};
  DOPPEL_CHECK_SHAPE(gy.shape() == want, "{}: grad_out {} must have the blocked pooled shape {} of input {}", c.name(),
                     shape_str(gy.shape()), shape_str(want), shape_str(x.shape()));
  DOPPEL_CHECK_DTYPE(gy.dtype() == x.dtype(), "{}: grad_out is {} but the input is {}", c.name(),
                     dtype_name(gy.dtype()), dtype_name(x.dtype()));
  out[0].shape = x.shape();
  out[0].dtype = x.dtype();
}

// The disjoint 2x2 geometry the winners ops take (op_attrs/layout.h), checked, of an input of
// spatial size h x w.
void check_disjoint_2x2(const OpCall& c, const MaxPoolAttrs& a, int64_t h, int64_t w) {
  const Pool2dGeometry g = resolve_pool2d(h, w, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
  DOPPEL_CHECK(disjoint_2x2(g, h, w),
               "{}: only disjoint 2x2 windows (kernel 2, stride 2, no padding or dilation, floor mode) over "
               "{}x{}; use blocked_max_pool2d_backward for other pools",
               c.name(), h, w);
}

// A blocked [N, Cb, H, W, b] operand of dtype dt; `what` names it in errors.
void check_blocked(const OpCall& c, const Tensor& t, DType dt, const char* what) {
  DOPPEL_CHECK_SHAPE(t.dim() == 5, "{}: {} must be blocked [N, Cb, H, W, b], got {}", c.name(), what,
                     shape_str(t.shape()));
  DOPPEL_CHECK_DTYPE(t.dtype() == dt, "{}: {} must be {}, got {}", c.name(), what, dtype_name(dt),
                     dtype_name(t.dtype()));
}

void infer_blocked_max_pool2d_winners(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  check_blocked(c, x, DType::Float32, "input");
  check_disjoint_2x2(c, MaxPoolAttrs::of(c.attrs), x.size(2), x.size(3));
  out[0].shape = {x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2, x.size(4)};
  out[0].dtype = DType::Float32;
  out[1].shape = x.shape();
  out[1].dtype = DType::UInt8;
}

// Inputs (grad_out, pooled output, winners).
void infer_blocked_max_pool2d_backward_winners(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &gy = c.in(0), &y = c.in(1), &w = c.in(2);
  check_blocked(c, gy, DType::Float32, "grad_out");
  check_blocked(c, y, DType::Float32, "pooled output");
  check_blocked(c, w, DType::UInt8, "winners");
  check_disjoint_2x2(c, max_pool_of(BlockedMaxPool2dBackwardAttrs::of(c.attrs)), w.size(2), w.size(3));
  const Shape want = {w.size(0), w.size(1), w.size(2) / 2, w.size(3) / 2, w.size(4)};
  DOPPEL_CHECK_SHAPE(gy.shape() == want && y.shape() == want,
                     "{}: grad_out {} and pooled output {} must have the pooled shape {} of winners {}", c.name(),
                     shape_str(gy.shape()), shape_str(y.shape()), shape_str(want), shape_str(w.shape()));
  out[0].shape = w.shape();
  out[0].dtype = DType::Float32;
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
  table[int(OpId::blocked_conv2d_backward)] = OpDef{.min_inputs = 3,
                                                    .max_inputs = 3,
                                                    .num_outputs = 3,
                                                    .attrs = BlockedConv2dBackwardAttrs::kSpec,
                                                    .infer = infer_blocked_conv2d_backward};
  table[int(OpId::blocked_max_pool2d_backward)] = OpDef{.min_inputs = 2,
                                                        .max_inputs = 2,
                                                        .attrs = BlockedMaxPool2dBackwardAttrs::kSpec,
                                                        .infer = infer_blocked_max_pool2d_backward};
  table[int(OpId::blocked_max_pool2d_winners)] = OpDef{.min_inputs = 1,
                                                       .max_inputs = 1,
                                                       .num_outputs = 2,
                                                       .attrs = MaxPoolAttrs::kSpec,
                                                       .infer = infer_blocked_max_pool2d_winners};
  table[int(OpId::blocked_max_pool2d_backward_winners)] = OpDef{.min_inputs = 3,
                                                                .max_inputs = 3,
                                                                .attrs = BlockedMaxPool2dBackwardAttrs::kSpec,
                                                                .infer = infer_blocked_max_pool2d_backward_winners};
}

}  // namespace doppel::registration
