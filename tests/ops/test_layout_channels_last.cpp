// blocked_conv2d on oneDNN with the channels-last block (b = C: [N, 1, H, W, C], op_attrs/layout.h)
// and with an input block that differs from the output's (nChw16c in, channels-last out and back),
// float32 and bf16 (bf16 in, bf16 out, float32 accumulation): against the plain convolution in
// float64 (the reference kernel, no oneDNN) of the same (bf16-rounded) operands, blocked by a loop
// in the test. Every call must run oneDNN's optimized kernels: no reference primitive (the audit
// of doppel/kernels/onednn_audit.h) and no fallback to the reference kernel, except for an output
// block the CPU's oneDNN convolutions do not write (nChw16c on AVX2). Winograd convolutions are off
// here (oneDNN's direct kernels are the subject).
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <string>

#include "doppel/dispatch.h"
#include "doppel/kernels/bf16_support.h"
#include "doppel/kernels/channel_block.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/onednn_audit.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "support/test_util.h"
#include "support/winograd_off.h"

namespace doppel {
namespace {

using testing::make_input;

// The blocked [N, ceil(C/b), H, W, b] values of plain x, padding 0, in float64.
std::vector<double> block_by_hand(const Tensor& x, int64_t b) {
  const std::vector<double> v = x.to(DType::Float64).to_vector<double>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), Cb = (C + b - 1) / b;
  std::vector<double> r(size_t(N * Cb * H * W * b), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p)
        r[size_t(((n * Cb + c / b) * H * W + p) * b + c % b)] = v[size_t((n * C + c) * H * W + p)];
  return r;
}

struct ConvCase {
  std::string name;
  int64_t n, cin, h, w, cout, k, stride, pad;
  int64_t in_block;   // 0: plain input; else the input's block (cin: channels-last)
  int64_t out_block;  // the output's block (cout: channels-last)
  bool bias, relu, residual;
};

void check_case(const ConvCase& k, DType dt, uint64_t seed) {
  INFO(dtype_name(dt) << " " << k.name);
  const Tensor x = make_input({k.n, k.cin, k.h, k.w}, dt, seed),
               w = make_input({k.cout, k.cin, k.k, k.k}, dt, seed + 1);
  const Tensor bias = k.bias ? make_input({k.cout}, dt, seed + 2) : Tensor();
  const Tensor x_in = k.in_block ? dispatch1(OpId::to_blocked, {x}, ToBlockedAttrs{.block = k.in_block}.pack()) : x;
  // The float64 oracle on the same values (bf16 operands are exact in float64).
  const DType f64 = DType::Float64;
  Tensor want = conv2d(x.to(f64), w.to(f64), k.bias ? bias.to(f64) : Tensor(), {k.stride, k.stride}, {k.pad, k.pad});
  std::vector<Tensor> inputs = {x_in, w, bias};
  if (k.residual) {
    const Tensor r = make_input(want.shape(), dt, seed + 3);
    want = add(want, r.to(f64));
    inputs.push_back(dispatch1(OpId::to_blocked, {r}, ToBlockedAttrs{.block = k.out_block}.pack()));
  }
  if (k.relu) want = relu(want);
  const Attrs attrs = BlockedConv2dAttrs{.stride = {k.stride, k.stride},
                                         .padding = {k.pad, k.pad},
                                         .dilation = {1, 1},
                                         .activation = int64_t(k.relu ? FusedActivation::relu : FusedActivation::none),
                                         .alpha = 0,
                                         .beta = 0,
                                         .block = k.out_block}
                          .pack();
  reset_onednn_reference_primitives();
  const Tensor y = dispatch1(OpId::blocked_conv2d, inputs, attrs);
  // An output in nChw<b>c blocks wider than the CPU's convolution block (onednn_channel_block():
  // nChw16c on AVX2, whose kernels write nChw8c) has no optimized oneDNN convolution: the
  // reference kernel runs it (the answer is checked the same).
  const bool onednn_writes = k.out_block == k.cout || k.out_block <= onednn_channel_block();
  INFO("oneDNN writes the output's block: " << onednn_writes);
  CHECK(last_selected_backend() == (onednn_writes ? Backend::OneDNN : Backend::Reference));
  CHECK(onednn_reference_primitives().empty());
  REQUIRE(y.dtype() == dt);
  REQUIRE(y.shape() == Shape{k.n, (k.cout + k.out_block - 1) / k.out_block, want.size(2), want.size(3), k.out_block});
  const std::vector<double> got = y.to(f64).to_vector<double>(), expect = block_by_hand(want, k.out_block);
  REQUIRE(got.size() == expect.size());
  // float32: summation order; bf16: the result rounded to 8 significant bits (and the residual
  // added in float32 before that one rounding).
  const double rel = dt == DType::BFloat16 ? 1.0 / 128 : 1e-5;
  const double abs_tol = dt == DType::BFloat16 ? 2e-2 : 1e-4;
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << expect[i]);
    REQUIRE(std::abs(got[i] - expect[i]) <= abs_tol + rel * std::abs(expect[i]));
  }
}

