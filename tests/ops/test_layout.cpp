// Specs and value tests of the blocked-layout ops (to_blocked, from_blocked, blocked_conv2d,
// blocked_max_pool2d, and the backward ops of the last two). The generic spec test compares oneDNN against the
// reference kernels; the value tests here check the reference kernels against independent oracles: the element
// positions written out by hand, and the plain eager ops (conv2d, max_pool2d) blocked by a
// loop in the test.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <cstring>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64};
// Every dtype the oneDNN layout kernels move (and float64 / int32 / int64, reference only).
const std::vector<DType> kMoved = {DType::Float32, DType::Float64, DType::BFloat16, DType::Int8,
                                   DType::UInt8,   DType::Int32,   DType::Int64};

Tensor in(IntList shape, DType dt, uint64_t seed) { return make_input(shape, dt, seed); }

// A blocked tensor whose padded channels are zero (as every producer of one guarantees).
Tensor blocked_input(int64_t n, int64_t c, int64_t h, int64_t w, int64_t b, DType dt, uint64_t seed) {
  const Tensor x = in({n, c, h, w}, dt, seed);
  return dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = b}.pack());
}

Attrs conv_attrs(IntList stride, IntList pad, IntList dil, FusedActivation a, int64_t block) {
  return BlockedConv2dAttrs{.stride = stride,
                            .padding = pad,
                            .dilation = dil,
                            .activation = int64_t(a),
                            .alpha = a == FusedActivation::leaky_relu ? 0.1 : 0,
                            .beta = 0,
                            .block = block}
      .pack();
}

Attrs pool_attrs(IntList kernel, IntList stride, IntList pad, IntList dil, bool ceil) {
  return MaxPoolAttrs{.kernel_size = kernel, .stride = stride, .padding = pad, .dilation = dil, .ceil_mode = ceil}
      .pack();
}

// bf16: oneDNN accumulates in float32 and rounds once, the reference kernel likewise; the sums
// may round to neighbouring bf16 values (2^-8 relative).
Tolerance conv_tolerance(DType dt) {
  if (dt == DType::BFloat16) return {2e-2, 2e-2};
  return dt == DType::Float64 ? Tolerance{1e-10, 1e-10} : Tolerance{2e-4, 2e-4};
}

DOPPEL_OP_SPEC(to_blocked_spec) {
  return OpSpec{
      .op = OpId::to_blocked,
      .dtypes = kMoved,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"channels-last 3", {in({2, 3, 5, 7}, dt, 11)}, ToBlockedAttrs{.block = 3}.pack()},
                {"channels-last 24", {in({1, 24, 5, 5}, dt, 12)}, ToBlockedAttrs{.block = 24}.pack()},
                {"channels-last 40", {in({2, 40, 3, 4}, dt, 13)}, ToBlockedAttrs{.block = 40}.pack()},
                {"channels-last 64", {in({2, 64, 7, 7}, dt, 14)}, ToBlockedAttrs{.block = 64}.pack()},
                {"channels-last 100", {in({1, 100, 3, 3}, dt, 15)}, ToBlockedAttrs{.block = 100}.pack()},
                {"channels-last 16", {in({1, 16, 5, 3}, dt, 16)}, ToBlockedAttrs{.block = 16}.pack()},
                {"one block wider than C", {in({2, 5, 3, 3}, dt, 17)}, ToBlockedAttrs{.block = 7}.pack()},
                {"two blocks of 12 (no oneDNN tag)", {in({1, 20, 3, 3}, dt, 18)}, ToBlockedAttrs{.block = 12}.pack()},
                {"padded channels", {in({2, 5, 3, 4}, dt, 1)}, ToBlockedAttrs{.block = 4}.pack()},
                {"exact blocks", {in({1, 16, 2, 3}, dt, 2)}, ToBlockedAttrs{.block = 8}.pack()},
                {"block 16", {in({2, 3, 4, 4}, dt, 3)}, ToBlockedAttrs{.block = 16}.pack()},
                {"block 1", {in({1, 3, 2, 2}, dt, 4)}, ToBlockedAttrs{.block = 1}.pack()},
                {"empty batch", {in({0, 5, 3, 3}, dt, 5)}, ToBlockedAttrs{.block = 8}.pack()},
                {"large", {in({8, 40, 14, 14}, dt, 6)}, ToBlockedAttrs{.block = 16}.pack()}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"3-d input",
                                             {in({3, 4, 4}, DType::Float32, 1)},
                                             ToBlockedAttrs{.block = 8}.pack(),
                                             ErrorKind::Shape,
                                             "to_blocked"},
                                            {"zero block",
                                             {in({1, 3, 4, 4}, DType::Float32, 1)},
                                             ToBlockedAttrs{.block = 0}.pack(),
                                             ErrorKind::Value,
                                             "block"}};
          },
      .gradcheck = false};
}

