// Specs and value tests of the quantized ops (op_attrs/quantized.h). The generic spec test
// compares the oneDNN int8 kernels with the reference kernels: the spec dtype of an int8
// kernel's samples is its output dtype (int8/uint8: within 1 quantization step, the stated
// tolerance of requantizing in float32 against the reference's double; float32: the dequantized
// result, rtol 1e-5). The value tests compare the reference kernels with independent oracles:
// hand-computed values, and dequantize -> float64 op -> requantize written out here.
#include <bit>
#include <cmath>
#include <limits>

#include "doppel/graph/executor.h"
#include "doppel/graph/trace.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/int8_support.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/quantized.h"
#include "doppel/kernels/parallel.h"
#include "doppel/kernels/quantization.h"
#include "doppel/ops/quantized.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

using namespace quantized_attrs;

// Integers over the dtype's whole range (saturation in the products and sums).
Tensor qdata(IntList shape, DType t, uint64_t seed) {
  return t == DType::Int8 ? make_input(shape, t, seed, -128, 128) : make_input(shape, t, seed, 0, 256);
}
Tensor fscale(double s) { return scalar(s, DType::Float32); }
Tensor izp(int64_t z) { return scalar(z, DType::Int32); }
Tensor channel_scales(int64_t n, uint64_t seed) { return make_input({n}, DType::Float32, seed, 0.002, 0.02); }
Tensor channel_zps(int64_t n, int64_t lo, int64_t hi, uint64_t seed) {
  return to_dtype(make_input({n}, DType::Int64, seed, double(lo), double(hi)), DType::Int32);
}
Tensor zero_zps(int64_t n) { return zeros({n}, {.dtype = DType::Int32}); }
// An activation zero point inside the dtype's range, away from 0.
int64_t act_zp(DType t) { return t == DType::Int8 ? -7 : 121; }

Tensor bias_of(int64_t n, uint64_t seed) { return make_input({n}, DType::Float32, seed, -3, 3); }

// The spec dtype of an int8 kernel: the output's (int8/uint8/float32); x takes the other int8
// type for a float32 output so that both activation types meet it.
DType input_dtype_for(DType out, bool flip) {
  if (out == DType::Float32) return flip ? DType::Int8 : DType::UInt8;
  return flip ? (out == DType::Int8 ? DType::UInt8 : DType::Int8) : out;
}

Tolerance int8_kernel_tolerance(DType out) { return out == DType::Float32 ? Tolerance{1e-5, 1e-6} : Tolerance{0, 1}; }

const std::vector<DType> kOutDtypes = {DType::Int8, DType::UInt8, DType::Float32};

// quantized_linear's inputs: x [.., K] of dtype xt, per-tensor x params, w [N, K] with per-channel
// (or per-tensor) scales, y params for an int8/uint8 out (undefined for float32), bias.
std::vector<Tensor> linear_inputs(IntList x_shape, int64_t N, DType xt, DType out, bool per_channel, bool bias,
                                  double y_scale, uint64_t seed) {
  const int64_t K = x_shape.back();
  const bool q_out = out != DType::Float32;
  return {qdata(x_shape, xt, seed),
          fscale(0.02),
          izp(act_zp(xt)),
          qdata({N, K}, DType::Int8, seed + 1),
          per_channel ? channel_scales(N, seed + 2) : fscale(0.004),
          per_channel ? zero_zps(N) : izp(0),
          q_out ? fscale(y_scale) : Tensor(),
          q_out ? izp(out == DType::Int8 ? 3 : 100) : Tensor(),
          bias ? bias_of(N, seed + 3) : Tensor()};
}

Attrs out_attrs(bool relu, DType out) { return QuantizedLinearAttrs{.relu = relu, .out_dtype = out}.pack(); }

Attrs conv_attrs(IntList stride, IntList pad, IntList dil, int64_t groups, bool relu, DType out) {
  return QuantizedConv2dAttrs{
      .stride = stride, .padding = pad, .dilation = dil, .groups = groups, .relu = relu, .out_dtype = out}
      .pack();
}

// quantized_conv2d's inputs; `residual`: an int8 residual of y's shape `y_shape` with its own params.
std::vector<Tensor> conv_inputs(IntList x_shape, IntList w_shape, DType xt, DType out, bool per_channel, bool bias,
                                IntList y_shape, uint64_t seed) {
  std::vector<Tensor> in = linear_inputs({1}, 1, xt, out, false, false, 0.8, seed);
  const int64_t O = w_shape[0];
  in[kQlX] = qdata(x_shape, xt, seed);
  in[kQlW] = qdata(w_shape, DType::Int8, seed + 1);
  in[kQlWScale] = per_channel ? channel_scales(O, seed + 2) : fscale(0.004);
  in[kQlWZp] = per_channel ? zero_zps(O) : izp(0);
  in[kQlBias] = bias ? bias_of(O, seed + 3) : Tensor();
  if (!y_shape.empty()) {  // in the output's dtype (a float32 output: uint8, which oneDNN declines)
    const DType rt = out == DType::Float32 ? DType::UInt8 : out;
    in.push_back(qdata(y_shape, rt, seed + 4));
    in.push_back(fscale(0.03));
    in.push_back(izp(act_zp(rt)));
  }
  return in;
}

}  // namespace

