// Pooling (with PyTorch's per-plane max indices), eval-mode normalization and softmax.
#include "doppel/kernels/op_attrs/nn.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

using namespace nn_attrs;

// The input's static spatial size (H, W); pooling windows are planned on it.
std::array<int64_t, 2> spatial(Emitter& e) {
  const graph::SymShape& s = e.in_value(0).shape;
  if (s.size() != 4 || !s[2].is_static() || !s[3].is_static())
    e.fail("pooling needs a 4-d input with static height and width");
  return {s[2].constant, s[3].constant};
}

// ONNX sizes a ceil-mode window grid as ceil((in + 2p - d(k-1) - 1) / s) + 1 without PyTorch's
// "the last window starts inside the input" rule; where the two disagree the export refuses.
void check_ceil_mode(Emitter& e, const Pool2dGeometry& g) {
  if (!g.ceil_mode) return;
  for (int d = 0; d < 2; ++d) {
    const int64_t span = g.in[d] + 2 * g.pad[d] - g.dilation[d] * (g.kernel[d] - 1) - 1;
    const int64_t onnx = (span + g.stride[d] - 1) / g.stride[d] + 1;
    if (onnx != g.out[d])
      e.fail(fmt::format("ceil_mode gives {} windows in dim {} where ONNX pooling would give {}", g.out[d], d, onnx));
  }
}

std::vector<OnnxAttr> window_attrs(const Pool2dGeometry& g) {
  return {OnnxAttr::of_ints("kernel_shape", {g.kernel[0], g.kernel[1]}),
          OnnxAttr::of_ints("strides", {g.stride[0], g.stride[1]}),
          OnnxAttr::of_ints("pads", {g.pad[0], g.pad[1], g.pad[0], g.pad[1]}),
          OnnxAttr::of_int("ceil_mode", g.ceil_mode)};
}