DOPPEL_OP_SPEC(from_blocked_spec) {
  return OpSpec{
      .op = OpId::from_blocked,
      .dtypes = kMoved,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"channels-last 3", {blocked_input(2, 3, 5, 7, 3, dt, 11)}, FromBlockedAttrs{.channels = 3}.pack()},
                {"channels-last 24", {blocked_input(1, 24, 5, 5, 24, dt, 12)}, FromBlockedAttrs{.channels = 24}.pack()},
                {"channels-last 64", {blocked_input(2, 64, 7, 7, 64, dt, 14)}, FromBlockedAttrs{.channels = 64}.pack()},
                {"channels-last 100",
                 {blocked_input(1, 100, 3, 3, 100, dt, 15)},
                 FromBlockedAttrs{.channels = 100}.pack()},
                {"one block wider than C",
                 {blocked_input(2, 5, 3, 3, 7, dt, 17)},
                 FromBlockedAttrs{.channels = 5}.pack()},
                {"padded channels", {blocked_input(2, 5, 3, 4, 4, dt, 1)}, FromBlockedAttrs{.channels = 5}.pack()},
                {"exact blocks", {blocked_input(1, 16, 2, 3, 8, dt, 2)}, FromBlockedAttrs{.channels = 16}.pack()},
                {"block 16", {blocked_input(2, 3, 4, 4, 16, dt, 3)}, FromBlockedAttrs{.channels = 3}.pack()},
                {"empty batch", {blocked_input(0, 5, 3, 3, 8, dt, 5)}, FromBlockedAttrs{.channels = 5}.pack()},
                {"large", {blocked_input(8, 40, 14, 14, 16, dt, 6)}, FromBlockedAttrs{.channels = 40}.pack()}};
          },
      .errors =
          [] {
            const Tensor xb = blocked_input(1, 5, 3, 3, 4, DType::Float32, 1);
            return std::vector<ErrorSample>{
                {"4-d input",
                 {in({1, 5, 3, 3}, DType::Float32, 1)},
                 FromBlockedAttrs{.channels = 5}.pack(),
                 ErrorKind::Shape,
                 "from_blocked"},
                {"too few channels", {xb}, FromBlockedAttrs{.channels = 4}.pack(), ErrorKind::Shape, "channels"},
                {"too many channels", {xb}, FromBlockedAttrs{.channels = 9}.pack(), ErrorKind::Shape, "channels"}};
          },
      .gradcheck = false};
}

DOPPEL_OP_SPEC(blocked_conv2d_spec) {
  return OpSpec{.op = OpId::blocked_conv2d,
                .dtypes = {DType::Float32, DType::Float64, DType::BFloat16},
                .samples =
                    [](DType dt) {
                      const Tensor none;
                      return std::vector<Sample>{
                          {"channels-last in and out",
                           {blocked_input(2, 24, 7, 7, 24, dt, 31), in({40, 24, 3, 3}, dt, 32), in({40}, dt, 33)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 40)},
                          {"nChw16c in, channels-last out",
                           {blocked_input(1, 32, 6, 6, 16, dt, 34), in({24, 32, 3, 3}, dt, 35), in({24}, dt, 36)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::none, 24)},
                          {"channels-last in, nChw16c out",
                           {blocked_input(1, 12, 9, 9, 12, dt, 37), in({24, 12, 3, 3}, dt, 38), none},
                           conv_attrs({2, 2}, {1, 1}, {1, 1}, FusedActivation::relu, 16)},
                          {"plain 3 channels in, channels-last 8 out",
                           {in({2, 3, 11, 9}, dt, 39), in({8, 3, 3, 3}, dt, 40), in({8}, dt, 41)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 8)},
                          {"plain 1 channel in, channels-last 32 out",
                           {in({2, 1, 12, 12}, dt, 42), in({32, 1, 3, 3}, dt, 43), in({32}, dt, 44)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 32)},
                          {"channels-last 1x1 stride 2 with residual",
                           {blocked_input(1, 64, 9, 9, 64, dt, 45), in({64, 64, 1, 1}, dt, 46), in({64}, dt, 47),
                            blocked_input(1, 64, 5, 5, 64, dt, 48)},
                           conv_attrs({2, 2}, {0, 0}, {1, 1}, FusedActivation::relu, 64)},
                          {"channels-last 3 -> 3, one block wider than C out",
                           {blocked_input(1, 3, 5, 5, 3, dt, 49), in({3, 3, 3, 3}, dt, 50), none},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::none, 5)},
                          {"plain input, bias, relu",
                           {in({2, 3, 6, 5}, dt, 1), in({5, 3, 3, 3}, dt, 2), in({5}, dt, 3)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 4)},
                          {"blocked input, no bias",
                           {blocked_input(2, 6, 6, 6, 4, dt, 4), in({7, 6, 3, 3}, dt, 5)},
                           conv_attrs({1, 1}, {0, 0}, {1, 1}, FusedActivation::none, 4)},
                          {"stride dilation leaky",
                           {blocked_input(1, 8, 9, 8, 8, dt, 6), in({8, 8, 3, 2}, dt, 7), in({8}, dt, 8)},
                           conv_attrs({2, 1}, {1, 0}, {1, 2}, FusedActivation::leaky_relu, 8)},
                          {"floor-mode leftover",
                           {blocked_input(1, 3, 8, 8, 16, dt, 9), in({4, 3, 3, 3}, dt, 10), none},
                           conv_attrs({2, 2}, {0, 0}, {1, 1}, FusedActivation::tanh, 16)},
                          {"empty batch",
                           {blocked_input(0, 3, 5, 5, 4, dt, 11), in({4, 3, 3, 3}, dt, 12)},
                           conv_attrs({1, 1}, {0, 0}, {1, 1}, FusedActivation::relu, 4)},
                          {"large",
                           {blocked_input(4, 32, 14, 14, 16, dt, 13), in({40, 32, 3, 3}, dt, 14), in({40}, dt, 15)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 16)},
                          {"residual, then relu",
                           {blocked_input(2, 32, 7, 7, 16, dt, 16), in({24, 32, 3, 3}, dt, 17), in({24}, dt, 18),
                            blocked_input(2, 24, 7, 7, 16, dt, 19)},
                           conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 16)},
                          {"residual, no bias, strided",
                           {blocked_input(1, 16, 9, 9, 16, dt, 20), in({32, 16, 1, 1}, dt, 21), Tensor(),
                            blocked_input(1, 32, 5, 5, 16, dt, 22)},
                           conv_attrs({2, 2}, {0, 0}, {1, 1}, FusedActivation::none, 16)}};
                    },
                .errors =
                    [] {
                      const Tensor w = in({4, 6, 3, 3}, DType::Float32, 2);
                      const Attrs a = conv_attrs({1, 1}, {0, 0}, {1, 1}, FusedActivation::relu, 4);
                      return std::vector<ErrorSample>{
                          {"channel blocks mismatch",
                           {blocked_input(1, 9, 5, 5, 4, DType::Float32, 1), w},
                           a,
                           ErrorKind::Shape,
                           "channel blocks"},
                          {"plain channel mismatch",
                           {in({1, 5, 5, 5}, DType::Float32, 1), w},
                           a,
                           ErrorKind::Shape,
                           "blocked_conv2d"},
                          {"3-d input", {in({6, 5, 5}, DType::Float32, 1), w}, a, ErrorKind::Shape, "blocked_conv2d"},
                          {"residual shape",
                           {blocked_input(1, 6, 5, 5, 4, DType::Float32, 1), w, Tensor(),
                            blocked_input(1, 4, 5, 5, 4, DType::Float32, 2)},
                           a,
                           ErrorKind::Shape,
                           "residual"},
                          {"zero block",
                           {in({1, 6, 5, 5}, DType::Float32, 1), w},
                           conv_attrs({1, 1}, {0, 0}, {1, 1}, FusedActivation::relu, 0),
                           ErrorKind::Value,
                           "block"},
                          {"integer dtype",
                           {in({1, 6, 5, 5}, DType::Int32, 1), in({4, 6, 3, 3}, DType::Int32, 2)},
                           a,
                           ErrorKind::DType,
                           "blocked_conv2d"},
                          {"residual dtype",
                           {blocked_input(1, 6, 5, 5, 6, DType::Float32, 1), w, Tensor(),
                            blocked_input(1, 4, 3, 3, 4, DType::BFloat16, 2)},
                           conv_attrs({1, 1}, {0, 0}, {1, 1}, FusedActivation::relu, 4),
                           ErrorKind::DType,
                           "residual"}};
                    },
                .tolerance = conv_tolerance,
                .gradcheck = false};
}

