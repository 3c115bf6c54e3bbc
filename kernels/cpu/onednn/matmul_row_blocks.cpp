#include "doppel/kernels/matmul_row_blocks.h"

#include <string>

#include "cpu/onednn/avx2_gemm.h"
#include "cpu/onednn/matmul_common.h"

namespace doppel {

namespace {

// The implementation oneDNN's matmul kernel runs for [m, k] @ [k, n] ("" where it declines).
std::string implementation(DType dt, int64_t m, int64_t k, int64_t n, bool a_transposed) {
  onednn::Operand a{{m, k}, a_transposed ? dnnl::memory::dims{1, m} : dnnl::memory::dims{k, 1}, {}, false};
  onednn::Operand b{{k, n}, {n, 1}, {}, false};
  const onednn::MatmulEntry e = onednn::make_fast_entry(dt, a, b, nullptr, {m, n}, dt);
  return e.ok ? onednn::implementation_name(e.prim.desc().get()) : std::string();
}

}  // namespace

RowBlockRead matmul_row_blocks(DType dt, int64_t m, int64_t k, int64_t n, int64_t rows, bool a_transposed) {
  if (onednn::avx2_gemm_runs(dt, m, k, n) && onednn::avx2_gemm_runs(dt, rows, k, n)) return RowBlockRead::InPlace;
  if (!onednn::float_type(dt)) return RowBlockRead::None;
  const std::string whole = implementation(dt, m, k, n, a_transposed);
  return whole.rfind("brg", 0) == 0 && implementation(dt, rows, k, n, false) == whole ? RowBlockRead::DenseCopy
                                                                                      : RowBlockRead::None;
}

}  // namespace doppel
