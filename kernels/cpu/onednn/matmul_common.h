#pragma once
// The matmul-primitive plumbing shared by linear and fused_linear (defined in linalg.cpp):
// operands described by strides (copied only when oneDNN's fast kernels cannot read them),
// primitive creation with optional post-ops, and execution.
#include <memory>
#include <mutex>
#include <optional>

#include "cpu/onednn/onednn_common.h"

namespace doppel::onednn {

// One operand as oneDNN sees it: dims and strides in elements, and whether it must first be
// copied to a contiguous buffer (then `copy_strides` describe that buffer).
struct Operand {
  dnnl::memory::dims dims, strides;
  dnnl::memory::dims copy_strides;  // empty: the contiguous strides of dims
  bool copy = false;
};
void use_copy(Operand& o);
// Size-1 dims get contiguous strides; a layout with neither matrix dim unit-strided is copied.
void normalize(Operand& o);

// A matmul primitive made from its descriptor on its first execution, once however many threads
// run it: a kernel's supports() needs only the descriptor, and a call that never runs it (a
// training step's fused_linear, whose new weight sends it to the unfused ops) generates no code.
class LazyMatmul {
 public:
  LazyMatmul() = default;
  explicit LazyMatmul(dnnl::matmul::primitive_desc pd);
  const dnnl::matmul& get() const;
  const dnnl::matmul::primitive_desc& desc() const { return state_->pd; }  // (made or not)

 private:
  struct State {
    std::once_flag made;
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
  };
  std::shared_ptr<State> state_;
};

// Products of at most this many multiply-adds run as a direct loop (linalg.cpp): below it the
// primitive's fixed per-call cost (argument maps, memory objects) exceeds the arithmetic.
inline constexpr int64_t kDirectMaxMacs = 4096;

struct MatmulEntry {
  bool ok = false;    // false: oneDNN has no implementation; supports() declines the call
  bool slow = false;  // oneDNN picked its reference implementation for these strides
  LazyMatmul prim;
  dnnl::memory::desc a_md, b_md, bias_md, c_md;
  bool copy_a = false, copy_b = false;
  // Prepacked weights (linear's weight, matmul's 2-d b that stays put between calls): b in the
  // layout the primitive chose, made from b's own layout `b_user` by `b_re` once per weight
  // version (weight_cache.h).
  dnnl::memory::desc b_user;
  std::optional<dnnl::reorder> b_re;
  bool b_prepack = false;  // made to read b prepacked (b_re empty: b's own layout is the one it prefers)
};

// The primitive for c = a @ b (+ bias), then `post_ops` (nullptr: none); copies both operands
// when their strides would put oneDNN on its slow reference implementation.
MatmulEntry make_fast_entry(DType dt, Operand a, Operand b, const Operand* bias, const dnnl::memory::dims& c_dims,
                            DType bias_dt, const dnnl::post_ops* post_ops = nullptr);
void execute(const MatmulEntry& e, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c);

// Whether linear's kernel computes this call (inputs 0-2 of `c`) with a loop of doppel's, not a
// primitive (tiny float32 products, one row: gemv.h, AVX2 without AVX-512: avx2_gemm.h): its
// accumulation order is the loop's.
bool linear_runs_own_loop(const OpCall& c);
// linear's bias (input 2, may be undefined) as oneDNN reads it: dense, float32 for float16.
Tensor linear_bias(const OpCall& c);
// Whether x's leading dims (all but the last) can be read as one dim with a single stride.
bool rows_collapse(const Tensor& x, int64_t& row_stride);
// The cached primitive computing x @ w^T + bias (x, w, bias: inputs 0-2 of `c`, w is [out, in])
// then `post_ops`; `key` holds the op and whatever the post-ops depend on, this adds the geometry
// of x and w and the bias's dtype as linear_bias gives it.
// With few rows and a weight the weight cache may keep (weight_cache.h), the primitive reads w in
// the layout it prefers, prepacked once per weight version (execute() takes it from the cache):
// with w's own layout it would repack w on every call, which costs more than a batch-1 product.
std::shared_ptr<MatmulEntry> linear_entry(KeyBuilder key, const OpCall& c, const dnnl::post_ops* post_ops);
// Runs a linear_entry for the call (x, w, bias: inputs 0-2) into y.
void execute_linear(const MatmulEntry& e, const OpCall& c, const Tensor& bias, const Tensor& y);

}  // namespace doppel::onednn