DOPPEL_OP_SPEC(blocked_max_pool2d_spec) {
  return OpSpec{
      .op = OpId::blocked_max_pool2d,
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Int8, DType::UInt8},
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"channels-last 3, 2x2 odd size",
                 {blocked_input(2, 3, 7, 9, 3, dt, 21)},
                 pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"channels-last 24, 3x3 stride 2 pad 1",
                 {blocked_input(1, 24, 9, 9, 24, dt, 22)},
                 pool_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)},
                {"channels-last 40, 2x2",
                 {blocked_input(2, 40, 8, 6, 40, dt, 23)},
                 pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"channels-last 64, ceil mode",
                 {blocked_input(1, 64, 7, 7, 64, dt, 24)},
                 pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, true)},
                {"channels-last 100, 3x3 dilation 2",
                 {blocked_input(1, 100, 9, 8, 100, dt, 25)},
                 pool_attrs({3, 3}, {1, 1}, {1, 1}, {2, 2}, false)},
                {"one block wider than C",
                 {blocked_input(1, 5, 6, 6, 7, dt, 26)},
                 pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"2x2", {blocked_input(2, 5, 6, 6, 4, dt, 1)}, pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"3x3 stride 2 pad 1",
                 {blocked_input(1, 8, 7, 9, 8, dt, 2)},
                 pool_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false)},
                {"floor leftover",
                 {blocked_input(1, 3, 7, 7, 16, dt, 3)},
                 pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)},
                {"ceil mode", {blocked_input(1, 3, 7, 7, 4, dt, 4)}, pool_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, true)},
                {"empty batch", {blocked_input(0, 3, 4, 4, 4, dt, 5)}, pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)},
                {"large", {blocked_input(8, 32, 28, 28, 16, dt, 6)}, pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false)}};
          },
      .errors =
          [] {
            return std::vector<ErrorSample>{{"4-d input",
                                             {in({1, 4, 4, 4}, DType::Float32, 1)},
                                             pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false),
                                             ErrorKind::Shape,
                                             "blocked_max_pool2d"},
                                            {"window too large",
                                             {blocked_input(1, 4, 2, 2, 4, DType::Float32, 1)},
                                             pool_attrs({3, 3}, {}, {0, 0}, {1, 1}, false),
                                             ErrorKind::Shape,
                                             "output size"},
                                            {"zero kernel",
                                             {blocked_input(1, 4, 4, 4, 4, DType::Float32, 1)},
                                             pool_attrs({0, 0}, {}, {0, 0}, {1, 1}, false),
                                             ErrorKind::Value,
                                             "positive"}};
          },
      .gradcheck = false};
}

Attrs conv_bwd_attrs(IntList stride, IntList pad, IntList dil, IntList mask) {
  return BlockedConv2dBackwardAttrs{.stride = stride, .padding = pad, .dilation = dil, .output_mask = mask}.pack();
}

