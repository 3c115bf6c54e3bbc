#include "cuda/libraries/gemm.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "cuda/libraries/algo_cache.h"
#include "cuda/libraries/library_common.h"

namespace doppel::cuda {

std::optional<LtMatrix> lt_matrix(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  if (C == 1) sc = 1;
  if (R == 1) sr = sc == 1 ? std::max<int64_t>(C, 1) : 1;
  if (sc == 1 && sr >= std::max<int64_t>(C, 1)) return LtMatrix{false, C, R, sr};  // X^T stored column-major
  if (sr == 1 && sc >= std::max<int64_t>(R, 1)) return LtMatrix{true, R, C, sc};   // X stored column-major
  return std::nullopt;
}

namespace {

// The most workspace a heuristic may ask for (cuBLAS's own default on Hopper).
constexpr uint64_t kMaxWorkspaceBytes = uint64_t(32) << 20;

struct LayoutDeleter {
  void operator()(cublasLtMatrixLayout_t l) const { (void)cublasLtMatrixLayoutDestroy(l); }
};
struct DescDeleter {
  void operator()(cublasLtMatmulDesc_t d) const { (void)cublasLtMatmulDescDestroy(d); }
};
struct PrefDeleter {
  void operator()(cublasLtMatmulPreference_t p) const { (void)cublasLtMatmulPreferenceDestroy(p); }
};
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Desc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using Pref = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PrefDeleter>;

// The cached part of a problem: layouts (immutable once made, so shared by concurrent calls)
// and the heuristic's algorithm. The matmul descriptor holds the bias pointer, so every call
// makes its own.
struct GemmPlan {
  Layout lt_a, lt_b, lt_c;  // cuBLASLt's A is our B, its B our A (C^T = B^T A^T)
  bool found = false;
  cublasLtMatmulHeuristicResult_t heuristic{};
};

AlgoCache<GemmPlan>& plan_cache() {
  static AlgoCache<GemmPlan> cache;
  return cache;
}

cublasComputeType_t compute_type(DType t) {
  if (t == DType::Float64) return CUBLAS_COMPUTE_64F;
  if (t == DType::Float32 && allow_tf32()) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;  // float32, and the 16-bit floats with float32 accumulation
}
cudaDataType_t scale_type(DType t) { return t == DType::Float64 ? CUDA_R_64F : CUDA_R_32F; }

cublasLtEpilogue_t epilogue_of(const GemmProblem& p) {
  switch (p.activation) {
    case GemmActivation::none:
      return p.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    case GemmActivation::relu:
      return p.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case GemmActivation::gelu_tanh:
      return p.bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

template <typename T>
void set_layout(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr, T v) {
  DOPPEL_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, attr, &v, sizeof v));
}
template <typename T>
void set_desc(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, T v) {
  DOPPEL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof v));
}
template <typename T>
void set_pref(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr, T v) {
  DOPPEL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &v, sizeof v));
}

Layout make_layout(DType t, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t batch_stride) {
  cublasLtMatrixLayout_t l = nullptr;
  DOPPEL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, cuda_data_type(t), uint64_t(rows), uint64_t(cols), ld));
  Layout layout(l);
  if (batch > 1) {
    set_layout(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, int32_t(batch));
    set_layout(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, batch_stride);
  }
  return layout;
}

Desc make_desc(const GemmProblem& p, const void* bias) {
  cublasLtMatmulDesc_t d = nullptr;
  DOPPEL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, compute_type(p.dtype), scale_type(p.dtype)));
  Desc desc(d);
  set_desc(d, CUBLASLT_MATMUL_DESC_TRANSA, int32_t(p.b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N));
  set_desc(d, CUBLASLT_MATMUL_DESC_TRANSB, int32_t(p.a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N));
  set_desc(d, CUBLASLT_MATMUL_DESC_EPILOGUE, uint32_t(epilogue_of(p)));
  // The bias has the output's dtype (cuBLASLt's default bias type), one entry per row of C^T.
  if (p.bias) set_desc(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
  return desc;
}

std::string describe(const GemmProblem& p) {
  return fmt::format("{} [{}, {}] @ [{}, {}] x{} (A {}ld={}, B {}ld={}, batch strides {} and {})", dtype_name(p.dtype),
                     p.M, p.K, p.K, p.N, p.batch, p.a.transposed ? "transposed " : "", p.a.ld,
                     p.b.transposed ? "transposed " : "", p.b.ld, p.a_batch, p.b_batch);
}

