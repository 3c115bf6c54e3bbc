// The weight and bias gradient of convolutions with fewer than 8 input channels
// (kernels/cpu/onednn/few_channel_weight_grad.h), through convolution_backward (plain, as eager
// calls it) and blocked_conv2d_backward (blocked, as training graphs call it): against the float64
// reference kernel over channel tails around the kernel's 8-lane vectors and 32-channel groups,
// kernel sizes 1 to 7, strides, padding, dilation and floor-mode leftovers; the bits must not
// depend on the operands' layout (plain, blocks of 4, 8, 16), the gradients asked
// for or the thread count; NaN reaches exactly the weights whose terms hold it.
#include <catch2/catch_test_macros.hpp>
#include <cmath>
#include <cstring>
#include <string>

#include "cpu/onednn/few_channel_weight_grad.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/parallel.h"
#include "support/implementation_names.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;
using testing::Tolerance;

struct Case {
  const char* what;
  int64_t n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int64_t ow() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
};

const std::vector<Case> kCases = {
    {"the small CNN's first layer", 3, 1, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1},
    {"40 channels: a second group of one vector", 2, 3, 40, 13, 11, 3, 3, 1, 1, 1, 1, 1, 1},
    {"ResNet-like stem, 13 channels", 2, 3, 13, 17, 15, 7, 7, 2, 2, 3, 3, 1, 1},
    {"7 channels, 5x3 kernel, strides 1 and 2", 1, 7, 5, 9, 10, 5, 3, 1, 2, 2, 0, 1, 1},
    {"dilation 2", 2, 4, 16, 10, 9, 3, 3, 1, 1, 2, 2, 2, 2},
    {"1x1", 1, 2, 8, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1},
    {"floor-mode leftover, no padding", 2, 1, 9, 8, 8, 3, 3, 2, 2, 0, 0, 1, 1},
    {"one output channel", 2, 3, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1},
};

ConvolutionBackwardAttrs plain_attrs(const Case& k, IntList mask) {
  return {.stride = {k.sh, k.sw},
          .padding = {k.ph, k.pw},
          .dilation = {k.dh, k.dw},
          .groups = 1,
          .transposed = false,
          .output_padding = {0, 0},
          .output_mask = mask};
}

struct Operands {
  Tensor gy, x, w;  // plain float32
};

Operands operands(const Case& k, uint64_t seed) {
  return {make_input({k.n, k.cout, k.oh(), k.ow()}, DType::Float32, seed),
          make_input({k.n, k.cin, k.h, k.w}, DType::Float32, seed + 1),
          make_input({k.cout, k.cin, k.kh, k.kw}, DType::Float32, seed + 2)};
}

// convolution_backward's gradients (plain operands), and whether the few-channel kernel ran.
OpOutputs plain_grads(const Case& k, const Operands& o, IntList mask, bool* ran = nullptr) {
  std::string impl;
  OpOutputs out;
  {
    const testing::ReportImplementations report(&impl);
    out = dispatch(OpId::convolution_backward, {o.gy, o.x, o.w}, plain_attrs(k, mask).pack());
  }
  if (ran) *ran = impl.find("doppel few-channel weight gradient") != std::string::npos;
  return out;
}

// blocked_conv2d_backward's gradients with grad_out (and x, when `x_blocked`) in blocks of b.
OpOutputs blocked_grads(const Case& k, const Operands& o, int64_t b, bool x_blocked, IntList mask) {
  const Tensor gy = dispatch1(OpId::to_blocked, {o.gy}, ToBlockedAttrs{.block = b}.pack());
  const Tensor x = x_blocked ? dispatch1(OpId::to_blocked, {o.x}, ToBlockedAttrs{.block = b}.pack()) : o.x;
  const Attrs attrs =
      BlockedConv2dBackwardAttrs{
          .stride = {k.sh, k.sw}, .padding = {k.ph, k.pw}, .dilation = {k.dh, k.dw}, .output_mask = mask}
          .pack();
  return dispatch(OpId::blocked_conv2d_backward, {gy, x, o.w}, attrs);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(contiguous(a).raw_data(), contiguous(b).raw_data(), a.nbytes()) == 0;
}

// got within `rel` of Σ|dy·x| (the rounding scale) of the float64 gradient, element by element.
void check_close(const Tensor& got, const Tensor& want, const Tensor& scale, double rel) {
  const std::vector<double> g = got.to(DType::Float64).to_vector<double>(), w = want.to_vector<double>(),
                            s = scale.to_vector<double>();
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << ": " << g[i] << " vs " << w[i] << " (scale " << s[i] << ")");
    REQUIRE(std::abs(g[i] - w[i]) <= rel * s[i]);
  }
}