Attrs pool_bwd_attrs(IntList kernel, IntList stride, IntList pad, bool ceil, bool relu) {
  return BlockedMaxPool2dBackwardAttrs{
      .kernel_size = kernel, .stride = stride, .padding = pad, .dilation = {1, 1}, .ceil_mode = ceil, .relu = relu}
      .pack();
}

// A blocked [n, c, h, w] input whose values come from {-1, -0, 0, 1, 2, NaN} by position: windows
// full of ties, -0 against +0, NaN in some windows (none when `nan` is false).
Tensor blocked_specials(int64_t n, int64_t c, int64_t h, int64_t w, int64_t b, DType dt, bool nan) {
  const double vals[6] = {-1.0, -0.0, 0.0, 1.0, 2.0, std::nan("")};
  std::vector<double> v(size_t(n * c * h * w));
  for (size_t k = 0; k < v.size(); ++k) v[k] = vals[(k * 7 + k / 5) % (nan ? 6 : 5)];
  const Tensor x = tensor(v, {n, c, h, w}).to(dt);
  return dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = b}.pack());
}

DOPPEL_OP_SPEC(blocked_conv2d_backward_spec) {
  return OpSpec{
      .op = OpId::blocked_conv2d_backward,
      .dtypes = kFloat,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"plain input (first layer), weight and bias grads",
                 {blocked_input(2, 5, 6, 5, 4, dt, 1), in({2, 3, 6, 5}, dt, 2), in({5, 3, 3, 3}, dt, 3)},
                 conv_bwd_attrs({1, 1}, {1, 1}, {1, 1}, {0, 1, 1})},
                {"one input channel, plain, all grads",
                 {blocked_input(2, 16, 7, 7, 16, dt, 4), in({2, 1, 7, 7}, dt, 5), in({16, 1, 3, 3}, dt, 6)},
                 conv_bwd_attrs({1, 1}, {1, 1}, {1, 1}, {1, 1, 1})},
                {"blocked input, all grads",
                 {blocked_input(2, 7, 4, 4, 4, dt, 7), blocked_input(2, 6, 6, 6, 4, dt, 8), in({7, 6, 3, 3}, dt, 9)},
                 conv_bwd_attrs({1, 1}, {0, 0}, {1, 1}, {1, 1, 1})},
                {"stride dilation, odd sizes",
                 {blocked_input(1, 8, 5, 6, 8, dt, 10), blocked_input(1, 8, 9, 8, 8, dt, 11), in({8, 8, 3, 2}, dt, 12)},
                 conv_bwd_attrs({2, 1}, {1, 0}, {1, 2}, {1, 1, 0})},
                {"floor-mode leftover, 3 channels blocked",
                 {blocked_input(1, 4, 3, 3, 16, dt, 13), blocked_input(1, 3, 8, 8, 16, dt, 14),
                  in({4, 3, 3, 3}, dt, 15)},
                 conv_bwd_attrs({2, 2}, {0, 0}, {1, 1}, {1, 0, 1})},
                {"24 channels, stride 2",
                 {blocked_input(2, 16, 5, 5, 16, dt, 16), blocked_input(2, 24, 9, 9, 16, dt, 17),
                  in({16, 24, 3, 3}, dt, 18)},
                 conv_bwd_attrs({2, 2}, {1, 1}, {1, 1}, {1, 1, 1})},
                {"grad_input only, 1x1",
                 {blocked_input(2, 16, 7, 7, 16, dt, 19), blocked_input(2, 16, 7, 7, 16, dt, 20),
                  in({16, 16, 1, 1}, dt, 21)},
                 conv_bwd_attrs({1, 1}, {0, 0}, {1, 1}, {1, 0, 0})},
                {"large",
                 {blocked_input(4, 40, 14, 14, 16, dt, 22), blocked_input(4, 32, 14, 14, 16, dt, 23),
                  in({40, 32, 3, 3}, dt, 24)},
                 conv_bwd_attrs({1, 1}, {1, 1}, {1, 1}, {1, 1, 1})},
                {"empty batch",
                 {blocked_input(0, 4, 3, 3, 4, dt, 25), blocked_input(0, 3, 5, 5, 4, dt, 26), in({4, 3, 3, 3}, dt, 27)},
                 conv_bwd_attrs({1, 1}, {0, 0}, {1, 1}, {1, 1, 1})}};
          },
      .errors =
          [] {
            const DType f = DType::Float32;
            const Tensor w = in({4, 6, 3, 3}, f, 2), xb = blocked_input(1, 6, 5, 5, 4, f, 1);
            const Attrs a = conv_bwd_attrs({1, 1}, {0, 0}, {1, 1}, {1, 1, 1});
            return std::vector<ErrorSample>{
                {"plain grad_out", {in({1, 4, 3, 3}, f, 3), xb, w}, a, ErrorKind::Shape, "grad_out"},
                {"grad_out channel blocks",
                 {blocked_input(1, 9, 3, 3, 4, f, 3), xb, w},
                 a,
                 ErrorKind::Shape,
                 "grad_out"},
                {"grad_out spatial size", {blocked_input(1, 4, 4, 3, 4, f, 3), xb, w}, a, ErrorKind::Shape, "grad_out"},
                {"input block",
                 {blocked_input(1, 4, 3, 3, 4, f, 3), blocked_input(1, 6, 5, 5, 8, f, 1), w},
                 a,
                 ErrorKind::Shape,
                 "blocked input"},
                {"output_mask",
                 {blocked_input(1, 4, 3, 3, 4, f, 3), xb, w},
                 conv_bwd_attrs({1, 1}, {0, 0}, {1, 1}, {1, 1}),
                 ErrorKind::Value,
                 "output_mask"}};
          },
      .tolerance = conv_tolerance,
      .gradcheck = false};
}