// MaxPool's attributes for a max_pool2d / max_pool2d_indices node.
std::vector<OnnxAttr> max_pool_attrs(Emitter& e) {
  const auto [h, w] = spatial(e);
  const auto a = e.attrs<MaxPoolAttrs>();
  const Pool2dGeometry g = resolve_pool2d(h, w, a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
  check_ceil_mode(e, g);
  std::vector<OnnxAttr> attrs = window_attrs(g);
  attrs.push_back(OnnxAttr::of_ints("dilations", {g.dilation[0], g.dilation[1]}));
  return attrs;
}

void map_max_pool2d(Emitter& e) { e.add("MaxPool", {e.in(0)}, max_pool_attrs(e), e.out()); }

// MaxPool's Indices count over the whole tensor (row-major N, C, H, W); PyTorch's count within
// each plane: the index modulo H * W. Writes the per-plane indices to `indices`.
void max_pool_with_indices(Emitter& e, std::vector<OnnxAttr> attrs, const std::string& values,
                           const std::string& indices) {
  const auto [h, w] = spatial(e);
  const std::string flat = e.fresh("maxpool_flat_indices");
  e.add_multi("MaxPool", {e.in(0)}, std::move(attrs), {values, flat});
  e.add("Mod", {flat, e.const_i64({h * w}, true)}, {}, indices);
}

void map_max_pool2d_indices(Emitter& e) {
  max_pool_with_indices(e, max_pool_attrs(e), e.fresh("maxpool_values"), e.out());
}

void map_avg_pool2d(Emitter& e) {
  const auto a = e.attrs<AvgPoolAttrs>();
  if (a.divisor_override) e.fail("divisor_override has no ONNX AveragePool equivalent");
  const auto [h, w] = spatial(e);
  const Pool2dGeometry g = resolve_pool2d(h, w, a.kernel_size, a.stride, a.padding, {}, a.ceil_mode);
  check_ceil_mode(e, g);
  std::vector<OnnxAttr> attrs = window_attrs(g);
  attrs.push_back(OnnxAttr::of_int("count_include_pad", a.count_include_pad));
  const DType dt = e.in_value(0).dtype;
  if (dt != DType::Int8 && dt != DType::UInt8) {
    e.add("AveragePool", {e.in(0)}, attrs, e.out());
    return;
  }
  // Quantized pooling (the input's scale and zero point carry over): ONNX's AveragePool takes
  // floats only, so the integers are averaged as floats and rounded half to even (Round), as the
  // int8 kernel does.
  const std::string mean = e.fresh("avgpool_mean"), rounded = e.fresh("avgpool_rounded");
  e.add("AveragePool", {e.cast(e.in(0), dt, DType::Float32)}, attrs, mean);
  e.add("Round", {mean}, {}, rounded);
  e.add("Identity", {e.cast(rounded, DType::Float32, dt)}, {}, e.out());
}

// Output 1x1: GlobalAveragePool; sizes that divide the input: a plain AveragePool (the adaptive
// windows are then uniform); anything else has no ONNX op.
void map_adaptive_avg_pool2d(Emitter& e) {
  const auto [h, w] = spatial(e);
  const std::array<int64_t, 2> o = pool_pair(e.attrs<AdaptivePoolAttrs>().output_size, {});
  if (o[0] == 1 && o[1] == 1) {
    e.add("GlobalAveragePool", {e.in(0)}, {}, e.out());
    return;
  }
  if (o[0] <= 0 || o[1] <= 0 || h % o[0] != 0 || w % o[1] != 0)
    e.fail(fmt::format("output size {}x{} does not divide the input's {}x{} (non-uniform windows)", o[0], o[1], h, w));
  const int64_t kh = h / o[0], kw = w / o[1];
  e.add("AveragePool", {e.in(0)}, {OnnxAttr::of_ints("kernel_shape", {kh, kw}), OnnxAttr::of_ints("strides", {kh, kw})},
        e.out());
}

// Sizes that divide the input: a MaxPool with uniform windows (values and per-plane indices);
// anything else has no ONNX op.
void map_adaptive_max_pool2d(Emitter& e) {
  const auto [h, w] = spatial(e);
  const std::array<int64_t, 2> o = pool_pair(e.attrs<AdaptivePoolAttrs>().output_size, {});
  if (o[0] <= 0 || o[1] <= 0 || h % o[0] != 0 || w % o[1] != 0)
    e.fail(fmt::format("output size {}x{} does not divide the input's {}x{} (non-uniform windows)", o[0], o[1], h, w));
  const int64_t kh = h / o[0], kw = w / o[1];
  max_pool_with_indices(e, {OnnxAttr::of_ints("kernel_shape", {kh, kw}), OnnxAttr::of_ints("strides", {kh, kw})},
                        e.out(0), e.out(1));
}

// A [C] parameter the op may lack (weight: ones, bias: zeros), in the input's dtype.
std::string per_channel(Emitter& e, size_t input, int64_t c, double fill) {
  const DType t = e.in_dtype(0);
  if (e.has_in(input)) return e.cast(e.in(input), e.in_dtype(input), t);
  return e.const_tensor(filled_tensor({c}, fill, t), fill == 0 ? "zeros" : "ones");
}

// Eval mode only: normalization with the running statistics, ONNX BatchNormalization's
// inference mode (the saved statistics, outputs 1-4, are not exported).
void map_batch_norm(Emitter& e) {
  const auto a = e.attrs<BatchNormAttrs>();
  if (a.training)
    e.fail("training-mode batch norm computes batch statistics and updates the running ones; export eval() models");
  if (!e.has_in(kBatchNormRunningMean) || !e.has_in(kBatchNormRunningVar))
    e.fail("batch norm without running statistics normalizes with the batch's own statistics");
  const graph::SymShape& s = e.in_value(0).shape;
  if (s.size() < 2 || !s[1].is_static()) e.fail("batch norm needs a static channel dim (dim 1)");
  const int64_t c = s[1].constant;
  const DType t = e.in_dtype(0);
  e.add("BatchNormalization",
        {e.in(0), per_channel(e, kBatchNormWeight, c, 1), per_channel(e, kBatchNormBias, c, 0),
         e.cast(e.in(kBatchNormRunningMean), e.in_dtype(kBatchNormRunningMean), t),
         e.cast(e.in(kBatchNormRunningVar), e.in_dtype(kBatchNormRunningVar), t)},
        {OnnxAttr::of_float("epsilon", a.eps)}, e.out());
}

// LayerNormalization (opset 17) over the trailing normalized_shape dims; only the normalized
// output is exported (mean and rstd, outputs 1-2, are for the backward pass).
void map_layer_norm(Emitter& e) {
  const auto a = e.attrs<LayerNormAttrs>();
  const Shape& shape = a.normalized_shape;
  const DType t = e.in_dtype(0);
  const std::string scale =
      e.has_in(1) ? e.cast(e.in(1), e.in_dtype(1), t) : e.const_tensor(filled_tensor(shape, 1, t), "ones");
  const std::string bias = e.has_in(2) ? e.cast(e.in(2), e.in_dtype(2), t) : std::string();
  e.add("LayerNormalization", {e.in(0), scale, bias},
        {OnnxAttr::of_int("axis", -int64_t(shape.size())), OnnxAttr::of_float("epsilon", a.eps)}, e.out());
}

void map_softmax(Emitter& e) {
  e.add(e.node().op == OpId::softmax ? "Softmax" : "LogSoftmax", {e.in(0)},
        {OnnxAttr::of_int("axis", e.attrs<SoftmaxAttrs>().dim)}, e.out());
}

}  // namespace

void register_nn_mappings(MappingTable& t) {
  t[size_t(OpId::max_pool2d)] = {map_max_pool2d};
  t[size_t(OpId::avg_pool2d)] = {map_avg_pool2d};
  t[size_t(OpId::adaptive_avg_pool2d)] = {map_adaptive_avg_pool2d};
  t[size_t(OpId::max_pool2d_indices)] = {map_max_pool2d_indices};
  t[size_t(OpId::adaptive_max_pool2d)] = {map_adaptive_max_pool2d, false, 2};
  t[size_t(OpId::batch_norm)] = {map_batch_norm, false, 1};
  t[size_t(OpId::layer_norm)] = {map_layer_norm, false, 1};
  t[size_t(OpId::softmax)] = {map_softmax};
  t[size_t(OpId::log_softmax)] = {map_softmax};
}

}  // namespace doppel::onnx::detail
