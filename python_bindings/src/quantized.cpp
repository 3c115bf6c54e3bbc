// Quantized inference: doppel.quantize / quantize_per_tensor / quantize_per_channel / dequantize
// and the int8 kernels as doppel.ops.quantized.{linear, conv2d, add, cat, dynamic_linear}
// (ops/quantized.h). A quantized operand is passed as its tensors (q, scale, zero_point); an
// output scale/zero point of None gives the float32 (dequantized) result.
#include "doppel/ops/quantized.h"

#include <nanobind/stl/tuple.h>

#include "bind.h"

namespace doppel::py {
namespace {

Tensor opt(const std::optional<Tensor>& t) { return t.value_or(Tensor{}); }

// A 1-or-2-int conv argument as 2 ints (one entry applies to both spatial dims).
Shape pair(const Ints& v) { return v.v.size() == 1 ? Shape{v.v[0], v.v[0]} : Shape(v.v.begin(), v.v.end()); }

QOutput out_of(std::optional<Tensor> scale, std::optional<Tensor> zero_point, std::optional<DType> dtype) {
  QOutput o{DType::Float32, opt(scale), opt(zero_point)};
  if (dtype) o.dtype = *dtype;
  return o;
}

}  // namespace

void bind_quantized(nb::module_& m) {
  m.def(
      "quantize",
      [](const Tensor& x, const Tensor& scale, const Tensor& zp, int64_t axis, DType dtype) {
        return quantize(x, scale, zp, axis, dtype);
      },
      nb::arg("input"), nb::arg("scale"), nb::arg("zero_point"), nb::arg("axis") = 0, nb::arg("dtype") = DType::Int8,
      Release());
  m.def(
      "quantize_per_tensor",
      [](const Tensor& x, double scale, int64_t zp, DType dtype) { return quantize_per_tensor(x, scale, zp, dtype); },
      nb::arg("input"), nb::arg("scale"), nb::arg("zero_point"), nb::arg("dtype"), Release());
  m.def(
      "quantize_per_channel",
      [](const Tensor& x, const Tensor& scales, const Tensor& zps, int64_t axis, DType dtype) {
        return quantize_per_channel(x, scales, zps, axis, dtype);
      },
      nb::arg("input"), nb::arg("scales"), nb::arg("zero_points"), nb::arg("axis"), nb::arg("dtype"), Release());
  m.def(
      "dequantize",
      [](const Tensor& q, const Tensor& scale, const Tensor& zp, int64_t axis) {
        return dequantize(q, scale, zp, axis);
      },
      nb::arg("input"), nb::arg("scale"), nb::arg("zero_point"), nb::arg("axis") = 0, Release());

  nb::module_ ops = m.def_submodule("ops", "doppel's op families that have no torch-style home");
  nb::module_ q = ops.def_submodule("quantized", "int8 kernels over (q, scale, zero_point) operands");
  q.def(
      "linear",
      [](const Tensor& x, const Tensor& xs, const Tensor& xz, const Tensor& w, const Tensor& ws, const Tensor& wz,
         std::optional<Tensor> ys, std::optional<Tensor> yz, std::optional<Tensor> bias, bool relu,
         std::optional<DType> out_dtype) {
        return quantized_linear({x, xs, xz}, {w, ws, wz}, opt(bias), out_of(ys, yz, out_dtype), relu);
      },
      nb::arg("x"), nb::arg("x_scale"), nb::arg("x_zero_point"), nb::arg("w"), nb::arg("w_scale"),
      nb::arg("w_zero_point"), nb::arg("y_scale") = nb::none(), nb::arg("y_zero_point") = nb::none(),
      nb::arg("bias") = nb::none(), nb::kw_only(), nb::arg("relu") = false, nb::arg("out_dtype") = nb::none(),
      Release());
  q.def(
      "conv2d",
      [](const Tensor& x, const Tensor& xs, const Tensor& xz, const Tensor& w, const Tensor& ws, const Tensor& wz,
         std::optional<Tensor> ys, std::optional<Tensor> yz, std::optional<Tensor> bias, Ints stride, Ints padding,
         Ints dilation, int64_t groups, bool relu, std::optional<DType> out_dtype, std::optional<Tensor> r,
         std::optional<Tensor> rs, std::optional<Tensor> rz) {
        return quantized_conv2d({x, xs, xz}, {w, ws, wz}, opt(bias), out_of(ys, yz, out_dtype), pair(stride),
                                pair(padding), pair(dilation), groups, relu, {opt(r), opt(rs), opt(rz)});
      },
      nb::arg("x"), nb::arg("x_scale"), nb::arg("x_zero_point"), nb::arg("w"), nb::arg("w_scale"),
      nb::arg("w_zero_point"), nb::arg("y_scale") = nb::none(), nb::arg("y_zero_point") = nb::none(),
      nb::arg("bias") = nb::none(), nb::kw_only(), nb::arg("stride") = Ints{{1, 1}}, nb::arg("padding") = Ints{{0, 0}},
      nb::arg("dilation") = Ints{{1, 1}}, nb::arg("groups") = 1, nb::arg("relu") = false,
      nb::arg("out_dtype") = nb::none(), nb::arg("residual") = nb::none(), nb::arg("residual_scale") = nb::none(),
      nb::arg("residual_zero_point") = nb::none(), Release());
  q.def(
      "add",
      [](const Tensor& a, const Tensor& as, const Tensor& az, const Tensor& b, const Tensor& bs, const Tensor& bz,
         std::optional<Tensor> ys, std::optional<Tensor> yz, bool relu, std::optional<DType> out_dtype) {
        return quantized_add({a, as, az}, {b, bs, bz}, out_of(ys, yz, out_dtype), relu);
      },
      nb::arg("a"), nb::arg("a_scale"), nb::arg("a_zero_point"), nb::arg("b"), nb::arg("b_scale"),
      nb::arg("b_zero_point"), nb::arg("y_scale") = nb::none(), nb::arg("y_zero_point") = nb::none(), nb::kw_only(),
      nb::arg("relu") = false, nb::arg("out_dtype") = nb::none(), Release());
  q.def(
      "cat",
      [](const std::vector<std::tuple<Tensor, Tensor, Tensor>>& xs, const Tensor& ys, const Tensor& yz, int64_t dim,
         DType out_dtype) {
        std::vector<QTensor> in;
        for (const auto& [x, s, z] : xs) in.push_back({x, s, z});
        return quantized_cat(in, {out_dtype, ys, yz}, dim);
      },
      nb::arg("inputs"), nb::arg("y_scale"), nb::arg("y_zero_point"), nb::arg("dim") = 0, nb::kw_only(),
      nb::arg("out_dtype"), Release());
  q.def(
      "dynamic_linear",
      [](const Tensor& x, const Tensor& w, const Tensor& ws, std::optional<Tensor> bias, bool reduce_range) {
        return dynamic_quantized_linear(x, w, ws, opt(bias), reduce_range);
      },
      nb::arg("x"), nb::arg("w"), nb::arg("w_scale"), nb::arg("bias") = nb::none(), nb::kw_only(),
      nb::arg("reduce_range") = false, Release());
}

}  // namespace doppel::py
