// The quantized ops: quantize/dequantize as QuantizeLinear/DequantizeLinear, and the int8 kernels
// in QDQ form — DequantizeLinear of each operand, the float op (Gemm/MatMul, Conv, Add, Concat,
// then Relu), QuantizeLinear to the output's parameters (or the float result for out_dtype
// float32) — which onnxruntime fuses back into its int8 kernels. Zero points are int32 in doppel
// and the quantized type in ONNX: a Cast of the (constant) zero point, which onnxruntime folds.
#include "doppel/kernels/op_attrs/quantized.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {
namespace {

using namespace quantized_attrs;

std::vector<OnnxAttr> axis_attr(Emitter& e, size_t scale, int64_t axis, int64_t rank) {
  if (e.in_rank(scale) == 0) return {};
  return {OnnxAttr::of_int("axis", e.wrap(axis, rank))};
}

// The zero point at input z as ONNX wants it: of the quantized type t.
std::string zero_point(Emitter& e, size_t z, DType t) { return e.cast(e.in(z), DType::Int32, t); }

// DequantizeLinear of the int8/uint8 operand at inputs (q, s, z); per channel along `axis`.
std::string dq(Emitter& e, size_t q, size_t s, size_t z, int64_t axis, std::string out = {}) {
  return e.add("DequantizeLinear", {e.in(q), e.in(s), zero_point(e, z, e.in_dtype(q))},
               axis_attr(e, s, axis, e.in_rank(q)), std::move(out));
}

// The real result y (float32): relu, then QuantizeLinear to output 0's parameters at inputs
// (ys, yz), or y itself as the float32 output.
void finish(Emitter& e, std::string y, bool relu, size_t ys, size_t yz) {
  const bool q = e.out_dtype() != DType::Float32;
  if (relu) y = e.add("Relu", {y}, {}, q ? std::string() : e.out());
  if (q)
    e.add("QuantizeLinear", {y, e.in(ys), zero_point(e, yz, e.out_dtype())}, {}, e.out());
  else if (!relu)
    e.add("Identity", {y}, {}, e.out());
}

void map_quantize(Emitter& e) {
  const auto a = e.attrs<QuantizeAttrs>();
  const std::string x = e.cast(e.in(kQX), e.in_dtype(kQX), DType::Float32);
  e.add("QuantizeLinear", {x, e.in(kQScale), zero_point(e, kQZeroPoint, a.dtype)},
        axis_attr(e, kQScale, a.axis, e.in_rank(kQX)), e.out());
}

// int32 values (accumulators) have no ONNX zero point: (q - zero_point) * scale, the scale and
// zero point of a per-channel call unsqueezed to broadcast along `axis`.
void dequantize_int32(Emitter& e, int64_t axis) {
  const int64_t rank = e.in_rank(kQX), trailing = e.in_rank(kQScale) == 0 ? 0 : rank - 1 - e.wrap(axis, rank);
  auto along_axis = [&](std::string v) {
    if (trailing == 0) return v;
    std::vector<int64_t> axes;
    for (int64_t i = 1; i <= trailing; ++i) axes.push_back(i);
    return e.add("Unsqueeze", {v, e.const_i64(axes)});
  };
  const std::string centered = e.add("Sub", {e.in(kQX), along_axis(e.in(kQZeroPoint))});
  e.add("Mul", {e.cast(centered, DType::Int32, DType::Float32), along_axis(e.in(kQScale))}, {}, e.out());
}

void map_dequantize(Emitter& e) {
  const int64_t axis = e.attrs<DequantizeAttrs>().axis;
  if (e.in_dtype(kQX) == DType::Int32) return dequantize_int32(e, axis);
  dq(e, kQX, kQScale, kQZeroPoint, axis, e.out());
}

// x [.., K] @ w^T (+ bias) on float operands: Gemm for 2-d x, MatMul (+ Add) otherwise.
// Writes `out` (or a fresh name).
std::string float_linear(Emitter& e, const std::string& x, int64_t x_rank, const std::string& w,
                         const std::string& bias, std::string out = {}) {
  if (x_rank == 2) {
    std::vector<std::string> in{x, w};
    if (!bias.empty()) in.push_back(bias);
    return e.add("Gemm", in, {OnnxAttr::of_int("transB", 1)}, std::move(out));
  }
  const std::string wt = e.add("Transpose", {w}, {OnnxAttr::of_ints("perm", {1, 0})});
  if (bias.empty()) return e.add("MatMul", {x, wt}, {}, std::move(out));
  return e.add("Add", {e.add("MatMul", {x, wt}), bias}, {}, std::move(out));
}

void map_quantized_linear(Emitter& e) {
  const auto a = e.attrs<QuantizedLinearAttrs>();
  const std::string x = dq(e, kQlX, kQlXScale, kQlXZp, 0), w = dq(e, kQlW, kQlWScale, kQlWZp, 0);
  finish(e, float_linear(e, x, e.in_rank(kQlX), w, e.in(kQlBias)), a.relu, kQlYScale, kQlYZp);
}

std::vector<int64_t> ints(IntList v) { return std::vector<int64_t>(v.begin(), v.end()); }

void map_quantized_conv2d(Emitter& e) {
  // The channels-last chains of quantize/'s pass are made plain before (plain_layout.h).
  if (e.in_rank(kQlX) != 4)
    e.fail(
        "its input is channels-last ([N, 1, H, W, C]) outside a chain of to_blocked / from_blocked; give it the "
        "[N, C, H, W] input");
  const auto a = e.attrs<QuantizedConv2dAttrs>();
  std::vector<int64_t> pads = ints(a.padding);
  pads.insert(pads.end(), a.padding.begin(), a.padding.end());  // all begins, then all ends
  std::vector<std::string> in{dq(e, kQlX, kQlXScale, kQlXZp, 0), dq(e, kQlW, kQlWScale, kQlWZp, 0)};
  if (e.has_in(kQlBias)) in.push_back(e.in(kQlBias));
  std::string y = e.add("Conv", in,
                        {OnnxAttr::of_ints("strides", ints(a.stride)), OnnxAttr::of_ints("pads", pads),
                         OnnxAttr::of_ints("dilations", ints(a.dilation)), OnnxAttr::of_int("group", a.groups)});
  if (e.has_in(kQcResidual)) y = e.add("Add", {y, dq(e, kQcResidual, kQcRScale, kQcRZp, 0)});
  finish(e, y, a.relu, kQlYScale, kQlYZp);
}

void map_quantized_add(Emitter& e) {
  const auto a = e.attrs<QuantizedAddAttrs>();
  const std::string y = e.add("Add", {dq(e, kQaA, kQaAScale, kQaAZp, 0), dq(e, kQaB, kQaBScale, kQaBZp, 0)});
  finish(e, y, a.relu, kQaYScale, kQaYZp);
}

void map_quantized_cat(Emitter& e) {
  const auto a = e.attrs<QuantizedCatAttrs>();
  std::vector<std::string> xs;
  for (size_t k = kQcatFirst; k < e.num_in(); k += 3) xs.push_back(dq(e, k, k + 1, k + 2, 0));
  const std::string y = e.add("Concat", xs, {OnnxAttr::of_int("axis", e.wrap(a.dim, e.out_rank()))});
  finish(e, y, false, kQcatYScale, kQcatYZp);
}

// DynamicQuantizeLinear (uint8 over x's range with 0 included, as doppel's full-range choice;
// its zero point is round(-min / scale), doppel's PyTorch rule picks the same one up to ties),
// then the QDQ product. reduce_range (7-bit activations) has no ONNX form.
void map_dynamic_quantized_linear(Emitter& e) {
  if (e.attrs<DynamicQuantizedLinearAttrs>().reduce_range)
    e.fail("reduce_range (7-bit activations) has no ONNX equivalent; quantize with reduce_range=False to export");
  const std::string xq = e.fresh("x_quantized"), xs = e.fresh("x_scale"), xz = e.fresh("x_zero_point");
  e.add_multi("DynamicQuantizeLinear", {e.in(kDqlX)}, {}, {xq, xs, xz});
  const std::string x = e.add("DequantizeLinear", {xq, xs, xz});
  std::vector<OnnxAttr> w_axis;
  if (e.in_rank(kDqlWScale) == 1) w_axis.push_back(OnnxAttr::of_int("axis", 0));
  const std::string w = e.add("DequantizeLinear", {e.in(kDqlW), e.in(kDqlWScale)}, w_axis);
  float_linear(e, x, e.in_rank(kDqlX), w, e.in(kDqlBias), e.out());
}

}  // namespace

void register_quantized_mappings(MappingTable& t) {
  t[size_t(OpId::quantize)] = {map_quantize};
  t[size_t(OpId::dequantize)] = {map_dequantize};
  t[size_t(OpId::quantized_linear)] = {map_quantized_linear};
  t[size_t(OpId::quantized_conv2d)] = {map_quantized_conv2d};
  t[size_t(OpId::quantized_add)] = {map_quantized_add};
  t[size_t(OpId::quantized_cat)] = {map_quantized_cat};
  t[size_t(OpId::dynamic_quantized_linear)] = {map_dynamic_quantized_linear};
}

}  // namespace doppel::onnx::detail