DOPPEL_OP_SPEC(quantize_spec) {
  return OpSpec{
      .op = OpId::quantize,
      .dtypes = {DType::Float32, DType::BFloat16, DType::Float16},
      .samples =
          [](DType t) {
            const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
            const Tensor specials = to_dtype(tensor(std::vector<float>{nan, inf, -inf, -0.0f, 0.5f, 1.5f, 2.5f, -0.5f,
                                                                       -2.5f, 1e-40f, 700.f, -700.f}),
                                             t);
            auto q = [](int64_t axis, DType d) { return QuantizeAttrs{.axis = axis, .dtype = d}.pack(); };
            return std::vector<Sample>{
                {"per tensor int8", {make_input({4, 5}, t, 1, -3, 3), fscale(0.02), izp(-3)}, q(0, DType::Int8)},
                {"per tensor uint8", {make_input({4, 5}, t, 2, -3, 3), fscale(0.02), izp(128)}, q(0, DType::UInt8)},
                {"specials int8", {specials, fscale(1.0), izp(0)}, q(0, DType::Int8)},
                {"specials uint8", {specials, fscale(1.0), izp(3)}, q(0, DType::UInt8)},
                {"per channel axis 1",
                 {make_input({2, 3, 4}, t, 3, -2, 2), channel_scales(3, 4), channel_zps(3, -10, 10, 5)},
                 q(1, DType::Int8)},
                {"per channel axis -1",
                 {make_input({3, 7}, t, 6, -2, 2), channel_scales(7, 7), channel_zps(7, 0, 255, 8)},
                 q(-1, DType::UInt8)},
                {"0-d", {scalar(0.37, t), fscale(0.01), izp(1)}, q(0, DType::Int8)},
                {"empty", {make_input({0, 3}, t, 9), fscale(0.1), izp(0)}, q(0, DType::Int8)},
                {"large", {make_input({300, 257}, t, 10, -4, 4), fscale(0.03), izp(5)}, q(0, DType::Int8)}};
          },
      .errors =
          [] {
            const Tensor x = make_input({2, 3}, DType::Float32, 1);
            auto q = [](int64_t axis, DType d) { return QuantizeAttrs{.axis = axis, .dtype = d}.pack(); };
            return std::vector<ErrorSample>{
                {"int input",
                 {make_input({2}, DType::Int32, 1), fscale(1), izp(0)},
                 q(0, DType::Int8),
                 ErrorKind::DType,
                 "quantize"},
                {"int32 result", {x, fscale(1), izp(0)}, q(0, DType::Int32), ErrorKind::DType, "quantize"},
                {"float64 scale",
                 {x, scalar(1.0, DType::Float64), izp(0)},
                 q(0, DType::Int8),
                 ErrorKind::DType,
                 "quantize"},
                {"int64 zero point",
                 {x, fscale(1), scalar(int64_t(0), DType::Int64)},
                 q(0, DType::Int8),
                 ErrorKind::DType,
                 "quantize"},
                {"channel count",
                 {x, channel_scales(2, 1), zero_zps(2)},
                 q(1, DType::Int8),
                 ErrorKind::Shape,
                 "quantize"},
                {"zero point shape",
                 {x, channel_scales(3, 1), izp(0)},
                 q(1, DType::Int8),
                 ErrorKind::Shape,
                 "quantize"},
                {"scale 0", {x, fscale(0), izp(0)}, q(0, DType::Int8), ErrorKind::Value, "scale"},
                {"scale NaN", {x, fscale(std::nan("")), izp(0)}, q(0, DType::Int8), ErrorKind::Value, "scale"},
                {"zero point out of range",
                 {x, fscale(1), izp(200)},
                 q(0, DType::Int8),
                 ErrorKind::Value,
                 "zero point"}};
          }};
}

DOPPEL_OP_SPEC(dequantize_spec) {
  return OpSpec{.op = OpId::dequantize,
                .dtypes = {DType::Int8, DType::UInt8, DType::Int32},
                .samples =
                    [](DType t) {
                      const Tensor zp = izp(t == DType::UInt8 ? 128 : -5);
                      auto d = [](int64_t axis) { return DequantizeAttrs{.axis = axis}.pack(); };
                      const Tensor big = t == DType::Int32 ? make_input({5, 7}, t, 1, -1e9, 1e9) : qdata({5, 7}, t, 1);
                      return std::vector<Sample>{
                          {"per tensor", {big, fscale(0.05), zp}, d(0)},
                          {"per channel",
                           {qdata({2, 3, 4}, t == DType::Int32 ? DType::Int8 : t, 2), channel_scales(3, 3),
                            t == DType::UInt8 ? channel_zps(3, 0, 255, 4) : channel_zps(3, -20, 20, 4)},
                           d(1)},
                          {"0-d", {qdata({}, t == DType::Int32 ? DType::Int8 : t, 5), fscale(0.5), zp}, d(0)},
                          {"empty", {qdata({0}, t == DType::Int32 ? DType::Int8 : t, 6), fscale(0.5), zp}, d(0)}};
                    },
                .errors =
                    [] {
                      return std::vector<ErrorSample>{{"float input",
                                                       {make_input({2}, DType::Float32, 1), fscale(1), izp(0)},
                                                       DequantizeAttrs{.axis = 0}.pack(),
                                                       ErrorKind::DType,
                                                       "dequantize"},
                                                      {"axis out of range",
                                                       {qdata({2}, DType::Int8, 1), channel_scales(2, 1), zero_zps(2)},
                                                       DequantizeAttrs{.axis = 3}.pack(),
                                                       ErrorKind::Index,
                                                       "dequantize"},
                                                      {"negative scale",
                                                       {qdata({2}, DType::Int8, 1), fscale(-1), izp(0)},
                                                       DequantizeAttrs{.axis = 0}.pack(),
                                                       ErrorKind::Value,
                                                       "scale"}};
                    }};
}

DOPPEL_OP_SPEC(quantized_linear_spec) {
  return OpSpec{
      .op = OpId::quantized_linear,
      .dtypes = kOutDtypes,
      .samples =
          [](DType out) {
            const DType a = input_dtype_for(out, false), b = input_dtype_for(out, true);
            return std::vector<Sample>{
                {"per channel bias", linear_inputs({4, 37}, 5, a, out, true, true, 0.3, 1), out_attrs(false, out)},
                {"per tensor relu", linear_inputs({3, 64}, 8, b, out, false, true, 0.3, 2), out_attrs(true, out)},
                {"batch 1 no bias", linear_inputs({1, 65}, 3, a, out, true, false, 0.3, 3), out_attrs(false, out)},
                {"saturating", linear_inputs({6, 33}, 7, b, out, true, true, 0.01, 4), out_attrs(false, out)},
                {"3-d rows", linear_inputs({2, 3, 20}, 9, a, out, true, true, 0.3, 5), out_attrs(true, out)},
                {"1-d", linear_inputs({19}, 4, b, out, false, true, 0.3, 6), out_attrs(false, out)},
                {"K 1", linear_inputs({5, 1}, 3, a, out, true, true, 0.01, 7), out_attrs(false, out)},
                {"large", linear_inputs({70, 300}, 130, a, out, true, true, 2.0, 8), out_attrs(true, out)}};
          },
      .errors =
          [] {
            auto in = linear_inputs({2, 4}, 3, DType::Int8, DType::Int8, true, true, 0.3, 1);
            auto with = [&](size_t k, Tensor v) {
              auto bad = in;
              bad[k] = std::move(v);
              return bad;
            };
            const Attrs q = out_attrs(false, DType::Int8);
            return std::vector<ErrorSample>{
                {"float input", with(kQlX, make_input({2, 4}, DType::Float32, 1)), q, ErrorKind::DType,
                 "quantized_linear"},
                {"uint8 weight", with(kQlW, qdata({3, 4}, DType::UInt8, 1)), q, ErrorKind::DType, "quantized_linear"},
                {"K differs", with(kQlW, qdata({3, 5}, DType::Int8, 1)), q, ErrorKind::Shape, "quantized_linear"},
                {"weight scale count", with(kQlWScale, channel_scales(2, 1)), q, ErrorKind::Shape, "quantized_linear"},
                {"per-channel input scale", with(kQlXScale, channel_scales(2, 1)), q, ErrorKind::Shape,
                 "quantized_linear"},
                {"bias shape", with(kQlBias, bias_of(4, 1)), q, ErrorKind::Shape, "quantized_linear"},
                {"no output scale", with(kQlYScale, Tensor()), q, ErrorKind::Value, "quantized_linear"},
                {"float out with output scale", in, out_attrs(false, DType::Float32), ErrorKind::Value,
                 "quantized_linear"},
                {"int32 out", in, out_attrs(false, DType::Int32), ErrorKind::DType, "quantized_linear"},
                {"weight zero point", with(kQlWZp, channel_zps(3, 1, 5, 1)), q, ErrorKind::Value, "symmetric"}};
          },
      .tolerance = int8_kernel_tolerance};
}