GemmPlan make_plan(const GemmProblem& p, cublasLtHandle_t handle, const void* a, const void* b, const void* c,
                   const void* bias) {
  GemmPlan plan;
  plan.lt_a = make_layout(p.dtype, p.b.rows, p.b.cols, p.b.ld, p.batch, p.b_batch);
  plan.lt_b = make_layout(p.dtype, p.a.rows, p.a.cols, p.a.ld, p.batch, p.a_batch);
  plan.lt_c = make_layout(p.dtype, p.N, p.M, p.N, p.batch, p.M * p.N);
  const Desc desc = make_desc(p, bias);
  cublasLtMatmulPreference_t raw = nullptr;
  DOPPEL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw));
  const Pref pref(raw);
  set_pref(raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kMaxWorkspaceBytes);
  set_pref(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, uint32_t(pointer_alignment(b)));
  set_pref(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, uint32_t(pointer_alignment(a)));
  set_pref(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, uint32_t(pointer_alignment(c)));
  set_pref(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, uint32_t(pointer_alignment(c)));
  int returned = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle, desc.get(), plan.lt_a.get(), plan.lt_b.get(), plan.lt_c.get(),
                                     plan.lt_c.get(), pref.get(), 1, &plan.heuristic, &returned);
  // NOT_SUPPORTED: no algorithm for this combination (e.g. an epilogue for float64).
  if (status != CUBLAS_STATUS_NOT_SUPPORTED) DOPPEL_CUBLAS_CHECK(status);
  plan.found = status == CUBLAS_STATUS_SUCCESS && returned > 0;
  return plan;
}

}  // namespace

bool run_gemm(const GemmProblem& p, const void* a, const void* b, void* c, const void* bias, Device device) {
  DOPPEL_CHECK_SHAPE(p.batch <= INT32_MAX, "matmul (cuBLASLt): batch count {} exceeds 2^31-1", p.batch);
  const DeviceGuard guard(device.index);
  const cublasLtHandle_t handle = cublaslt_handle(device.index);
  AlgoKey key(OpId::matmul, device.index);
  key.add(int64_t(p.dtype)).add(p.M).add(p.N).add(p.K);
  for (const LtMatrix& m : {p.a, p.b}) key.add(int64_t(m.transposed)).add(m.rows).add(m.cols).add(m.ld);
  key.add(p.batch).add(p.a_batch).add(p.b_batch).add(int64_t(p.activation)).add(int64_t(p.bias));
  key.add(int64_t(compute_type(p.dtype)));
  key.add(pointer_alignment(a)).add(pointer_alignment(b)).add(pointer_alignment(c));
  key.add(p.bias ? pointer_alignment(bias) : int64_t(0));
  const auto plan = plan_cache().get(key, [&] { return make_plan(p, handle, a, b, c, bias); });
  if (!plan->found) {
    DOPPEL_CHECK_DEVICE(p.activation != GemmActivation::none || p.bias,
                        "matmul (cuBLASLt): no algorithm for {}; make the operands contiguous or use float32",
                        describe(p));
    return false;
  }
  const Desc desc = make_desc(p, bias);
  // The workspace returns to the stream-ordered CUDA allocator when this call ends; work queued
  // later on the same stream is ordered after this product.
  const Tensor ws = workspace(plan->heuristic.workspaceSize, device);
  void* ws_ptr = ws.defined() ? ws.raw_data() : nullptr;
  const cudaStream_t stream = current_stream(device.index);
  const float one_f = 1.f, zero_f = 0.f;
  const double one_d = 1.0, zero_d = 0.0;
  const bool f64 = p.dtype == DType::Float64;
  const void* alpha = f64 ? static_cast<const void*>(&one_d) : static_cast<const void*>(&one_f);
  const void* beta = f64 ? static_cast<const void*>(&zero_d) : static_cast<const void*>(&zero_f);
  DOPPEL_CUBLAS_CHECK(cublasLtMatmul(handle, desc.get(), alpha, b, plan->lt_a.get(), a, plan->lt_b.get(), beta, c,
                                     plan->lt_c.get(), c, plan->lt_c.get(), &plan->heuristic.algo, ws_ptr,
                                     plan->heuristic.workspaceSize, stream));
  return true;
}

}  // namespace doppel::cuda
