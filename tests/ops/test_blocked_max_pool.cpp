// blocked_max_pool2d's fast kernel (kernels/cpu/onednn/blocked_max_pool.h: direct loops over the
// channel block, the disjoint 2x2 windows in a streaming pass of their own) against a loop in
// this test that pools the blocked tensor window by window with PyTorch's rule: NaN when the
// window holds one, else the first maximum in window order (a -0 / +0 tie keeps the first).
// Bit for bit, with NaN, +-Inf, +-0 and denormals in the input, on both sides of the 2x2 fast
// path (2x2 disjoint windows; 3x3, strided, padded, dilated, ceil-mode and odd-sized ones); and
// for every block (the channels-last block b = C of odd channel counts included) and dtype
// (float32, bf16, int8, uint8) against the same loop in float64; in every vector-ISA copy of the
// loops.
#include <bit>
#include <cmath>
#include <limits>

#include "cpu/vector_isa.h"
#include "doppel/dispatch.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using testing::make_input;

constexpr float kInf = std::numeric_limits<float>::infinity();

// The blocked input [n, Cb, h, w, b], with special values planted (the same lanes in several
// pixels, so that every window kind meets them).
Tensor special_input(int64_t n, int64_t cb, int64_t h, int64_t w, int64_t b, uint64_t seed) {
  Tensor x = make_input({n, cb, h, w, b}, DType::Float32, seed);
  float* p = x.data_ptr<float>();
  const int64_t pixels = n * cb * h * w;
  const float specials[] = {std::nanf(""), kInf, -kInf, -0.f, 0.f, std::numeric_limits<float>::denorm_min()};
  for (int64_t q = 0; q < pixels; q += 7)
    for (int64_t l = 0; l < b; l += 3) p[q * b + l] = specials[size_t((q / 7 + l) % 6)];
  // A window of zeros only, -0 first: the first maximum is -0 (PyTorch keeps it; +0 is not greater).
  for (int64_t l = 0; l < b; ++l) p[l] = -0.f, p[b + l] = 0.f, p[w * b + l] = -0.f, p[(w + 1) * b + l] = 0.f;
  return x;
}

// The oracle: window by window over the blocked tensor, in window order, in float64 (exact for
// every dtype here).
std::vector<double> pool_by_hand(const Tensor& x, const Pool2dGeometry& g) {
  const std::vector<double> v = x.to(DType::Float64).to_vector<double>();
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), b = x.size(4);
  std::vector<double> y;
  for (int64_t q = 0; q < planes; ++q)
    for (int64_t oh = 0; oh < g.out[0]; ++oh)
      for (int64_t ow = 0; ow < g.out[1]; ++ow)
        for (int64_t l = 0; l < b; ++l) {
          double best = -std::numeric_limits<double>::infinity();
          bool nan = false;
          for (int64_t kh = 0; kh < g.kernel[0]; ++kh)
            for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
              const int64_t ih = oh * g.stride[0] - g.pad[0] + kh * g.dilation[0];
              const int64_t iw = ow * g.stride[1] - g.pad[1] + kw * g.dilation[1];
              if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
              const double e = v[size_t(((q * h + ih) * w + iw) * b + l)];
              nan = nan || std::isnan(e);
              if (e > best) best = e;
            }
          y.push_back(nan ? std::nan("") : best);
        }
  return y;
}

struct Case {
  const char* name;
  int64_t n, cb, h, w, b;
  std::vector<int64_t> kernel, stride, pad, dil;
  bool ceil;
};

// Float inputs get special_input's values (bf16 keeps them, the denormal rounds to 0); integer
// inputs their whole range.
Tensor input_of(DType dt, const Case& k, uint64_t seed) {
  if (is_floating(dt)) return special_input(k.n, k.cb, k.h, k.w, k.b, seed).to(dt);
  const bool int8 = dt == DType::Int8;
  return make_input({k.n, k.cb, k.h, k.w, k.b}, dt, seed, int8 ? -128.0 : 0.0, int8 ? 127.0 : 255.0);
}

// Pools case k's input on oneDNN's backend (the direct loops) and compares with the oracle bit
// for bit (NaN: any NaN). Returns how many outputs are NaN.
int64_t check_pool(const Case& k, DType dt, uint64_t seed) {
  const Tensor x = input_of(dt, k, seed);
  const Attrs attrs =
      MaxPoolAttrs{
          .kernel_size = k.kernel, .stride = k.stride, .padding = k.pad, .dilation = k.dil, .ceil_mode = k.ceil}
          .pack();
  const Tensor y = dispatch1(OpId::blocked_max_pool2d, {x}, attrs);
  CHECK(last_selected_backend() == Backend::OneDNN);
  const Pool2dGeometry g = resolve_pool2d(k.h, k.w, k.kernel, k.stride, k.pad, k.dil, k.ceil);
  REQUIRE(y.shape() == Shape{k.n, k.cb, g.out[0], g.out[1], k.b});
  REQUIRE(y.dtype() == dt);
  const std::vector<double> got = y.to(DType::Float64).to_vector<double>(), want = pool_by_hand(x, g);
  REQUIRE(got.size() == want.size());
  int64_t nans = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << want[i]);
    if (std::isnan(want[i])) {
      REQUIRE(std::isnan(got[i]));
      ++nans;
    } else {
      REQUIRE(std::bit_cast<uint64_t>(got[i]) == std::bit_cast<uint64_t>(want[i]));
    }
  }
  if (is_floating(dt) && k.dil[0] == 1) CHECK(std::signbit(got[0]));  // the all-zero window: its first element, -0
  return nans;
}

