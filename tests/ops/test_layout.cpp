// Specs and value tests of the blocked-layout ops (to_blocked, from_blocked, blocked_conv2d,
// blocked_max_pool2d). The generic spec test compares oneDNN against the reference kernels;
// the value tests here check the reference kernels against independent oracles: the element
// positions written out by hand, and the plain eager ops (conv2d, max_pool2d) blocked by a
// loop in the test.
#include <catch2/catch_test_macros.hpp>

#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "support/op_spec.h"

namespace doppel::testing {
namespace {

const std::vector<DType> kFloat = {DType::Float32, DType::Float64};

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

Tolerance conv_tolerance(DType dt) { return dt == DType::Float64 ? Tolerance{1e-10, 1e-10} : Tolerance{2e-4, 2e-4}; }

DOPPEL_OP_SPEC(to_blocked_spec) {
  return OpSpec{.op = OpId::to_blocked,
                .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Int32, DType::Int64},
                .samples =
                    [](DType dt) {
                      return std::vector<Sample>{
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
      .dtypes = {DType::Float32, DType::Float64, DType::BFloat16, DType::Int32, DType::Int64},
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
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
  return OpSpec{
      .op = OpId::blocked_conv2d,
      .dtypes = kFloat,
      .samples =
          [](DType dt) {
            const Tensor none;
            return std::vector<Sample>{
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
                {"block mismatch", {blocked_input(1, 6, 5, 5, 8, DType::Float32, 1), w}, a, ErrorKind::Shape, "block"},
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
                 "blocked_conv2d"}};
          },
      .tolerance = conv_tolerance,
      .gradcheck = false};
}

DOPPEL_OP_SPEC(blocked_max_pool2d_spec) {
  return OpSpec{
      .op = OpId::blocked_max_pool2d,
      .dtypes = kFloat,
      .samples =
          [](DType dt) {
            return std::vector<Sample>{
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

}  // namespace
}  // namespace doppel::testing
