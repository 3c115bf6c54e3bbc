// doppel's own float32 product on AVX2 (kernels/cpu/onednn/avx2_gemm.h), as matmul and linear run
// it: every element must carry exactly the bits of one scalar FMA chain over k in order from zero
// (std::fma, the oracle of that order), plus the bias where linear has one, and lie within 2^-20
// of Σ|a·b| of the float64 product. Each operand stored as it is read or transposed (the linear
// layer's x @ wᵀ, dy @ w, dyᵀ @ x), both schedules (strips of b, or x @ wᵀ by rows of w), row and
// column counts on both sides of the 6 x 16 tile, of the 192 KiB row block and of the weight-rows
// schedule's 256 KiB, sums from 1 term to several 256-term depth blocks, operands that are
// blocks of wider matrices, NaN, ±infinity, denormals and -0, at 1 and 2 threads. On an AVX-512
// CPU, where it does not run by itself, the checks force AVX2 (vector_isa::ForcedIsa).
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cpu/onednn/avx2_gemm.h"
#include "cpu/vector_isa.h"
#include "doppel/doppel.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/weight_cache.h"
#include "support/test_util.h"

namespace doppel {
namespace {

struct Case {
  int64_t m, k, n;
  char ta = 'T', tb = 'N';           // a's and b's storage: N as read, T transposed
  int64_t a_extra = 0, b_extra = 0;  // a's and b's storage wider than the product reads
};

// Specials at fixed positions of a storage.
void sprinkle(std::vector<float>& v, uint32_t seed) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::denorm_min() * 7,
                            -0.f,
                            0.f};
  for (size_t i = seed % 37; i < v.size(); i += 97 + seed % 13) v[i] = specials[(i / 97) % 6];
}

// A [rows, cols] operand over storage of its own or its transpose's shape, `extra` columns wider:
// the tensor and its element (i, j) in the storage.
struct Stored {
  std::vector<float> v;
  int64_t ld;
  bool transposed;
  Tensor t;
  float at(int64_t i, int64_t j) const { return transposed ? v[size_t(j * ld + i)] : v[size_t(i * ld + j)]; }
};

Stored stored(int64_t rows, int64_t cols, char layout, int64_t extra, bool specials, uint32_t seed) {
  const bool transposed = layout == 'T';
  const int64_t outer = transposed ? cols : rows, inner = (transposed ? rows : cols) + extra;
  Stored s{randn({outer, inner}).to_vector<float>(), inner, transposed, Tensor()};
  if (specials) sprinkle(s.v, seed);
  const Tensor storage = narrow(tensor(s.v, {outer, inner}), 1, 0, inner - extra);
  s.t = transposed ? transpose(storage, 0, 1) : storage;
  return s;
}

// Runs `f` and returns the implementation it reported last.
template <class F>
std::string implementation_of(F&& f) {
  std::string impl;
  implementation_sink() = &impl;
  f();
  implementation_sink() = nullptr;
  return impl;
}

// The bits of c = a @ b as matmul gives them (and, with b stored transposed, as linear gives
// a @ wᵀ + bias), against the FMA chain.
void check_case(const Case& c, bool specials) {
  manual_seed(uint64_t(c.m * 131 + c.k * 17 + c.n));
  const Stored a = stored(c.m, c.k, c.ta, c.a_extra, specials, 3), b = stored(c.k, c.n, c.tb, c.b_extra, specials, 11);
  std::vector<float> bias = randn({c.n}).to_vector<float>();
  if (specials) sprinkle(bias, 5);
  Tensor got;
  REQUIRE(implementation_of([&] { got = matmul(a.t, b.t); }) == "doppel avx2 gemm");
  const std::vector<float> product = got.to_vector<float>();
  std::vector<float> linear_out;
  if (c.tb == 'T' && c.m > 1) {  // b = wᵀ with w [n, k] row-major: linear's weight (one row: gemv)
    REQUIRE(implementation_of([&] { got = linear(a.t, transpose(b.t, 0, 1), tensor(bias, {c.n})); }) ==
            "doppel avx2 gemm");
    linear_out = got.to_vector<float>();
  }
  int64_t mismatches = 0;
  auto same = [](float want, float g) {
    return std::isnan(want) ? std::isnan(g) : std::memcmp(&want, &g, sizeof g) == 0;
  };
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      float chain = 0.f;
      double exact = 0, bound = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const float x = a.at(i, p), y = b.at(p, j);
        chain = std::fma(x, y, chain);
        exact += double(x) * double(y);
        bound += std::abs(double(x) * double(y));
      }
      const float g = product[size_t(i * c.n + j)];
      if (!same(chain, g) && ++mismatches <= 3)
        FAIL_CHECK("element [" << i << ", " << j << "]: " << g << " vs chain " << chain);
      if (std::isfinite(exact) && std::isfinite(g)) CHECK(std::abs(double(g) - exact) <= 0x1p-20 * bound + 1e-44);
      if (!linear_out.empty() && !same(chain + bias[size_t(j)], linear_out[size_t(i * c.n + j)]) && ++mismatches <= 3)
        FAIL_CHECK("linear's element [" << i << ", " << j << "]: " << linear_out[size_t(i * c.n + j)]
                                        << " vs chain + bias " << chain + bias[size_t(j)]);
    }
  CHECK(mismatches == 0);
}

// Forces AVX2 where the CPU has AVX-512 (the kernel's ISA); nothing where it runs by itself.
void force_avx2(std::optional<vector_isa::ForcedIsa>& forced) {
  if (vector_isa::active() == vector_isa::Isa::Avx512) forced.emplace(vector_isa::Isa::Avx2);
}