DOPPEL_OP_SPEC(blocked_max_pool2d_backward_spec) {
  return OpSpec{.op = OpId::blocked_max_pool2d_backward,
                .dtypes = kFloat,
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
                          {"2x2",
                           {blocked_input(2, 5, 3, 3, 4, dt, 1), blocked_input(2, 5, 6, 6, 4, dt, 2)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, false)},
                          {"2x2 relu, odd sizes, 24 channels",
                           {blocked_input(1, 24, 3, 4, 16, dt, 3), blocked_input(1, 24, 7, 9, 16, dt, 4)},
                           pool_bwd_attrs({2, 2}, {2, 2}, {0, 0}, false, true)},
                          {"2x2 relu, block 8",
                           {blocked_input(2, 8, 4, 4, 8, dt, 5), blocked_input(2, 8, 8, 8, 8, dt, 6)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)},
                          {"2x2 ties, -0, NaN",
                           {blocked_input(2, 3, 3, 4, 16, dt, 7), blocked_specials(2, 3, 7, 8, 16, dt, true)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, false)},
                          {"2x2 relu ties, -0, NaN",
                           {blocked_input(2, 3, 3, 4, 16, dt, 8), blocked_specials(2, 3, 7, 8, 16, dt, true)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)},
                          {"3x3 stride 2 pad 1",
                           {blocked_input(1, 8, 4, 5, 8, dt, 9), blocked_input(1, 8, 7, 9, 8, dt, 10)},
                           pool_bwd_attrs({3, 3}, {2, 2}, {1, 1}, false, false)},
                          {"3x3 stride 2 pad 1 relu, ties",
                           {blocked_input(1, 8, 4, 5, 16, dt, 11), blocked_specials(1, 8, 7, 9, 16, dt, false)},
                           pool_bwd_attrs({3, 3}, {2, 2}, {1, 1}, false, true)},
                          {"3x3 stride 2 NaN",
                           {blocked_input(1, 8, 3, 4, 16, dt, 12), blocked_specials(1, 8, 7, 9, 16, dt, true)},
                           pool_bwd_attrs({3, 3}, {2, 2}, {0, 0}, false, true)},
                          {"ceil mode",
                           {blocked_input(1, 3, 4, 4, 4, dt, 13), blocked_input(1, 3, 7, 7, 4, dt, 14)},
                           pool_bwd_attrs({2, 2}, {2, 2}, {0, 0}, true, false)},
                          {"empty batch",
                           {blocked_input(0, 3, 2, 2, 4, dt, 15), blocked_input(0, 3, 4, 4, 4, dt, 16)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)},
                          {"large",
                           {blocked_input(8, 32, 14, 14, 16, dt, 17), blocked_input(8, 32, 28, 28, 16, dt, 18)},
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)}};
                    },
                .errors =
                    [] {
                      const DType f = DType::Float32;
                      const Tensor xb = blocked_input(1, 4, 4, 4, 4, f, 1);
                      const Attrs a = pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true);
                      return std::vector<ErrorSample>{
                          {"plain input",
                           {blocked_input(1, 4, 2, 2, 4, f, 2), in({1, 4, 4, 4}, f, 1)},
                           a,
                           ErrorKind::Shape,
                           "blocked_max_pool2d_backward"},
                          {"grad_out shape", {blocked_input(1, 4, 2, 3, 4, f, 2), xb}, a, ErrorKind::Shape, "grad_out"},
                          {"grad_out dtype",
                           {blocked_input(1, 4, 2, 2, 4, DType::Float64, 2), xb},
                           a,
                           ErrorKind::DType,
                           "grad_out"},
                          {"window too large",
                           {blocked_input(1, 4, 1, 1, 4, f, 2), blocked_input(1, 4, 2, 2, 4, f, 1)},
                           pool_bwd_attrs({3, 3}, {}, {0, 0}, false, false),
                           ErrorKind::Shape,
                           "output size"}};
                    },
                .gradcheck = false};
}

// A float32 tensor's bits (NaN payloads and the sign of zero included).
std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<uint32_t> bits(size_t(t.numel()));
  std::memcpy(bits.data(), contiguous(t).data_ptr<float>(), bits.size() * sizeof(float));
  return bits;
}

// op's kernel of backend `be` (one float32 output of `shape`).
Tensor reference_or_fast(Backend be, OpId op, std::vector<Tensor> inputs, const Attrs& attrs, IntList shape) {
  const Tensor y = make_tensor(shape, DType::Float32);
  const Tensor outs[1] = {y};
  REQUIRE(kernel_for(op, be));
  kernel_for(op, be).run(OpCall{op, inputs, attrs}, std::span<const Tensor>(outs, 1));
  return y;
}

const MaxPoolAttrs kPool2x2{.kernel_size = {2, 2}, .stride = {}, .padding = {0, 0}, .dilation = {1, 1}};

// blocked_max_pool2d_winners of blocked x: (the pool, the winners of its disjoint 2x2 windows).
std::vector<Tensor> pool_winners(const Tensor& xb) {
  const auto outs = dispatch(OpId::blocked_max_pool2d_winners, {xb}, kPool2x2.pack());
  return {outs[0], outs[1]};
}
Tensor winners_of(const Tensor& xb) { return pool_winners(xb)[1]; }

