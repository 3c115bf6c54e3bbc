// matmul_row_blocks.h's answer, checked against the whole product: where it allows blocks, each
// block (its rows of the first operand, transposed or row-major, read in place, or copied dense,
// as the answer says) gives the whole product's rows bit for bit, for batch-sized and long sums,
// odd row counts (a shorter last block) and 1 and 2 threads; where oneDNN's x64 gemm runs the
// whole product, it allows none.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <vector>

#include "doppel/doppel.h"
#include "doppel/kernels/implementation_report.h"
#include "doppel/kernels/matmul_row_blocks.h"
#include "support/test_util.h"

using namespace doppel;

TEST_CASE("matmul row blocks: allowed blocks give the whole product's bits", "[matmul][row_blocks]") {
  struct Case {
    int64_t m, k, n, rows;
  };
  const Case cases[] = {{96, 8, 768, 24},  {98, 8, 768, 14},    {101, 8, 768, 26},
                        {160, 4, 512, 40}, {517, 300, 100, 48}, {250, 33, 65, 63}};
  const int saved_threads = get_num_threads();
  for (const int threads : {1, 2})
    for (const bool transposed : {true, false})
      for (const Case& c : cases) {
        set_num_threads(threads);
        INFO("[" << c.m << ", " << c.k << "] @ [" << c.k << ", " << c.n << "] in blocks of " << c.rows << ", threads "
                 << threads << (transposed ? ", a transposed" : ", a row-major"));
        manual_seed(5);
        const Tensor x = randn({c.k, c.n});
        // [m, k]: read transposed (a weight gradient's dyᵀ) or row-major
        const Tensor a = transposed ? transpose(randn({c.k, c.m}), 0, 1) : randn({c.m, c.k});
        const RowBlockRead read = matmul_row_blocks(DType::Float32, c.m, c.k, c.n, c.rows, transposed);
        std::string impl;
        implementation_sink() = &impl;
        const Tensor product = matmul(a, x);
        implementation_sink() = nullptr;
        const std::vector<float> whole = product.to_vector<float>();
        INFO("whole product: " << impl << ", blocks read " << int(read));
        if (impl.find("gemm:jit") != std::string::npos) CHECK(read == RowBlockRead::None);
        // doppel's own loop reads its blocks in place, and only it does.
        CHECK((impl == "doppel avx2 gemm") == (read == RowBlockRead::InPlace));
        if (read == RowBlockRead::None) continue;
        for (int64_t r0 = 0; r0 < c.m; r0 += c.rows) {
          const int64_t r = std::min(c.rows, c.m - r0);
          INFO("block at row " << r0);
          const Tensor rows = narrow(a, 0, r0, r);
          std::string block_impl;
          implementation_sink() = &block_impl;
          const Tensor block = matmul(read == RowBlockRead::InPlace ? rows : contiguous(rows), x);
          implementation_sink() = nullptr;
          CHECK(block_impl == impl);
          CHECK(block.to_vector<float>() ==
                std::vector<float>(whole.begin() + r0 * c.n, whole.begin() + (r0 + r) * c.n));
        }
      }
  set_num_threads(saved_threads);
}