TEST_CASE("few-channel weight gradient: against float64, the same bits in every layout", "[ops][conv]") {
  if (!onednn::few_channel_weight_grad_applies(1)) SKIP("this CPU has no AVX2 and FMA: oneDNN's kernel runs");
  uint64_t seed = 1200;
  for (const Case& k : kCases) {
    INFO(k.what);
    const Operands o = operands(k, seed += 10);
    bool ran = false;
    const OpOutputs got = plain_grads(k, o, {1, 1, 1}, &ran);
    CHECK(ran);
    const DType f64 = DType::Float64;
    const OpOutputs want = dispatch(OpId::convolution_backward, {o.gy.to(f64), o.x.to(f64), o.w.to(f64)},
                                    plain_attrs(k, {0, 1, 1}).pack());
    const OpOutputs scale = dispatch(OpId::convolution_backward, {abs(o.gy.to(f64)), abs(o.x.to(f64)), o.w.to(f64)},
                                     plain_attrs(k, {0, 1, 1}).pack());
    // Each weight sums n·oh·ow terms in float32, one rounding per term (FMA) and per image.
    check_close(got[1], want[1], scale[1], 1e-6 * std::sqrt(double(k.n * k.oh() * k.ow())));
    check_close(got[2], want[2], scale[2], 1e-6 * std::sqrt(double(k.n * k.oh() * k.ow())));
    // Every layout, every subset of gradients: the same bits.
    for (const std::vector<int64_t>& mask : {std::vector<int64_t>{0, 1, 1}, std::vector<int64_t>{0, 1, 0}})
      CHECK(same_bits(plain_grads(k, o, mask)[1], got[1]));
    CHECK(same_bits(plain_grads(k, o, {0, 0, 1})[2], got[2]));
    for (const int64_t b : {int64_t(4), int64_t(8), int64_t(16)})
      for (const bool x_blocked : {false, true}) {
        if (x_blocked && b < k.cin) continue;  // the input fits one block
        INFO("block " << b << (x_blocked ? ", x blocked" : ", x plain"));
        const OpOutputs bl = blocked_grads(k, o, b, x_blocked, {0, 1, 1});
        CHECK(same_bits(bl[1], got[1]));
        CHECK(same_bits(bl[2], got[2]));
      }
  }
}

TEST_CASE("few-channel weight gradient: grouped and 1-D convolutions keep oneDNN's kernel", "[ops][conv]") {
  // A 1-D convolution of groups has a 4-d weight [groups, cout/groups, cin/groups, k], as a 2-D
  // one of one group does: neither it nor a grouped 2-D one is the few-channel kernel's.
  const struct {
    const char* what;
    Shape gy, x, w;
    std::vector<int64_t> stride, padding, dilation;
    int64_t groups;
  } cases[] = {{"conv1d, groups 2, dilation 2", {2, 4, 9}, {2, 4, 9}, {4, 2, 3}, {1}, {2}, {2}, 2},
               {"conv2d, groups 2", {2, 4, 5, 5}, {2, 4, 5, 5}, {4, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 2}};
  for (const auto& k : cases) {
    INFO(k.what);
    const Tensor gy = make_input(k.gy, DType::Float32, 1500), x = make_input(k.x, DType::Float32, 1501),
                 w = make_input(k.w, DType::Float32, 1502);
    const ConvolutionBackwardAttrs a{.stride = k.stride,
                                     .padding = k.padding,
                                     .dilation = k.dilation,
                                     .groups = k.groups,
                                     .transposed = false,
                                     .output_padding = std::vector<int64_t>(k.stride.size(), 0),
                                     .output_mask = {1, 1, 1}};
    std::string impl;
    OpOutputs got;
    {
      const testing::ReportImplementations report(&impl);
      got = dispatch(OpId::convolution_backward, {gy, x, w}, a.pack());
    }
    CHECK(impl.find("few-channel") == std::string::npos);
    const DType f64 = DType::Float64;
    const OpOutputs want = dispatch(OpId::convolution_backward, {gy.to(f64), x.to(f64), w.to(f64)}, a.pack());
    for (size_t i = 0; i < 3; ++i) DOPPEL_REQUIRE_CLOSE(got[i].to(f64), want[i], (Tolerance{1e-5, 1e-5}));
  }
}

TEST_CASE("few-channel weight gradient: the bits do not depend on the thread count", "[ops][conv]") {
  if (!onednn::few_channel_weight_grad_applies(1)) SKIP("this CPU has no AVX2 and FMA: oneDNN's kernel runs");
  const Case k = kCases[1];
  const Operands o = operands(k, 1300);
  const int threads = get_num_threads();
  set_num_threads(1);
  const OpOutputs one = blocked_grads(k, o, 8, false, {0, 1, 1});
  set_num_threads(2);
  const OpOutputs two = blocked_grads(k, o, 8, false, {0, 1, 1});
  set_num_threads(threads);
  CHECK(same_bits(one[1], two[1]));
  CHECK(same_bits(one[2], two[2]));
}

TEST_CASE("few-channel weight gradient: NaN reaches the weights whose terms hold it", "[ops][conv]") {
  if (!onednn::few_channel_weight_grad_applies(1)) SKIP("this CPU has no AVX2 and FMA: oneDNN's kernel runs");
  const Case k = kCases[3];
  Operands o = operands(k, 1400);
  std::vector<float> xv = o.x.to_vector<float>(), gv = o.gy.to_vector<float>();
  xv[size_t(((0 * k.cin + 2) * k.h + 4) * k.w + 5)] = std::nanf("");         // channel 2, pixel (4, 5)
  gv[size_t(((0 * k.cout + 3) * k.oh() + 1) * k.ow() + 2)] = std::nanf("");  // channel 3, pixel (1, 2)
  o.x = tensor(xv, {k.n, k.cin, k.h, k.w}), o.gy = tensor(gv, {k.n, k.cout, k.oh(), k.ow()});
  const OpOutputs got = plain_grads(k, o, {0, 1, 1});
  const DType f64 = DType::Float64;
  const OpOutputs want =
      dispatch(OpId::convolution_backward, {o.gy.to(f64), o.x.to(f64), o.w.to(f64)}, plain_attrs(k, {0, 1, 1}).pack());
  for (int i = 1; i < 3; ++i) {
    const std::vector<double> g = got[size_t(i)].to(f64).to_vector<double>(), w = want[size_t(i)].to_vector<double>();
    size_t nans = 0;
    for (size_t e = 0; e < g.size(); ++e) {
      INFO("gradient " << i << " element " << e);
      CHECK(std::isnan(g[e]) == std::isnan(w[e]));
      nans += std::isnan(w[e]);
    }
    CHECK(nans > 0);
  }
}

}  // namespace
}  // namespace doppel