// A blocked_max_pool2d_backward_winners call's operands from an input x: a gradient of x's
// pooled shape (seed), the pooled output, the winners.
std::vector<Tensor> from_winners(const Tensor& xb, uint64_t seed) {
  const Tensor y = dispatch1(OpId::blocked_max_pool2d, {xb}, kPool2x2.pack());
  const Tensor gy =
      dispatch1(OpId::to_blocked, {in({y.size(0), y.size(1) * y.size(4), y.size(2), y.size(3)}, DType::Float32, seed)},
                ToBlockedAttrs{.block = y.size(4)}.pack());
  return {gy, y, winners_of(xb)};
}

DOPPEL_OP_SPEC(blocked_max_pool2d_winners_spec) {
  return OpSpec{
      .op = OpId::blocked_max_pool2d_winners,
      .dtypes = {DType::Float32},
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
                {"block 4", {blocked_input(2, 5, 6, 6, 4, dt, 1)}, kPool2x2.pack()},
                {"block 8, the CNN's 28x28", {blocked_input(2, 8, 28, 28, 8, dt, 2)}, kPool2x2.pack()},
                {"odd sizes, 24 channels in blocks of 16", {blocked_input(1, 24, 7, 9, 16, dt, 3)}, kPool2x2.pack()},
                {"ties, -0, NaN", {blocked_specials(2, 3, 7, 8, 16, dt, true)}, kPool2x2.pack()},
                {"empty batch", {blocked_input(0, 3, 4, 4, 4, dt, 4)}, kPool2x2.pack()}};
          },
      .errors =
          [] {
            const DType f = DType::Float32;
            const Tensor xb = blocked_input(1, 4, 6, 6, 4, f, 1);
            return std::vector<ErrorSample>{
                {"3x3 windows",
                 {xb},
                 MaxPoolAttrs{.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}}.pack(),
                 ErrorKind::Value,
                 "only disjoint 2x2 windows"},
                {"plain input", {in({1, 4, 6, 6}, f, 1)}, kPool2x2.pack(), ErrorKind::Shape, "blocked"},
                {"float64",
                 {blocked_input(1, 4, 6, 6, 4, DType::Float64, 1)},
                 kPool2x2.pack(),
                 ErrorKind::DType,
                 "must be float32"}};
          },
      .gradcheck = false};
}

DOPPEL_OP_SPEC(blocked_max_pool2d_backward_winners_spec) {
  return OpSpec{.op = OpId::blocked_max_pool2d_backward_winners,
                .dtypes = {DType::Float32},
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
                          {"block 4", from_winners(blocked_input(2, 5, 6, 6, 4, dt, 1), 11),
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, false)},
                          {"relu, block 8, 28x28", from_winners(blocked_input(2, 8, 28, 28, 8, dt, 2), 12),
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)},
                          {"relu, odd sizes, 24 channels", from_winners(blocked_input(1, 24, 7, 9, 16, dt, 3), 13),
                           pool_bwd_attrs({2, 2}, {2, 2}, {0, 0}, false, true)},
                          {"relu ties, -0, NaN", from_winners(blocked_specials(2, 3, 7, 8, 16, dt, true), 14),
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)},
                          {"empty batch", from_winners(blocked_input(0, 3, 4, 4, 4, dt, 4), 15),
                           pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true)}};
                    },
                .errors =
                    [] {
                      const std::vector<Tensor> ok = from_winners(blocked_input(1, 4, 6, 6, 4, DType::Float32, 1), 2);
                      const Attrs a = pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true);
                      return std::vector<ErrorSample>{
                          {"3x3 windows", ok, pool_bwd_attrs({3, 3}, {2, 2}, {1, 1}, false, true), ErrorKind::Value,
                           "only disjoint 2x2 windows"},
                          {"grad_out shape",
                           {blocked_input(1, 4, 2, 3, 4, DType::Float32, 3), ok[1], ok[2]},
                           a,
                           ErrorKind::Shape,
                           "pooled shape"},
                          {"winners dtype", {ok[0], ok[1], ok[1]}, a, ErrorKind::DType, "winners must be uint8"}};
                    },
                .gradcheck = false};
}

TEST_CASE("blocked max pool by winners: blocked_max_pool2d_backward's bits without the input", "[ops][layout]") {
  // Every block the kernels take, relu or not, odd sizes, ties, -0 against +0, NaN, both backends.
  for (const Backend be : {Backend::OneDNN, Backend::Reference})
    for (const int64_t b : {4, 8, 16})
      for (const bool nan : {false, true})
        for (const bool relu : {false, true}) {
          INFO("backend " << int(be) << ", block " << b << ", NaN " << nan << ", relu " << relu);
          const Tensor xb = nan ? blocked_specials(2, 19, 9, 11, b, DType::Float32, true)
                                : blocked_input(2, 19, 9, 11, b, DType::Float32, 7);
          const std::vector<Tensor> ops = from_winners(xb, 21);
          const Attrs a = pool_bwd_attrs({2, 2}, {}, {0, 0}, false, relu);
          const Tensor want = dispatch1(OpId::blocked_max_pool2d_backward, {ops[0], xb}, a);
          const Tensor got = reference_or_fast(be, OpId::blocked_max_pool2d_backward_winners, ops, a, xb.shape());
          CHECK(float_bits(got) == float_bits(want));
          // The pool it computes with the winners is blocked_max_pool2d's, bit for bit; the winners:
          // one per window, none outside the windows.
          const std::vector<Tensor> pw = pool_winners(xb);
          CHECK(float_bits(pw[0]) == float_bits(ops[1]));
          const std::vector<uint8_t> m = pw[1].to_vector<uint8_t>();
          CHECK(std::count(m.begin(), m.end(), uint8_t(1)) == 2 * ((19 + b - 1) / b) * b * 4 * 5);
        }
}