DOPPEL_OP_SPEC(quantized_conv2d_spec) {
  return OpSpec{
      .op = OpId::quantized_conv2d,
      .dtypes = kOutDtypes,
      .samples =
          [](DType out) {
            const DType a = input_dtype_for(out, false), b = input_dtype_for(out, true);
            const Attrs plain = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, false, out);
            return std::vector<Sample>{
                {"3x3 pad 1 per channel", conv_inputs({2, 5, 7, 6}, {4, 5, 3, 3}, a, out, true, true, {}, 1),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, false, out)},
                {"1x1 relu per tensor", conv_inputs({1, 16, 5, 5}, {8, 16, 1, 1}, b, out, false, true, {}, 2),
                 conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, true, out)},
                {"stride 2 dilation 2", conv_inputs({1, 3, 11, 10}, {6, 3, 3, 3}, a, out, true, false, {}, 3),
                 conv_attrs({2, 2}, {2, 1}, {2, 2}, 1, false, out)},
                {"grouped", conv_inputs({1, 6, 6, 6}, {9, 2, 3, 3}, b, out, true, true, {}, 4),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 3, false, out)},
                {"depthwise", conv_inputs({2, 8, 9, 9}, {8, 1, 3, 3}, a, out, true, true, {}, 5),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 8, true, out)},
                {"residual relu", conv_inputs({1, 16, 6, 6}, {16, 16, 3, 3}, a, out, true, true, {1, 16, 6, 6}, 6),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, true, out)},
                {"residual no relu", conv_inputs({2, 4, 5, 5}, {8, 4, 1, 1}, b, out, false, false, {2, 8, 5, 5}, 7),
                 plain},
                {"64 channels", conv_inputs({1, 64, 8, 8}, {64, 64, 3, 3}, a, out, true, true, {}, 8),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, true, out)},
                // Channels-last [N, 1, H, W, C] in and out (a residual in that layout too).
                {"channels-last 1 -> 8", conv_inputs({2, 1, 7, 9, 1}, {8, 1, 3, 3}, a, out, true, true, {}, 9),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, true, out)},
                {"channels-last 3 -> 16 stride 2 odd",
                 conv_inputs({1, 1, 11, 13, 3}, {16, 3, 3, 3}, b, out, true, false, {}, 10),
                 conv_attrs({2, 2}, {1, 1}, {1, 1}, 1, false, out)},
                {"channels-last 8 -> 24", conv_inputs({2, 1, 5, 6, 8}, {24, 8, 3, 3}, a, out, false, true, {}, 11),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, true, out)},
                {"channels-last 16 residual relu",
                 conv_inputs({1, 1, 6, 7, 16}, {16, 16, 3, 3}, b, out, true, true, {1, 1, 6, 7, 16}, 12),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, true, out)},
                {"channels-last 24 -> 64 1x1 stride 2",
                 conv_inputs({2, 1, 9, 9, 24}, {64, 24, 1, 1}, a, out, true, false, {}, 13),
                 conv_attrs({2, 2}, {0, 0}, {1, 1}, 1, false, out)},
                {"channels-last 64 residual",
                 conv_inputs({1, 1, 5, 5, 64}, {64, 64, 3, 3}, a, out, true, true, {1, 1, 5, 5, 64}, 14),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 1, false, out)},
                {"channels-last depthwise", conv_inputs({1, 1, 8, 8, 16}, {16, 1, 3, 3}, b, out, true, true, {}, 15),
                 conv_attrs({1, 1}, {1, 1}, {1, 1}, 16, true, out)}};
          },
      .errors =
          [] {
            auto in = conv_inputs({1, 4, 5, 5}, {2, 4, 3, 3}, DType::UInt8, DType::UInt8, true, true, {}, 1);
            auto with = [&](size_t k, Tensor v) {
              auto bad = in;
              bad[k] = std::move(v);
              return bad;
            };
            const Attrs plain = conv_attrs({1, 1}, {0, 0}, {1, 1}, 1, false, DType::UInt8);
            auto residual_of_plain_for_channels_last = [&] {
              auto bad = with(kQlX, qdata({1, 1, 5, 5, 4}, DType::UInt8, 1));
              bad.push_back(qdata({1, 2, 5, 5}, DType::UInt8, 2));
              bad.push_back(fscale(0.1));
              bad.push_back(izp(0));
              return bad;
            };
            auto residual = in;
            residual.push_back(qdata({1, 2, 4, 4}, DType::Int8, 2));
            residual.push_back(fscale(0.1));
            residual.push_back(izp(0));
            return std::vector<ErrorSample>{
                {"3-d input", with(kQlX, qdata({4, 5, 5}, DType::UInt8, 1)), plain, ErrorKind::Shape,
                 "quantized_conv2d"},
                {"channels differ", with(kQlW, qdata({2, 3, 3, 3}, DType::Int8, 1)), plain, ErrorKind::Shape,
                 "quantized_conv2d"},
                {"groups", in, conv_attrs({1, 1}, {0, 0}, {1, 1}, 3, false, DType::UInt8), ErrorKind::Shape,
                 "quantized_conv2d"},
                {"stride 0", in, conv_attrs({0, 1}, {0, 0}, {1, 1}, 1, false, DType::UInt8), ErrorKind::Value,
                 "quantized_conv2d"},
                {"residual shape", residual, plain, ErrorKind::Shape, "residual"},
                {"channels-last with blocks", with(kQlX, qdata({1, 2, 5, 5, 2}, DType::UInt8, 1)), plain,
                 ErrorKind::Shape, "channels-last"},
                {"plain residual of a channels-last output", residual_of_plain_for_channels_last(), plain,
                 ErrorKind::Shape, "layout"},
                {"weight zero point", with(kQlWZp, channel_zps(2, 1, 3, 1)), plain, ErrorKind::Value, "symmetric"}};
          },
      .tolerance = int8_kernel_tolerance};
}