// Both sides of the 2x2 fast path, block 4, 8, 16.
std::vector<Case> window_cases() {
  return {{"2x2 (the streaming pass), block 16", 2, 2, 28, 28, 16, {2, 2}, {}, {0, 0}, {1, 1}, false},
          {"2x2 odd size (floor leftover), block 8", 1, 3, 7, 9, 8, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false},
          {"2x2 even size in ceil mode, block 4", 1, 2, 6, 6, 4, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true},
          {"2x2 odd size in ceil mode (a window past the edge)", 1, 2, 7, 7, 16, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true},
          {"3x3 stride 2 pad 1 (ResNet), block 16", 1, 4, 28, 28, 16, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
          {"3x3 stride 1 pad 1, block 8", 2, 1, 9, 8, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false},
          {"2x2 stride 1 (overlapping)", 1, 2, 6, 7, 16, {2, 2}, {1, 1}, {0, 0}, {1, 1}, false},
          {"3x2 dilation 2 pad 1, block 4", 1, 3, 11, 10, 4, {3, 2}, {2, 3}, {1, 1}, {2, 2}, false}};
}

// Channels-last blocks of odd channel counts, and the nChw<b>c ones.
std::vector<Case> block_cases() {
  return {
      {"channels-last 3, 2x2", 2, 1, 8, 6, 3, {2, 2}, {}, {0, 0}, {1, 1}, false},
      {"channels-last 24, 3x3 stride 2 pad 1 (odd size)", 1, 1, 9, 11, 24, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
      {"channels-last 40, 2x2 odd size", 2, 1, 7, 9, 40, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false},
      {"channels-last 64, 2x2 ceil mode", 1, 1, 7, 7, 64, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true},
      {"channels-last 64, 3x3 stride 2 pad 1 (ResNet's pool)", 2, 1, 13, 12, 64, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
      {"channels-last 32, 3x3 stride 2 pad 1 ceil mode", 1, 1, 8, 9, 32, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true},
      {"channels-last 100, 3x2 dilation 2 pad 1", 1, 1, 11, 10, 100, {3, 2}, {2, 3}, {1, 1}, {2, 2}, false},
      {"block 16, 2x2", 1, 2, 6, 6, 16, {2, 2}, {}, {0, 0}, {1, 1}, false},
      {"block 8, 3x3 stride 1 pad 1", 1, 2, 5, 6, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false},
      {"block 4, 2x2 stride 1", 1, 3, 5, 5, 4, {2, 2}, {1, 1}, {0, 0}, {1, 1}, false},
      // Rows wide enough for the window groups (64 / b pixels at once) and their leftovers.
      {"block 16, 3x3 stride 2 pad 1 ceil mode, wide", 2, 1, 9, 30, 16, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true},
      {"block 8, 3x3 stride 2 pad 1, wide", 1, 2, 7, 41, 8, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},
      {"block 4, 3x2 dilation 2 pad 1, wide", 1, 2, 6, 40, 4, {3, 2}, {1, 1}, {1, 1}, {2, 2}, false}};
}

void check_windows() {
  uint64_t seed = 40;
  for (const Case& k : window_cases()) {
    INFO(k.name);
    CHECK(check_pool(k, DType::Float32, ++seed) > 0);
  }
}

void check_blocks() {
  for (const DType dt : {DType::Float32, DType::BFloat16, DType::Int8, DType::UInt8}) {
    uint64_t seed = 70;
    for (const Case& k : block_cases()) {
      INFO(dtype_name(dt) << " " << k.name);
      check_pool(k, dt, ++seed);
    }
  }
}

TEST_CASE("blocked_max_pool2d: the direct loops pool like PyTorch, bit for bit, NaN and -0 included",
          "[ops][layout][blocked_max_pool]") {
  check_windows();
}

TEST_CASE("blocked_max_pool2d: every block (channels-last of odd channel counts) and dtype, bit for bit",
          "[ops][layout][blocked_max_pool]") {
  check_blocks();
}

TEST_CASE("blocked_max_pool2d: every vector-ISA copy of the loops pools bit for bit",
          "[ops][layout][blocked_max_pool]") {
  for (const auto isa : {vector_isa::Isa::Portable, vector_isa::Isa::Avx2, vector_isa::Isa::Avx512}) {
    if (!vector_isa::supported(isa)) continue;
    INFO("ISA " << int(isa));
    vector_isa::ForcedIsa forced(isa);
    check_windows();
    check_blocks();
  }
}

}  // namespace
}  // namespace doppel
