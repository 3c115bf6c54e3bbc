#pragma once
// The launch functions of kernels/cuda/pointwise, between the .cu kernels and the host glue
// (elementwise.cpp, copy.cpp, factory.cpp, optimizer.cpp, fused_elementwise.cpp): plain
// pointers, sizes, indexers and op ids only, so both nvcc and the host compiler read it.
// Every launcher enqueues on `stream`, checks the launch and returns without synchronizing.
#include <cstdint>

#include "cuda/common/cuda_common.cuh"
#include "doppel/kernels/op_id.h"

namespace doppel::cuda {

// An elementwise input over the output's shape: device memory read through `ix` (broadcast dims
// have stride 0), or, with `data` null, one host value (a wrapped number) in the input dtype's
// bits. `dense`: contiguous with the output's shape, so element i is data[i] (the vectorized
// path, when every operand is dense and aligned).
struct InArg {
  const void* data = nullptr;
  StridedIndexer ix{};
  bool dense = false;
  alignas(8) unsigned char host_value[8] = {};
};

// An elementwise output: element i (row-major over the shape) at data + ix.offset(i).
struct OutArg {
  void* data = nullptr;
  StridedIndexer ix{};
  bool dense = false;
};

// ---- Unary and binary elementwise ops, keyed by the op table's OpId. Each list names the ops
// with a CUDA kernel and the dtypes that kernel runs on (inference rejects the others):
// - floating: the floating dtypes, in their compute type (the glue casts integer inputs to the
//   float32 output first; div, atan2 and relu_backward likewise);
// - numeric: every dtype but bool, kept; all: every dtype, kept; bits: bool and integers, kept;
// - to_bool (logical_not): reads any dtype, writes bool;
// - compare: operands in their promoted dtype, bool result; logical: operands as bool.
// X(op, domain) for each op; the host glue (elementwise.cpp) registers exactly these, and the
// launchers (unary.cu, binary.cu) switch over them.
#define DOPPEL_CUDA_UNARY_OPS(X)                                                                                    \
  X(exp, floating)                                                                                                  \
  X(log, floating)                                                                                                  \
  X(log1p, floating) X(sqrt, floating) X(rsqrt, floating) X(sin, floating) X(cos, floating) X(tanh, floating)       \
      X(sigmoid, floating) X(silu, floating) X(erf, floating) X(reciprocal, floating) X(gelu, floating)             \
          X(leaky_relu, floating) X(elu, floating) X(softplus, floating) X(hardswish, floating)                     \
              X(hardsigmoid, floating) X(mish, floating) X(selu, floating) X(logsigmoid, floating) X(neg, numeric)  \
                  X(abs, numeric) X(relu, numeric) X(floor, numeric) X(ceil, numeric) X(round, numeric)             \
                      X(trunc, numeric) X(clamp, numeric) X(hardtanh, numeric) X(sign, all) X(logical_not, to_bool) \
                          X(bitwise_not, bits)
#define DOPPEL_CUDA_BINARY_OPS(X)                                                                                  \
  X(add, all)                                                                                                      \
  X(mul, all)                                                                                                      \
  X(maximum, all) X(minimum, all) X(sub, numeric) X(pow, numeric) X(fmod, numeric) X(remainder, numeric)           \
      X(floor_divide, numeric) X(div, floating) X(atan2, floating) X(relu_backward, floating) X(bitwise_and, bits) \
          X(bitwise_or, bits) X(bitwise_xor, bits) X(eq, compare) X(ne, compare) X(lt, compare) X(le, compare)     \
              X(gt, compare) X(ge, compare) X(logical_and, logical) X(logical_or, logical) X(logical_xor, logical)

enum class Domain : uint8_t { floating, numeric, all, bits, to_bool, compare, logical };

template <OpId Op>
constexpr Domain unary_domain() {
#define DOPPEL_CUDA_DOMAIN(OP, D) \
  if (Op == OpId::OP) return Domain::D;
  DOPPEL_CUDA_UNARY_OPS(DOPPEL_CUDA_DOMAIN)
  return Domain::all;
}
template <OpId Op>
constexpr Domain binary_domain() {
  DOPPEL_CUDA_BINARY_OPS(DOPPEL_CUDA_DOMAIN)
#undef DOPPEL_CUDA_DOMAIN
  return Domain::all;
}

// The attributes of the unary ops that have some: a/b are gelu's tanh flag (a != 0), leaky_relu's
// slope (a), elu's alpha (a), softplus' beta and threshold (a, b), the floating bounds of clamp
// and hardtanh (a, b); their integer bounds are ilo/ihi (already rounded and saturated to the
// dtype).
struct UnaryAttrs {
  double a = 0, b = 0;
  bool has_lo = false, has_hi = false;
  int64_t ilo = 0, ihi = 0;
};
// `op` is one of DOPPEL_CUDA_UNARY_OPS, `name` its name for errors; `dtype` the computation dtype
// (the input's for logical_not, else the output's).
void launch_unary(OpId op, const char* name, DType dtype, const InArg& x, const OutArg& out, int64_t n,
                  const UnaryAttrs& attrs, cudaStream_t stream);

// `op` is one of DOPPEL_CUDA_BINARY_OPS, on operands already in the computation dtype `dtype`
// (the output dtype, the promoted dtype for comparisons, bool for logic). The integer division
// ops (fmod, remainder, floor_divide) write 0 where the divisor is 0 and set *zero_divisor (device
// memory, may be null for the other ops) to 1.
void launch_binary(OpId op, const char* name, DType dtype, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                   int* zero_divisor, cudaStream_t stream);

// where(cond, a, b): cond is bool, a, b and out have `dtype`.
void launch_where(DType dtype, const InArg& cond, const InArg& a, const InArg& b, const OutArg& out, int64_t n,
                  cudaStream_t stream);

// Converting copy from dtype `from` to dtype `to` (the CPU's cast rules: through both compute
// types; non-zero is true).
void launch_cast(DType from, DType to, const InArg& x, const OutArg& out, int64_t n, cudaStream_t stream);

// ---- Factories, into a contiguous output of n elements of `dtype`.
enum class FactoryOp : uint8_t { full, arange, linspace, eye };
// full: a = value; arange: a = start, b = step; linspace: a = start, b = end, c = step,
// i = steps; eye: i = columns.
struct FactoryAttrs {
  double a = 0, b = 0, c = 0;
  int64_t i = 0;
};
void launch_factory(FactoryOp op, DType dtype, void* out, int64_t n, const FactoryAttrs& attrs, cudaStream_t stream);

// ---- Random ops: element k from Philox block offset + k / 4, word k % 4 (cpu/random_math.h).
enum class RandomOp : uint8_t { uniform, normal, randint };
// uniform: [a, b) with `top` (the largest dtype value below b) replacing results that round up
// to b when b > a; normal: mean a, standard deviation b; randint: [lo, lo + range).
struct RandomAttrs {
  double a = 0, b = 0, top = 0;
  bool clamp_top = false;
  int64_t lo = 0;
  uint64_t range = 1;
  uint64_t seed = 0, offset = 0;
};
void launch_random(RandomOp op, DType dtype, void* out, int64_t n, const RandomAttrs& attrs, cudaStream_t stream);

// dropout of a contiguous x (floating `dtype`) into contiguous out and a bool mask; with
// training false, out = x and the mask is all true.
void launch_dropout(DType dtype, const void* x, void* out, bool* mask, int64_t n, double p, bool training,
                    uint64_t seed, uint64_t offset, cudaStream_t stream);

// ---- adam_step over n contiguous elements of floating `dtype`, in place or into separate
// outputs (param/exp_avg/exp_avg_sq/max_exp_avg_sq in and out may alias pairwise). step and lr
// are 0-d float64 tensors in device memory, read by the kernel so that a replayed graph sees
// their current values.
struct AdamArgs {
  const void *param, *grad, *exp_avg, *exp_avg_sq, *max_exp_avg_sq;
  void *param_out, *exp_avg_out, *exp_avg_sq_out, *max_exp_avg_sq_out;
  const double *step, *lr;
  double beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled, maximize;
};
void launch_adam_step(DType dtype, const AdamArgs& args, int64_t n, cudaStream_t stream);

// ---- sgd_step over n contiguous elements of floating `dtype` (param and momentum buffer in and
// out may alias pairwise). momentum_buffer null with momentum != 0: PyTorch's first step (the
// buffer is written, not read). lr is a 0-d float64 tensor in device memory.
struct SgdArgs {
  const void *param, *grad, *momentum_buffer;
  void *param_out, *momentum_buffer_out;
  const double* lr;
  double momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
void launch_sgd_step(DType dtype, const SgdArgs& args, int64_t n, cudaStream_t stream);

// ---- fused_elementwise: a program of at most kMaxFusedInstrs instructions over at most
// kMaxFusedInputs inputs (each with the output's floating `dtype`), interpreted per element in
// kMaxFusedRegisters registers of the compute type. Instructions as in op_attrs/fused.h.
inline constexpr int kMaxFusedInputs = 32;
inline constexpr int kMaxFusedInstrs = 64;
inline constexpr int kMaxFusedRegisters = 32;
struct FusedInstrArg {
  int32_t op, dst, a, b;
  double imm;
};
struct FusedProgramArg {
  int32_t n_inputs = 0, n_instrs = 0, result = 0;
  uint64_t live_inputs = 0;  // inputs read before an instruction overwrites their register
  FusedInstrArg code[kMaxFusedInstrs];
};
void launch_fused_elementwise(DType dtype, const InArg* inputs, const FusedProgramArg& program, const OutArg& out,
                              int64_t n, cudaStream_t stream);

// Reports a dtype that reached a launcher for an op without a kernel for it (the glue's
// supports() functions keep this from happening); throws a DTypeError naming both.
[[noreturn]] void unsupported_dtype(const char* op, DType dtype);

}  // namespace doppel::cuda