DOPPEL_OP_SPEC(quantized_add_spec) {
  return OpSpec{
      .op = OpId::quantized_add,
      .dtypes = kOutDtypes,
      .samples =
          [](DType out) {
            const DType a = input_dtype_for(out, false), b = input_dtype_for(out, true);
            const bool q = out != DType::Float32;
            auto in = [&](Tensor x, Tensor y, double ys) {
              return std::vector<Tensor>{x,
                                         fscale(0.05),
                                         izp(act_zp(x.dtype())),
                                         y,
                                         fscale(0.02),
                                         izp(act_zp(y.dtype())),
                                         q ? fscale(ys) : Tensor(),
                                         q ? izp(out == DType::Int8 ? -2 : 50) : Tensor()};
            };
            return std::vector<Sample>{
                {"same shape", in(qdata({4, 6}, a, 1), qdata({4, 6}, b, 2), 0.06), out_attrs(false, out)},
                {"broadcast relu", in(qdata({3, 1, 5}, a, 3), qdata({4, 1}, a, 4), 0.06), out_attrs(true, out)},
                {"saturating", in(qdata({50}, b, 5), qdata({50}, a, 6), 0.01), out_attrs(false, out)},
                {"0-d and empty", in(qdata({}, a, 7), qdata({0, 2}, b, 8), 0.06), out_attrs(false, out)},
                {"large", in(qdata({200, 300}, a, 9), qdata({300}, b, 10), 0.07), out_attrs(true, out)},
                {"channels-last operands", in(qdata({2, 1, 3, 5, 24}, a, 11), qdata({2, 1, 3, 5, 24}, b, 12), 0.06),
                 out_attrs(true, out)}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"shapes",
                                             {qdata({3}, DType::Int8, 1), fscale(1), izp(0), qdata({4}, DType::Int8, 2),
                                              fscale(1), izp(0), fscale(1), izp(0)},
                                             out_attrs(false, DType::Int8),
                                             ErrorKind::Shape,
                                             "quantized_add"},
                                            {"int32 input",
                                             {qdata({3}, DType::Int8, 1).to(DType::Int32), fscale(1), izp(0),
                                              qdata({3}, DType::Int8, 2), fscale(1), izp(0), fscale(1), izp(0)},
                                             out_attrs(false, DType::Int8),
                                             ErrorKind::DType,
                                             "quantized_add"}};
          },
      .tolerance = int8_kernel_tolerance};
}

DOPPEL_OP_SPEC(quantized_cat_spec) {
  return OpSpec{
      .op = OpId::quantized_cat,
      .dtypes = {DType::Int8, DType::UInt8},
      .samples =
          [](DType out) {
            const DType a = input_dtype_for(out, false), b = input_dtype_for(out, true);
            auto in = [&](std::vector<Tensor> xs) {
              std::vector<Tensor> v{fscale(0.04), izp(out == DType::Int8 ? 1 : 130)};
              double s = 0.01;
              for (Tensor& x : xs) {
                v.push_back(x);
                v.push_back(fscale(s *= 2));
                v.push_back(izp(act_zp(x.dtype())));
              }
              return v;
            };
            auto cat = [&](int64_t dim) { return QuantizedCatAttrs{.dim = dim, .out_dtype = out}.pack(); };
            return std::vector<Sample>{
                {"dim 1", in({qdata({2, 3, 4}, a, 1), qdata({2, 5, 4}, b, 2)}), cat(1)},
                {"dim -1 three", in({qdata({3, 2}, a, 3), qdata({3, 1}, a, 4), qdata({3, 4}, b, 5)}), cat(-1)},
                {"dim 0 with empty", in({qdata({0, 4}, b, 6), qdata({2, 4}, a, 7)}), cat(0)},
                {"one input", in({qdata({7}, a, 8)}), cat(0)},
                {"channels-last, along the channels (dim 4)",
                 in({qdata({2, 1, 3, 5, 24}, a, 9), qdata({2, 1, 3, 5, 40}, b, 10)}), cat(4)}};
          },
      .errors =
          [] {
            const Attrs c = QuantizedCatAttrs{.dim = 0, .out_dtype = DType::Int8}.pack();
            return std::vector<ErrorSample>{{"missing zero point",
                                             {fscale(1), izp(0), qdata({2}, DType::Int8, 1), fscale(1)},
                                             c,
                                             ErrorKind::Value,
                                             "quantized_cat"},
                                            {"float32 out",
                                             {fscale(1), izp(0), qdata({2}, DType::Int8, 1), fscale(1), izp(0)},
                                             QuantizedCatAttrs{.dim = 0, .out_dtype = DType::Float32}.pack(),
                                             ErrorKind::DType,
                                             "quantized_cat"},
                                            {"rank differs",
                                             {fscale(1), izp(0), qdata({2}, DType::Int8, 1), fscale(1), izp(0),
                                              qdata({2, 2}, DType::Int8, 2), fscale(1), izp(0)},
                                             c,
                                             ErrorKind::Shape,
                                             "quantized_cat"}};
          },
      .tolerance = int8_kernel_tolerance};
}