// A double loop that blocks a plain [N, C, H, W] tensor (padding 0): the independent oracle.
std::vector<double> block_by_hand(const Tensor& x, int64_t b) {
  const std::vector<double> v = x.to_vector<double>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), Cb = (C + b - 1) / b;
  std::vector<double> r(size_t(N * Cb * H * W * b), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          r[size_t((((n * Cb + c / b) * H + h) * W + w) * b + c % b)] = v[size_t(((n * C + c) * H + h) * W + w)];
  return r;
}

Tensor reference_call(OpId op, std::vector<Tensor> inputs, const Attrs& attrs, IntList out_shape, DType dt) {
  const Tensor y = make_tensor(out_shape, dt);
  const Tensor outs[1] = {y};
  kernel_for(op, Backend::Reference).run(OpCall{op, inputs, attrs}, std::span<const Tensor>(outs, 1));
  return y;
}

TEST_CASE("to_blocked / from_blocked reference: element positions and zero padding", "[ops][layout]") {
  const Tensor x = in({2, 5, 3, 2}, DType::Float64, 7);
  const Tensor xb =
      reference_call(OpId::to_blocked, {x}, ToBlockedAttrs{.block = 4}.pack(), {2, 2, 3, 2, 4}, DType::Float64);
  CHECK(xb.to_vector<double>() == block_by_hand(x, 4));
  const Tensor back =
      reference_call(OpId::from_blocked, {xb}, FromBlockedAttrs{.channels = 5}.pack(), {2, 5, 3, 2}, DType::Float64);
  CHECK(back.to_vector<double>() == x.to_vector<double>());
  // Hand-placed: channel 4 of (n=1, h=2, w=1) sits in block 1, lane 0.
  CHECK(xb.to_vector<double>()[size_t((((1 * 2 + 1) * 3 + 2) * 2 + 1) * 4 + 0)] ==
        x.to_vector<double>()[size_t(((1 * 5 + 4) * 3 + 2) * 2 + 1)]);
}

TEST_CASE("to_blocked / from_blocked on oneDNN: every dtype and block, channels-last included, by hand",
          "[ops][layout]") {
  struct Geometry {
    int64_t n, c, h, w, b;
  };
  // Channels-last (b = C, odd counts), one block wider than C (strided, padding zeroed), nChw<b>c.
  const Geometry geometries[] = {{2, 3, 5, 7, 3},     {1, 24, 5, 5, 24}, {2, 40, 3, 4, 40}, {1, 64, 7, 7, 64},
                                 {1, 100, 3, 3, 100}, {2, 5, 3, 3, 7},   {1, 12, 4, 5, 12}, {2, 20, 3, 5, 16},
                                 {1, 6, 3, 3, 8},     {1, 16, 3, 3, 16}};
  for (const DType dt : {DType::Float32, DType::BFloat16, DType::Int8, DType::UInt8}) {
    uint64_t seed = 90;
    for (const Geometry& g : geometries) {
      INFO(dtype_name(dt) << " [" << g.n << ", " << g.c << ", " << g.h << ", " << g.w << "] block " << g.b);
      const Tensor x = make_input({g.n, g.c, g.h, g.w}, dt, ++seed, -100.0, 100.0);
      const Tensor xb = dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = g.b}.pack());
      CHECK(last_selected_backend() == Backend::OneDNN);
      CHECK(xb.to(DType::Float64).to_vector<double>() == block_by_hand(x, g.b));
      const Tensor back = dispatch1(OpId::from_blocked, {xb}, FromBlockedAttrs{.channels = g.c}.pack());
      CHECK(last_selected_backend() == Backend::OneDNN);
      CHECK(back.to(DType::Float64).to_vector<double>() == x.to(DType::Float64).to_vector<double>());
      // A strided (channels-sliced) input blocks the same.
      const Tensor wide = make_input({g.n, g.c + 2, g.h, g.w}, dt, ++seed, -100.0, 100.0);
      const Tensor part = wide.slice(1, 1, g.c + 1);
      CHECK(dispatch1(OpId::to_blocked, {part}, ToBlockedAttrs{.block = g.b}.pack())
                .to(DType::Float64)
                .to_vector<double>() == block_by_hand(part, g.b));
    }
  }
}

TEST_CASE("blocked_conv2d / blocked_max_pool2d reference equal the plain eager ops, blocked", "[ops][layout]") {
  const Tensor x = in({2, 6, 7, 7}, DType::Float64, 1), w = in({5, 6, 3, 3}, DType::Float64, 2),
               b = in({5}, DType::Float64, 3);
  const Tensor xb =
      reference_call(OpId::to_blocked, {x}, ToBlockedAttrs{.block = 4}.pack(), {2, 2, 7, 7, 4}, DType::Float64);
  const Tensor y =
      reference_call(OpId::blocked_conv2d, {xb, w, b}, conv_attrs({1, 1}, {1, 1}, {1, 1}, FusedActivation::relu, 4),
                     {2, 2, 7, 7, 4}, DType::Float64);
  const Tensor expect = relu(conv2d(x, w, b, {1, 1}, {1, 1}));
  const std::vector<double> got = y.to_vector<double>(), want = block_by_hand(expect, 4);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - want[i]) < 1e-10);
  const Tensor p = reference_call(OpId::blocked_max_pool2d, {y}, pool_attrs({2, 2}, {}, {0, 0}, {1, 1}, false),
                                  {2, 2, 3, 3, 4}, DType::Float64);
  CHECK(p.to_vector<double>() == block_by_hand(max_pool2d(expect, {2, 2}), 4));
}

