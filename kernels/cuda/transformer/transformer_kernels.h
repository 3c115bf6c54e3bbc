#pragma once
// Launchers of the transformer kernels (transformer.cu), plain types only; every array is
// contiguous (the host glue, transformer.cpp, makes them so). A (the accumulation type) is float
// for float32/bfloat16/float16 and double for float64; the `A*` arrays have that type.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "doppel/core/dtype.h"

namespace doppel::cuda {

// rms_norm over rows of K values: rstd[r] = 1 / sqrt(mean(x^2) + eps), y = x * rstd * w (w null:
// ones). One block per row.
void launch_rms_norm(DType dtype, const void* x, const void* w, void* y, void* rstd, int64_t rows, int64_t K,
                     double eps, cudaStream_t stream);
// grad_input = rstd * (g w - xhat mean(g w xhat)) (when not null, one block per row) and
// grad_weight = sum over rows of g xhat (when not null, one thread per feature, rows in order).
void launch_rms_norm_backward(DType dtype, const void* g, const void* x, const void* rstd, const void* w,
                              void* grad_input, void* grad_weight, int64_t rows, int64_t K, cudaStream_t stream);
// y = x * cos + rotate_half(x) * sin over rows of D values (cos and sin have x's shape).
void launch_apply_rotary(DType dtype, const void* x, const void* cos, const void* sin, void* y, int64_t rows, int64_t D,
                         cudaStream_t stream);

// The geometry of an attention call: query [nb, L, E], key [nb / rep, S, E], value
// [nb / rep, S, Ev], mask [nb, L, S] (bool or the query's type, null: none). Batch entry n reads
// key/value entry (n / H) * (H / rep) + (n % H) / rep (H: the heads, the batch's last dim).
struct SdpaDims {
  int64_t nb = 0, H = 1, rep = 1, L = 0, S = 0, E = 0, Ev = 0;
  double scale = 1, dropout_p = 0;
  bool causal = false, mask_bool = false;
  uint64_t seed = 0, offset = 0;
};

// out [nb, L, Ev]. `scratch` holds S values of A per row of a chunk of `chunk_rows` rows.
void launch_sdpa(DType dtype, const void* q, const void* k, const void* v, const void* mask, void* out, void* scratch,
                 int64_t chunk_rows, const SdpaDims& d, cudaStream_t stream);
// grad_query [nb, L, E] (query's type); grad_key and grad_value accumulate (atomically) into
// zeroed A arrays of key's and value's shapes. `scratch` holds 2 S values of A per chunk row.
void launch_sdpa_backward(DType dtype, const void* grad_out, const void* q, const void* k, const void* v,
                          const void* mask, void* grad_q, void* grad_k, void* grad_v, void* scratch, int64_t chunk_rows,
                          const SdpaDims& d, cudaStream_t stream);

}  // namespace doppel::cuda