DOPPEL_OP_SPEC(dynamic_quantized_linear_spec) {
  return OpSpec{
      .op = OpId::dynamic_quantized_linear,
      .dtypes = {DType::Float32},
      .samples =
          [](DType) {
            auto in = [](IntList x_shape, int64_t N, bool per_channel, bool bias, uint64_t seed, double lo, double hi) {
              const int64_t K = x_shape.back();
              return std::vector<Tensor>{
                  make_input(x_shape, DType::Float32, seed, lo, hi), qdata({N, K}, DType::Int8, seed + 1),
                  per_channel ? channel_scales(N, seed + 2) : fscale(0.01), bias ? bias_of(N, seed + 3) : Tensor()};
            };
            auto d = [](bool rr) { return DynamicQuantizedLinearAttrs{.reduce_range = rr}.pack(); };
            return std::vector<Sample>{
                {"per channel", in({4, 37}, 6, true, true, 1, -2, 3), d(false)},
                {"reduce range", in({4, 37}, 6, true, true, 2, -2, 3), d(true)},
                {"positive input", in({3, 16}, 5, false, false, 3, 0.5, 2), d(false)},
                {"3-d", in({2, 3, 64}, 7, true, true, 4, -1, 1), d(true)},
                {"zeros", {zeros({2, 8}), qdata({3, 8}, DType::Int8, 5), fscale(0.1), Tensor()}, d(false)},
                {"large", in({128, 200}, 96, true, true, 6, -4, 4), d(false)}};
          },
      .errors =
          [] {
            const Attrs d = DynamicQuantizedLinearAttrs{.reduce_range = false}.pack();
            return std::vector<ErrorSample>{
                {"int input",
                 {qdata({2, 3}, DType::Int8, 1), qdata({4, 3}, DType::Int8, 2), fscale(1)},
                 d,
                 ErrorKind::DType,
                 "dynamic_quantized_linear"},
                {"K differs",
                 {make_input({2, 3}, DType::Float32, 1), qdata({4, 2}, DType::Int8, 2), fscale(1)},
                 d,
                 ErrorKind::Shape,
                 "dynamic_quantized_linear"},
                {"scale 0",
                 {make_input({2, 3}, DType::Float32, 1), qdata({4, 3}, DType::Int8, 2), fscale(0)},
                 d,
                 ErrorKind::Value,
                 "scale"}};
          },
      .tolerance =
          [](DType) {
            return Tolerance{1e-5, 1e-5};
          }};
}

namespace {

// The real values of a quantized operand in float64: (q - zero_point) * scale, per channel along
// dim 0 when the scale is 1-d.
Tensor real_of(const Tensor& q, const Tensor& scale, const Tensor& zp) {
  Tensor s = to_dtype(scale, DType::Float64), z = to_dtype(zp, DType::Float64);
  if (scale.dim() == 1) {
    Shape shape(size_t(q.dim()), 1);
    shape[0] = scale.size(0);
    s = reshape(s, shape);
    z = reshape(z, shape);
  }
  return (to_dtype(q, DType::Float64) - z) * s;
}

// relu?, then requantized (round half to even, saturated) or float32: the oracle's last step.
Tensor requantize_oracle(const Tensor& real, const std::vector<Tensor>& in, size_t ys, size_t yz, bool relu,
                         DType out) {
  std::vector<double> v = real.to_vector<double>();
  for (double& x : v) x = relu && x < 0 ? 0 : x;
  if (out == DType::Float32) return to_dtype(reshape(tensor(v), real.shape()), DType::Float32);
  const double s = in[ys].to_vector<double>()[0], z = in[yz].to_vector<double>()[0];
  const double lo = out == DType::Int8 ? -128 : 0, hi = out == DType::Int8 ? 127 : 255;
  for (double& x : v) x = std::clamp(std::nearbyint(x / s + z), lo, hi);
  return to_dtype(reshape(tensor(v), real.shape()), out);
}

// [N, 1, H, W, C] (channels-last) as a contiguous [N, C, H, W], and back: eager permutes.
Tensor plain_of(const Tensor& t) { return t.dim() == 5 ? contiguous(permute(squeeze(t, 1), {0, 3, 1, 2})) : t; }
Tensor channels_last_of(const Tensor& t) { return contiguous(unsqueeze(permute(t, {0, 2, 3, 1}), 1)); }

OpOutputs reference(OpId op, const Sample& s) {
  ForceBackendGuard g(Backend::Reference);
  return dispatch(op, s.inputs, s.attrs);
}

// Requantization in double on both sides: equal, except a real value within rounding error of a
// tie (none in these samples).
Tolerance oracle_tolerance(DType out) { return out == DType::Float32 ? Tolerance{1e-6, 1e-9} : Tolerance{}; }

}  // namespace

TEST_CASE("quantize and dequantize: NaN, infinities, signed zero, ties and saturation against hand values",
          "[quantized]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = tensor(std::vector<float>{nan, inf, -inf, -0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 1e-40f, 700.f});
  const Tensor q8 = quantize_per_tensor(x, 1.0, 3, DType::Int8);
  CHECK(q8.to_vector<int64_t>() == std::vector<int64_t>{-128, 127, -128, 3, 3, 5, 5, 3, 1, 3, 127});
  const Tensor qu = quantize_per_tensor(x, 0.5, 10, DType::UInt8);  // x / 0.5 + 10
  CHECK(qu.to_vector<int64_t>() == std::vector<int64_t>{0, 255, 0, 10, 11, 13, 15, 9, 5, 10, 255});
  // Per channel along dim 1 of [2, 2]: channel scales 0.1 and 1, zero points 0 and -1.
  const Tensor pc =
      quantize_per_channel(tensor(std::vector<float>{0.26f, 2.5f, -0.34f, -3.5f}, {2, 2}),
                           tensor(std::vector<float>{0.1f, 1.0f}), tensor(std::vector<int32_t>{0, -1}), 1, DType::Int8);
  CHECK(pc.to_vector<int64_t>() == std::vector<int64_t>{3, 1, -3, -5});  // 2.6, 2 - 1 | -3.4, -4 - 1
  const Tensor d = dequantize(tensor(std::vector<int8_t>{-128, 0, 127}), fscale(0.5), izp(-3));
  CHECK(d.to_vector<double>() == std::vector<double>{-62.5, 1.5, 65.0});
  const Tensor d32 = dequantize(tensor(std::vector<int32_t>{1 << 30, -7}), fscale(0.25), izp(1));
  CHECK(d32.to_vector<double>() == std::vector<double>{268435456.0, -2.0});
}

TEST_CASE("quantize: the kernel's vectorized loop equals quantize_value on every class of float", "[quantized]") {
  // Random bit patterns (NaN, infinities, denormals, huge and tiny values), ties k + 0.5 of each
  // scale, and values near the saturation bounds; zero points at both ends of each dtype.
  std::vector<float> v;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    v.push_back(std::bit_cast<float>(uint32_t(state >> 32)));
  }
  for (const float s : {1.f, 0.5f, 0.02f, 3.7f, 1e-30f}) {
    for (int k = -400; k <= 400; ++k) v.push_back((float(k) + 0.5f) * s);
    for (float b : {127.f, 128.f, 255.f, 256.f, -128.f, -129.f, 383.f}) {
      v.push_back(b * s);
      v.push_back(std::nextafter(b * s, 0.f));
    }
  }
  const Tensor x = tensor(v);
  for (const DType dt : {DType::Int8, DType::UInt8})
    for (const float s : {1.f, 0.5f, 0.02f, 3.7f, 1e-30f})
      for (const int64_t z :
           dt == DType::Int8 ? std::vector<int64_t>{-128, -3, 127} : std::vector<int64_t>{0, 77, 255}) {
        INFO(dtype_name(dt) << " scale " << s << " zero point " << z);
        const std::vector<int64_t> got = quantize_per_tensor(x, s, z, dt).to_vector<int64_t>();
        size_t wrong = 0;
        for (size_t i = 0; i < v.size(); ++i)
          wrong += got[i] != quant::quantize_value(v[i], s, int32_t(z), quant::qrange(dt));
        CHECK(wrong == 0);
      }
}

