// doppel's product with a transposed first operand (kernels/cpu/onednn/weight_grad_gemm.h), as
// matmul runs it: every element must carry exactly the bits of one scalar FMA chain over k in
// order from zero (std::fma, the oracle of that order), within 2^-20 of Σ|a·b| of the float64
// product, for row and column counts on both sides of the 6 x 16 tile and of the 192 KiB column
// panel, sums from 1 to the longest it takes, operands that are blocks of wider matrices, NaN,
// ±infinity, denormals and -0, and at 1 and 2 threads. On an AVX-512 CPU, where it does not run
// by itself, the checks force AVX2 (vector_isa::ForcedIsa).
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cpu/onednn/weight_grad_gemm.h"
#include "cpu/vector_isa.h"
#include "doppel/doppel.h"
#include "doppel/kernels/implementation_report.h"
#include "support/test_util.h"

namespace doppel {
namespace {

struct Case {
  int64_t m, k, n;
  int64_t lda_extra = 0, ldb_extra = 0;  // a's and b's storage wider than the product reads
};

// Specials at fixed positions of the [k, m] storage of a, and of b.
void sprinkle(std::vector<float>& v, uint32_t seed) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::denorm_min() * 7,
                            -0.f,
                            0.f};
  for (size_t i = seed % 37; i < v.size(); i += 97 + seed % 13) v[i] = specials[(i / 97) % 6];
}

// The bits of c = a @ b as matmul gives them and as the FMA chain gives them, checked.
void check_case(const Case& c, bool specials) {
  const int64_t lda = c.m + c.lda_extra, ldb = c.n + c.ldb_extra;
  manual_seed(uint64_t(c.m * 131 + c.k * 17 + c.n));
  std::vector<float> as = randn({c.k, lda}).to_vector<float>(), bs = randn({c.k, ldb}).to_vector<float>();
  if (specials) {
    sprinkle(as, 3);
    sprinkle(bs, 11);
  }
  const Tensor a_store = tensor(as, {c.k, lda}), b_store = tensor(bs, {c.k, ldb});
  const Tensor a = transpose(narrow(a_store, 1, 0, c.m), 0, 1), b = narrow(b_store, 1, 0, c.n);
  std::string impl;
  implementation_sink() = &impl;
  const std::vector<float> got = matmul(a, b).to_vector<float>();
  implementation_sink() = nullptr;
  REQUIRE(impl == "doppel weight-gradient gemm");
  int64_t mismatches = 0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      float chain = 0.f;
      double exact = 0, bound = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const float x = as[size_t(p * lda + i)], y = bs[size_t(p * ldb + j)];
        chain = std::fma(x, y, chain);
        exact += double(x) * double(y);
        bound += std::abs(double(x) * double(y));
      }
      const float g = got[size_t(i * c.n + j)];
      const bool same = std::isnan(chain) ? std::isnan(g) : std::memcmp(&chain, &g, sizeof g) == 0;
      if (!same && ++mismatches <= 3) FAIL_CHECK("element [" << i << ", " << j << "]: " << g << " vs chain " << chain);
      if (std::isfinite(exact) && std::isfinite(g)) CHECK(std::abs(double(g) - exact) <= 0x1p-20 * bound + 1e-44);
    }
  CHECK(mismatches == 0);
}

// Forces AVX2 where the CPU has AVX-512 (the kernel's ISA); nothing where it runs by itself.
void force_avx2(std::optional<vector_isa::ForcedIsa>& forced) {
  if (vector_isa::active() == vector_isa::Isa::Avx512) forced.emplace(vector_isa::Isa::Avx2);
}

TEST_CASE("weight-gradient gemm: one FMA chain per element, in order", "[matmul][weight_grad_gemm]") {
  if (!vector_isa::avx2_fma()) SKIP("this CPU has no AVX2 + FMA: oneDNN computes these products");
  std::optional<vector_isa::ForcedIsa> forced;
  force_avx2(forced);
  REQUIRE(onednn::weight_grad_gemm_runs(DType::Float32, 512, 64, 784));
  const int saved = get_num_threads();
  const Case cases[] = {
      {512, 64, 784},          // the MLP's first weight gradient at batch 64
      {128, 64, 3136},         // the small CNN's linear layer: 2 column panels
      {7, 40, 17},             // one full tile row plus edges on both sides
      {5, 256, 15},            // the longest sum, a lone edge tile
      {13, 1, 400},            // one term
      {1, 100, 100},           // one row
      {100, 3, 1024},          // a few terms, wide
      {61, 200, 1000, 9, 24},  // blocks of wider storage, 5 panels
      {6, 2, 512, 0, 3},       // one row tile, b's rows padded
  };
  for (const bool specials : {false, true})
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      for (const Case& c : cases) {
        INFO("[" << c.m << ", " << c.k << "] @ [" << c.k << ", " << c.n << "], storage +" << c.lda_extra << "/+"
                 << c.ldb_extra << ", threads " << threads << ", specials " << specials);
        check_case(c, specials);
      }
    }
  set_num_threads(saved);
}

TEST_CASE("weight-gradient gemm: where it runs", "[matmul][weight_grad_gemm]") {
  if (!vector_isa::avx2_fma()) SKIP("this CPU has no AVX2 + FMA: oneDNN computes these products");
  std::optional<vector_isa::ForcedIsa> forced;
  force_avx2(forced);
  auto runs_on = [](const Tensor& a, const Tensor& b) {
    std::string impl;
    implementation_sink() = &impl;
    (void)matmul(a, b);
    implementation_sink() = nullptr;
    return impl == "doppel weight-gradient gemm";
  };
  const Tensor dy = randn({64, 512}), x = randn({64, 784});
  CHECK(runs_on(transpose(dy, 0, 1), x));
  CHECK_FALSE(runs_on(contiguous(transpose(dy, 0, 1)), x));                      // a row-major: oneDNN
  CHECK_FALSE(runs_on(transpose(dy, 0, 1), transpose(randn({784, 64}), 0, 1)));  // b column-major
  CHECK_FALSE(runs_on(transpose(randn({257, 64}), 0, 1), randn({257, 64})));     // past the longest sum
  CHECK_FALSE(runs_on(transpose(randn({4, 8}), 0, 1), randn({4, 8})));           // the direct loop's size
  CHECK_FALSE(runs_on(transpose(dy, 0, 1).to(DType::Float64), x.to(DType::Float64)));
  {
    vector_isa::ForcedIsa portable(vector_isa::Isa::Portable);  // a CPU without AVX2: oneDNN
    CHECK_FALSE(runs_on(transpose(dy, 0, 1), x));
  }
}

}  // namespace
}  // namespace doppel