TEST_CASE("blocked_conv2d_backward reference equals oneDNN's plain convolution_backward, blocked", "[ops][layout]") {
  // The oracle: the plain op in float32 (oneDNN's kernel, no blocked code) against the blocked
  // reference in float64; the padded channels of grad_input must be zero.
  const Tensor x = in({2, 6, 7, 7}, DType::Float64, 1), w = in({5, 6, 3, 3}, DType::Float64, 2),
               gy = in({2, 5, 4, 4}, DType::Float64, 3);
  const ConvolutionBackwardAttrs plain{.stride = {2, 2},
                                       .padding = {1, 1},
                                       .dilation = {1, 1},
                                       .groups = 1,
                                       .transposed = false,
                                       .output_padding = {0, 0},
                                       .output_mask = {1, 1, 1}};
  const OpOutputs want = dispatch(OpId::convolution_backward,
                                  {gy.to(DType::Float32), x.to(DType::Float32), w.to(DType::Float32)}, plain.pack());
  const Tensor outs[3] = {make_tensor({2, 2, 7, 7, 4}, DType::Float64), make_tensor({5, 6, 3, 3}, DType::Float64),
                          make_tensor({5}, DType::Float64)};
  const Tensor gyb = dispatch1(OpId::to_blocked, {gy}, ToBlockedAttrs{.block = 4}.pack()),
               xb = dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = 4}.pack());
  const Tensor inputs[3] = {gyb, xb, w};
  kernel_for(OpId::blocked_conv2d_backward, Backend::Reference)
      .run(OpCall{OpId::blocked_conv2d_backward, inputs, conv_bwd_attrs({2, 2}, {1, 1}, {1, 1}, {1, 1, 1})},
           std::span<const Tensor>(outs, 3));
  const std::vector<double> got = outs[0].to_vector<double>(), expect = block_by_hand(want[0], 4);
  REQUIRE(got.size() == expect.size());
  for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - expect[i]) < 1e-4);
  DOPPEL_REQUIRE_CLOSE(outs[1].to(DType::Float32), want[1], (Tolerance{1e-4, 1e-4}));
  DOPPEL_REQUIRE_CLOSE(outs[2].to(DType::Float32), want[2], (Tolerance{1e-4, 1e-4}));
}

// The gradient of max_pool2d(relu(z)) by z for 2x2 windows, from its definition in float64: each
// window's first maximum gets the gradient, then nothing where that maximum is <= 0.
std::vector<double> pool_relu_backward_by_hand(const Tensor& gy, const Tensor& x) {
  const std::vector<double> g = gy.to_vector<double>(), v = x.to_vector<double>();
  const int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  std::vector<double> r(v.size(), 0.0);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < H / 2; ++i)
      for (int64_t j = 0; j < W / 2; ++j) {
        size_t best = size_t((p * H + 2 * i) * W + 2 * j);
        for (int64_t di = 0; di < 2; ++di)
          for (int64_t dj = 0; dj < 2; ++dj) {
            const size_t k = size_t((p * H + 2 * i + di) * W + 2 * j + dj);
            if (v[k] > v[best]) best = k;
          }
        if (v[best] > 0) r[best] = g[size_t((p * (H / 2) + i) * (W / 2) + j)];
      }
  return r;
}

TEST_CASE("blocked_max_pool2d_backward with relu equals the gradient by hand, both backends", "[ops][layout]") {
  // Ties, -0 against +0 and values <= 0 (the relu mask), odd sizes (a last row and column no
  // window reads), 24 channels in blocks of 16 (8 padded).
  std::vector<double> v(size_t(2 * 24 * 7 * 9));
  for (size_t k = 0; k < v.size(); ++k) v[k] = double(int64_t((k * 37) % 11) - 4) * (k % 3 == 0 ? 1.0 : 0.5);
  const Tensor x = tensor(v, {2, 24, 7, 9}), gy = in({2, 24, 3, 4}, DType::Float64, 5);
  const std::vector<double> want = pool_relu_backward_by_hand(gy, x);
  for (const DType dt : {DType::Float32, DType::Float64}) {
    INFO(dtype_name(dt));
    const Tensor xb = dispatch1(OpId::to_blocked, {x.to(dt)}, ToBlockedAttrs{.block = 16}.pack()),
                 gyb = dispatch1(OpId::to_blocked, {gy.to(dt)}, ToBlockedAttrs{.block = 16}.pack());
    const Tensor gi =
        dispatch1(OpId::blocked_max_pool2d_backward, {gyb, xb}, pool_bwd_attrs({2, 2}, {}, {0, 0}, false, true));
    const std::vector<double> got = gi.to(DType::Float64).to_vector<double>();
    const std::vector<double> expect = block_by_hand(tensor(want, {2, 24, 7, 9}), 16);
    REQUIRE(got.size() == expect.size());
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(std::abs(got[i] - expect[i]) < 1e-6);
  }
}

}  // namespace
}  // namespace doppel::testing