TEST_CASE("quantize: a channels-last view of an NCHW input equals quantizing its contiguous copy", "[quantized]") {
  // The view a chain's first quantize reads (quantize/'s channels-last pass): [N, 1, H, W, C]
  // over [N, C, H, W] float32. NaN, infinities, ties, -0.
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 5, 7}, {1, 2, 1, 9}, {3, 5, 4, 1}};
  for (const std::vector<int64_t>& shape : shapes) {
    Tensor x = make_input(shape, DType::Float32, 31, -8, 8);
    float* xp = x.data_ptr<float>();
    const float specials[] = {std::nanf(""), INFINITY, -INFINITY, -0.0f, 0.125f, -0.375f, 6.4e3f, 1e-40f};
    for (size_t i = 0; i < std::size(specials) && int64_t(i) < x.numel(); ++i)
      xp[i * 3 % size_t(x.numel())] = specials[i];
    const Tensor view = unsqueeze(permute(x, {0, 2, 3, 1}), 1);
    for (const DType dt : {DType::Int8, DType::UInt8}) {
      INFO(shape_str(x.shape()) << " " << dtype_name(dt));
      const Tensor got = quantize_per_tensor(view, 0.25, dt == DType::Int8 ? -5 : 130, dt);
      const Tensor want = quantize_per_tensor(contiguous(view), 0.25, dt == DType::Int8 ? -5 : 130, dt);
      CHECK(got.shape() == want.shape());
      CHECK(got.to_vector<int64_t>() == want.to_vector<int64_t>());
    }
  }
}

TEST_CASE("quantized_linear: the reference kernel against hand-computed requantization", "[quantized]") {
  // x uint8 [1, 3] zp 2 scale 0.5 -> real [-1, 0, 1.5]; w int8 [2, 3] per channel (0.1, 0.2);
  // bias (0.02, -1). Row 0: (-1 * 10 + 0 + 1.5 * -4) * 0.1 + 0.02 = -1.58; row 1:
  // (-1 * 1 + 0 + 1.5 * 2) * 0.2 - 1 = -0.6. y scale 0.1, zp 7: round(-15.8) + 7 = -9 and
  // -6 + 7 = 1; with relu both are 0, the zero point 7.
  const std::vector<Tensor> in = {tensor(std::vector<uint8_t>{0, 2, 5}, {1, 3}),
                                  fscale(0.5),
                                  izp(2),
                                  tensor(std::vector<int8_t>{10, 7, -4, 1, -3, 2}, {2, 3}),
                                  tensor(std::vector<float>{0.1f, 0.2f}),
                                  zero_zps(2),
                                  fscale(0.1),
                                  izp(7),
                                  tensor(std::vector<float>{0.02f, -1.0f})};
  const Sample s{"hand", in, out_attrs(false, DType::Int8)};
  const OpOutputs y = reference(OpId::quantized_linear, s);
  CHECK(y[0].to_vector<int64_t>() == std::vector<int64_t>{-9, 1});
  const Sample relu{"hand relu", in, out_attrs(true, DType::Int8)};
  CHECK(reference(OpId::quantized_linear, relu)[0].to_vector<int64_t>() == std::vector<int64_t>{7, 7});
}

TEST_CASE("int8 kernels: the reference equals dequantize, the float64 op, and requantization", "[quantized]") {
  const auto specs = specs_by_op();
  for (DType out : kOutDtypes) {
    for (const Sample& s : specs.at(OpId::quantized_linear).samples(out)) {
      INFO("quantized_linear " << describe(s));
      const auto& in = s.inputs;
      const Tensor real =
          linear(real_of(in[kQlX], in[kQlXScale], in[kQlXZp]), real_of(in[kQlW], in[kQlWScale], in[kQlWZp]),
                 in[kQlBias].defined() ? to_dtype(in[kQlBias], DType::Float64) : Tensor());
      const auto a = QuantizedLinearAttrs::of(s.attrs);
      DOPPEL_REQUIRE_CLOSE(reference(OpId::quantized_linear, s)[0],
                           requantize_oracle(real, in, kQlYScale, kQlYZp, a.relu, out), oracle_tolerance(out));
    }
    for (const Sample& s : specs.at(OpId::quantized_conv2d).samples(out)) {
      INFO("quantized_conv2d " << describe(s));
      const auto& in = s.inputs;
      const auto a = QuantizedConv2dAttrs::of(s.attrs);
      const bool cl = in[kQlX].dim() == 5;  // channels-last operands: the oracle runs on NCHW copies
      Tensor real = convolution(real_of(plain_of(in[kQlX]), in[kQlXScale], in[kQlXZp]),
                                real_of(in[kQlW], in[kQlWScale], in[kQlWZp]),
                                in[kQlBias].defined() ? to_dtype(in[kQlBias], DType::Float64) : Tensor(), a.stride,
                                a.padding, a.dilation, false, {0, 0}, a.groups);
      if (in.size() > kQcResidual) real = real + real_of(plain_of(in[kQcResidual]), in[kQcRScale], in[kQcRZp]);
      if (cl) real = channels_last_of(real);
      DOPPEL_REQUIRE_CLOSE(reference(OpId::quantized_conv2d, s)[0],
                           requantize_oracle(real, in, kQlYScale, kQlYZp, a.relu, out), oracle_tolerance(out));
    }
    for (const Sample& s : specs.at(OpId::quantized_add).samples(out)) {
      INFO("quantized_add " << describe(s));
      const auto& in = s.inputs;
      const Tensor real = real_of(in[kQaA], in[kQaAScale], in[kQaAZp]) + real_of(in[kQaB], in[kQaBScale], in[kQaBZp]);
      DOPPEL_REQUIRE_CLOSE(reference(OpId::quantized_add, s)[0],
                           requantize_oracle(real, in, kQaYScale, kQaYZp, QuantizedAddAttrs::of(s.attrs).relu, out),
                           oracle_tolerance(out));
    }
    for (const Sample& s : out == DType::Float32 ? std::vector<Sample>{} : specs.at(OpId::quantized_cat).samples(out)) {
      INFO("quantized_cat " << describe(s));
      const auto& in = s.inputs;
      std::vector<Tensor> reals;
      for (size_t k = kQcatFirst; k < in.size(); k += 3) reals.push_back(real_of(in[k], in[k + 1], in[k + 2]));
      const Tensor real = cat(reals, QuantizedCatAttrs::of(s.attrs).dim);
      DOPPEL_REQUIRE_CLOSE(reference(OpId::quantized_cat, s)[0],
                           requantize_oracle(real, in, kQcatYScale, kQcatYZp, false, out), oracle_tolerance(out));
    }
  }
}

