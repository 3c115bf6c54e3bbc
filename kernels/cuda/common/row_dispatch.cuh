#pragma once
// Shared by the row kernels (one block per row: the norms, attention): the grid of a launch over
// `rows` rows, and the dispatch to f.template operator()<T, A>() with T the storage type and A
// the accumulation type (float for float32 and the 16-bit floats, double for float64).
#include "cuda/common/cuda_common.cuh"

namespace doppel::cuda {

// One block per row, at most 65535 * 4 blocks (each then loops over the rest).
inline unsigned row_blocks(int64_t rows) { return unsigned(rows < 65535 * 4 ? (rows < 1 ? 1 : rows) : 65535 * 4); }

template <typename F>
void dispatch_storage_accumulation(DType t, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float, float>();
    case DType::Float64:
      return f.template operator()<double, double>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16, float>();
    case DType::Float16:
      return f.template operator()<__half, float>();
    default:
      return;  // the host glue accepts only these
  }
}

}  // namespace doppel::cuda