TEST_CASE("blocked_conv2d on oneDNN: channels-last and mixed blocks, float32 and bf16, no reference primitive",
          "[ops][layout][channels_last]") {
  const testing::WinogradOff direct;  // oneDNN's direct kernels are the subject
  const std::vector<ConvCase> cases = {
      // name, n, cin, h, w, cout, k, stride, pad, in_block, out_block, bias, relu, residual
      {"plain 1 -> channels-last 32 (the CNN's first layer)", 2, 1, 28, 28, 32, 3, 1, 1, 0, 32, true, true, false},
      {"plain 3 -> channels-last 8, odd size", 1, 3, 11, 13, 8, 3, 1, 1, 0, 8, true, true, false},
      {"channels-last 8 -> 12, stride 2", 2, 8, 9, 9, 12, 3, 2, 1, 8, 12, false, true, false},
      {"channels-last 12 -> 16", 1, 12, 7, 7, 16, 3, 1, 1, 12, 16, true, false, false},
      {"channels-last 16 -> 24", 1, 16, 7, 9, 24, 3, 1, 1, 16, 24, true, true, false},
      {"channels-last 24 -> 64", 2, 24, 8, 8, 64, 3, 1, 1, 24, 64, true, true, false},
      {"channels-last 32 -> 64 (the CNN's second layer)", 2, 32, 14, 14, 64, 3, 1, 1, 32, 64, true, true, false},
      {"channels-last 64 -> 64 1x1 stride 2, residual", 1, 64, 9, 9, 64, 1, 2, 0, 64, 64, true, true, true},
      {"channels-last 64 -> 64 3x3, residual, no bias", 1, 64, 7, 7, 64, 3, 1, 1, 64, 64, false, true, true},
      {"channels-last 3 -> 3", 1, 3, 6, 5, 3, 3, 1, 1, 3, 3, true, false, false},
      {"nChw16c 32 -> channels-last 24", 1, 32, 6, 6, 24, 3, 1, 1, 16, 24, true, true, false},
      {"channels-last 24 -> nChw16c 32", 1, 24, 6, 7, 32, 3, 1, 1, 24, 16, true, true, false},
      {"nChw16c 16 -> nChw16c 32 (16 channels: the same bytes as channels-last)", 1, 16, 6, 6, 32, 3, 1, 1, 16, 16,
       true, true, false},
      {"nChw16c 40 -> nChw16c 16 (residual)", 1, 40, 5, 5, 16, 3, 1, 1, 16, 16, true, true, true}};
  std::vector<DType> dtypes = {DType::Float32};
  if (onednn_bf16_support().native) dtypes.push_back(DType::BFloat16);
  for (const DType dt : dtypes) {
    uint64_t seed = 100;
    for (const ConvCase& k : cases) check_case(k, dt, seed += 10);
  }
}

}  // namespace
}  // namespace doppel