TEST_CASE("dynamic_quantized_linear: PyTorch's parameters, then the int8 product", "[quantized]") {
  // x in [-1, 3]: scale 4 / 255, zero point round(255 / 4) = 64 (from min: 0 + 1 / scale = 63.75).
  const Tensor x = tensor(std::vector<float>{-1.f, 3.f, 0.5f, 0.f}, {2, 2});
  const Tensor w = tensor(std::vector<int8_t>{2, -1}, {1, 2});
  const Tensor y = dynamic_quantized_linear(x, w, fscale(0.5), tensor(std::vector<float>{0.25f}));
  const double s = 4.0 / 255.0;
  // quantized x: -1 -> 0, 3 -> 255, 0.5 -> round(31.875) + 64 = 96, 0 -> 64; centred: -64, 191, 32, 0.
  const std::vector<double> want = {(2 * -64 - 191) * float(s) * 0.5 + 0.25, (2 * 32 - 0) * float(s) * 0.5 + 0.25};
  const std::vector<double> got = y.to_vector<double>();
  REQUIRE(got.size() == 2);
  for (size_t i = 0; i < 2; ++i) CHECK(std::abs(got[i] - want[i]) < 1e-6);
  // reduce_range: 7 bits, scale 4 / 127, zero point round(127 / 4) = 32.
  const Tensor r = dynamic_quantized_linear(x, w, fscale(0.5), Tensor(), true);
  const double s7 = 4.0 / 127.0;  // x -> 0, 127, round(15.875) + 32 = 48, 32; centred -32, 95, 16, 0
  CHECK(std::abs(r.to_vector<double>()[0] - (2 * -32 - 95) * float(s7) * 0.5) < 1e-6);
  CHECK(std::abs(r.to_vector<double>()[1] - (2 * 16) * float(s7) * 0.5) < 1e-6);
}

TEST_CASE("int8 kernels: oneDNN runs its int8 implementations, never a reference one, on 1 and 2 threads",
          "[quantized][onednn_audit]") {
  const auto specs = specs_by_op();
  const int threads = get_num_threads();
  reset_onednn_reference_primitives();
  for (OpId op : {OpId::quantized_linear, OpId::quantized_conv2d, OpId::dynamic_quantized_linear})
    for (DType out : specs.at(op).dtypes)
      for (const Sample& s : specs.at(op).samples(out)) {
        INFO(op_name(op) << " " << describe(s));
        std::string impl;
        implementation_sink() = &impl;
        set_num_threads(1);
        const OpOutputs one = dispatch(op, s.inputs, s.attrs);
        implementation_sink() = nullptr;
        // A residual of another int8 dtype than an int8 output's runs on the reference kernel:
        // oneDNN's sum post-op reads it as the output's type (a float32 output's residual is
        // dequantized first: oneDNN). None of the samples has one.
        const bool declined =
            s.inputs.size() > kQcResidual && out != DType::Float32 && s.inputs[kQcResidual].dtype() != out;
        CHECK(last_selected_backend() == (declined ? Backend::Reference : Backend::OneDNN));
        INFO(impl);
        CHECK(impl.find("ref") == std::string::npos);
        if (!declined) CHECK((impl.find("brg") != std::string::npos || impl.find("jit") != std::string::npos));
        // Without VNNI the exact forms run (int8_pairs.h; the grouped sample: dense pairs, which
        // oneDNN's AVX2 kernels take); with it oneDNN's int8 kernels on the operands as they are.
        if (!declined) CHECK((impl.find("exact int8") != std::string::npos) == onednn_int8_saturates());
        set_num_threads(2);
        DOPPEL_REQUIRE_CLOSE(dispatch(op, s.inputs, s.attrs)[0], one[0], Tolerance{});
      }
  set_num_threads(threads);
  CHECK(onednn_reference_primitives().empty());
}