TEST_CASE("avx2 gemm: one FMA chain per element, in order", "[matmul][avx2_gemm]") {
  if (!vector_isa::avx2_fma()) SKIP("this CPU has no AVX2 + FMA: oneDNN computes these products");
  std::optional<vector_isa::ForcedIsa> forced;
  force_avx2(forced);
  REQUIRE(onednn::avx2_gemm_runs(DType::Float32, 512, 64, 784));
  const int saved = get_num_threads();
  const Case cases[] = {
      {512, 64, 784, 'T', 'N'},         // the MLP's first weight gradient at batch 64: 2 row blocks
      {64, 784, 512, 'N', 'T'},         // its first layer, x @ wᵀ: 4 depth blocks
      {64, 512, 512, 'N', 'N'},         // its input gradient dy @ w
      {128, 64, 3136, 'T', 'N'},        // the small CNN's linear layer's weight gradient
      {7, 40, 17, 'N', 'T'},            // one full tile row plus edges on both sides
      {17, 50, 13, 'N', 'T'},           // the weight-rows schedule: a 1-row strip of aᵀ, a 1-row tile of w
      {64, 1100, 40, 'N', 'T'},         // aᵀ past 256 KiB: the strip schedule, 5 depth blocks
      {5, 257, 15, 'T', 'T'},           // two depth blocks, a lone edge tile
      {13, 1, 400, 'N', 'N'},           // one term
      {1, 100, 100, 'N', 'T'},          // one row
      {100, 3, 1024, 'T', 'N'},         // a few terms, wide
      {61, 600, 100, 'N', 'N', 9, 24},  // blocks of wider storage, 3 depth blocks
      {61, 203, 37, 'T', 'T', 5, 3},    // the same, both transposed, odd depth
      {6, 2, 512, 'T', 'N', 0, 3},      // one row tile, b's rows padded
      {300, 130, 40, 'N', 'T', 2, 1},   // the weight-rows schedule, 19 strips of aᵀ
      {1000, 64, 100, 'T', 'N'},        // 2 row blocks of a (b's strips packed once for both)
      {300, 600, 40, 'N', 'N', 1, 0},   // 2 row blocks by 3 depth blocks
  };
  for (const bool specials : {false, true})
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      for (const Case& c : cases) {
        INFO(c.ta << c.tb << " [" << c.m << ", " << c.k << "] @ [" << c.k << ", " << c.n << "], storage +" << c.a_extra
                  << "/+" << c.b_extra << ", threads " << threads << ", specials " << specials);
        check_case(c, specials);
      }
    }
  set_num_threads(saved);
}

TEST_CASE("avx2 gemm: where it runs", "[matmul][avx2_gemm]") {
  if (!vector_isa::avx2_fma()) SKIP("this CPU has no AVX2 + FMA: oneDNN computes these products");
  std::optional<vector_isa::ForcedIsa> forced;
  force_avx2(forced);
  auto runs_on = [](const Tensor& a, const Tensor& b) {
    return implementation_of([&] { (void)matmul(a, b); }) == "doppel avx2 gemm";
  };
  const Tensor g = randn({64, 512}), x = randn({64, 784});
  CHECK(runs_on(transpose(g, 0, 1), x));
  CHECK(runs_on(transpose(g, 0, 1), x));
  CHECK(runs_on(contiguous(transpose(g, 0, 1)), x));
  CHECK(runs_on(transpose(g, 0, 1), transpose(randn({784, 64}), 0, 1)));
  CHECK(runs_on(transpose(randn({2000, 64}), 0, 1), randn({2000, 64})));  // 8 depth blocks
  CHECK_FALSE(runs_on(transpose(randn({4, 8}), 0, 1), randn({4, 8})));    // the direct loop's size
  CHECK_FALSE(runs_on(transpose(g, 0, 1).to(DType::Float64), x.to(DType::Float64)));
  CHECK_FALSE(runs_on(randn({64, 512}), slice(randn({512, 1024}), 1, 0, 1024, 2)));  // no unit stride
  // Every call alike, whatever the weight's history: a weight that stays put between calls (an
  // inference call) is read from its pack in the weight cache, one that changes (a training
  // step's) is packed by the call; the bits are the same.
  const Tensor w = randn({512, 784}), xs = randn({64, 784}), dy = randn({64, 512});
  std::vector<float> first, first_dx;
  for (int call = 0; call < 4; ++call) {
    if (call == 3) w.bump_version();  // a new version, as an optimizer step makes
    Tensor y, dx;
    CHECK(implementation_of([&] { y = linear(xs, w); }) == "doppel avx2 gemm");
    CHECK(implementation_of([&] { dx = matmul(dy, w); }) == "doppel avx2 gemm");
    if (call == 0) first = y.to_vector<float>(), first_dx = dx.to_vector<float>();
    CHECK(y.to_vector<float>() == first);
    CHECK(dx.to_vector<float>() == first_dx);
  }
  // The pack a weight that stays put is read from is kept in the weight cache.
  const Tensor w2 = randn({256, 300}), x2 = randn({32, 300});
  const WeightCacheStats before = weight_cache_stats();
  for (int call = 0; call < 5; ++call) CHECK(linear(x2, w2).to_vector<float>() == linear(x2, w2).to_vector<float>());
  CHECK(weight_cache_stats().prepack_hits > before.prepack_hits);
  {
    vector_isa::ForcedIsa portable(vector_isa::Isa::Portable);  // a CPU without AVX2: oneDNN
    CHECK_FALSE(runs_on(transpose(g, 0, 1), x));
  }
}

}  // namespace
}  // namespace doppel