// The saturation case of int8 dot products without VNNI (doppel/kernels/int8_support.h): extreme
// activations (255 uint8, -128/127 int8) meeting weights +-127/-128 in adjacent reduction pairs,
// whose pair sums exceed int16. With scales 1, a float32 output is the int32 accumulator itself
// (below 2^24: exact in float32), checked against int64 sums written out here.
std::vector<int64_t> extreme_values(int64_t n, DType t, uint64_t seed) {
  const std::vector<int64_t> ends =
      t == DType::UInt8 ? std::vector<int64_t>{255, 255, 255, 0} : std::vector<int64_t>{127, -128, -128, 127};
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = ends[size_t((uint64_t(i) * 7 + seed) / 5 % 4)];
  return v;
}
std::vector<int64_t> extreme_weights(int64_t rows, int64_t k) {  // row r: a pattern of pairs
  std::vector<int64_t> w(size_t(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) {
      const int64_t pair = i / 2, pick = (r + pair) % 4;
      w[size_t(r * k + i)] = pick == 0 ? 127 : pick == 1 ? -128 : pick == 2 ? (i % 2 ? 127 : -127) : -127;
    }
  return w;
}
Tensor int_tensor(const std::vector<int64_t>& v, IntList shape, DType t) { return to_dtype(tensor(v, shape), t); }

TEST_CASE("int8 kernels: products whose adjacent pair sums exceed int16 are exact (no VNNI: the paired form)",
          "[quantized]") {
  INFO("onednn_int8_saturates " << onednn_int8_saturates());
  for (DType xt : {DType::UInt8, DType::Int8})
    for (int64_t zp : {int64_t(0), act_zp(xt)}) {
      INFO(dtype_name(xt) << " zero point " << zp);
      {  // linear: x [3, 70] @ w [5, 70]^T
        const int64_t M = 3, N = 5, K = 70;
        const std::vector<int64_t> xv = extreme_values(M * K, xt, 1), wv = extreme_weights(N, K);
        std::vector<double> want(size_t(M * N));
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            int64_t acc = 0;
            for (int64_t k = 0; k < K; ++k) acc += (xv[size_t(m * K + k)] - zp) * wv[size_t(n * K + k)];
            want[size_t(m * N + n)] = double(acc);
          }
        const std::vector<Tensor> in = {int_tensor(xv, {M, K}, xt),
                                        fscale(1),
                                        izp(zp),
                                        int_tensor(wv, {N, K}, DType::Int8),
                                        fscale(1),
                                        izp(0),
                                        Tensor(),
                                        Tensor(),
                                        Tensor()};
        const Tensor y = dispatch1(OpId::quantized_linear, in, out_attrs(false, DType::Float32));
        CHECK(last_selected_backend() == Backend::OneDNN);
        CHECK(y.to_vector<double>() == want);
      }
      // conv: x [1, 8, 4, 5], w [O, 8 / g, 3, 3], padding 1; groups 2 (4 channels each: dense),
      // depthwise (8 and 16 outputs)
      for (auto [groups, O] : {std::pair<int64_t, int64_t>{1, 4}, {2, 4}, {8, 8}, {8, 16}}) {
        INFO("groups " << groups << " outputs " << O);
        const int64_t C = 8, H = 4, W = 5, Cg = C / groups, Og = O / groups;
        const std::vector<int64_t> xv = extreme_values(C * H * W, xt, 2), wv = extreme_weights(O, Cg * 9);
        std::vector<double> want(size_t(O * H * W));
        for (int64_t o = 0; o < O; ++o)
          for (int64_t i = 0; i < H; ++i)
            for (int64_t j = 0; j < W; ++j) {
              int64_t acc = 0;  // padding: the real value 0 (the zero point)
              for (int64_t c = 0; c < Cg; ++c)
                for (int64_t u = 0; u < 3; ++u)
                  for (int64_t v = 0; v < 3; ++v) {
                    const int64_t ii = i + u - 1, jj = j + v - 1, ch = o / Og * Cg + c;
                    if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                    acc += (xv[size_t((ch * H + ii) * W + jj)] - zp) * wv[size_t(((o * Cg + c) * 3 + u) * 3 + v)];
                  }
              want[size_t((o * H + i) * W + j)] = double(acc);
            }
        std::vector<Tensor> in = conv_inputs({1, C, H, W}, {O, Cg, 3, 3}, xt, DType::Float32, false, false, {}, 3);
        in[kQlX] = int_tensor(xv, {1, C, H, W}, xt);
        in[kQlXScale] = fscale(1);
        in[kQlXZp] = izp(zp);
        in[kQlW] = int_tensor(wv, {O, Cg, 3, 3}, DType::Int8);
        in[kQlWScale] = fscale(1);
        const Tensor y =
            dispatch1(OpId::quantized_conv2d, in, conv_attrs({1, 1}, {1, 1}, {1, 1}, groups, false, DType::Float32));
        CHECK(last_selected_backend() == Backend::OneDNN);
        CHECK(y.to_vector<double>() == want);
      }
    }
}

TEST_CASE("trace: int8 kernels with scales as state or as graph inputs; a plan reads the values of each run",
          "[quantized][graph]") {
  // Scales made before the trace are the graph's state; the int8 kernels read their values when
  // they run (the dispatcher pauses the tracer's value-read hook there). As graph inputs, the
  // executor selects the kernel before it binds them: supports() must not read them (it did, and
  // crashed), and each run reads the values it is given.
  const std::vector<Tensor> in = linear_inputs({4, 37}, 5, DType::UInt8, DType::Int8, true, true, 0.3, 11);
  const Attrs attrs = out_attrs(true, DType::Int8);
  auto with_x = [&](const std::vector<Tensor>& x) {
    std::vector<Tensor> args = in;
    args[kQlX] = x[0];
    return std::vector<Tensor>{dispatch1(OpId::quantized_linear, args, attrs)};
  };
  const graph::TraceResult r = trace(with_x, {in[kQlX]});
  CHECK(last_selected_backend() == Backend::OneDNN);
  graph::Executor ex(r.graph);
  const Tensor x2 = qdata({4, 37}, DType::UInt8, 12);
  DOPPEL_REQUIRE_CLOSE(ex.run(std::vector<Tensor>{x2})[0], with_x({x2})[0], Tolerance{});

  auto all_inputs = [&](const std::vector<Tensor>& args) {
    return std::vector<Tensor>{dispatch1(OpId::quantized_linear, args, attrs)};
  };
  const graph::TraceResult r2 = trace(all_inputs, in);
  graph::Executor ex2(r2.graph);
  DOPPEL_REQUIRE_CLOSE(ex2.run(in)[0], all_inputs(in)[0], Tolerance{});
  std::vector<Tensor> other = in;  // another output scale and input zero point: a new result
  other[kQlYScale] = fscale(0.7);
  other[kQlXZp] = izp(3);
  const Tensor want = all_inputs(other)[0];
  CHECK(compare(want, all_inputs(in)[0], Tolerance{}).has_value());
  DOPPEL_REQUIRE_CLOSE(ex2.run(other)[0], want, Tolerance{});
}

TEST_CASE("max_pool2d and avg_pool2d on int8/uint8: the window's integers, averages half to even", "[quantized]") {
  // One 2x2 plane per window: sums 10 (2.5 -> 2), 11 (2.75 -> 3), 6 (1.5 -> 2), -10 (-2.5 -> -2).
  const Tensor x = tensor(std::vector<int8_t>{1, 2, 3, 4, 2, 3, 2, 4, 1, 2, 1, 2, -1, -2, -3, -4}, {1, 4, 2, 2});
  const Tensor avg = avg_pool2d(x, {2, 2});
  CHECK(avg.dtype() == DType::Int8);
  CHECK(avg.to_vector<int64_t>() == std::vector<int64_t>{2, 3, 2, -2});
  CHECK(max_pool2d(x, {2, 2}).to_vector<int64_t>() == std::vector<int64_t>{4, 4, 2, -1});
  // uint8 with padding (the max ignores it; the average may not count it): [[250, 7], [255, 0]].
  const Tensor u = tensor(std::vector<uint8_t>{250, 7, 255, 0}, {1, 1, 2, 2});
  CHECK(max_pool2d(u, {2, 2}, {1, 1}, {1, 1}).to_vector<int64_t>() ==
        std::vector<int64_t>{250, 250, 7, 255, 255, 7, 255, 255, 0});
  CHECK(avg_pool2d(u, {2, 2}, {2, 2}, {0, 0}, false, true, 1).to_vector<int64_t>() == std::vector<int64_t>{255});
  CHECK_THROWS_AS(avg_pool2d(u, {2, 2}, {1, 1}, {1, 1}, false, true), ValueError);
  CHECK(avg_pool2d(u, {2, 2}, {1, 1}, {1, 1}, false, false).to_vector<int64_t>()[0] == 250);
}

}  // namespace doppel::testing
