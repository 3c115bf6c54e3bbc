// CUDA kernel of fused_elementwise: each thread interprets the program for its elements in a
// register file of the compute type, with the opcode math of cpu/fused_math.h (the reference
// interpreter's). Inputs are read once per element (dense, or through their indexers), the
// output written once.
#include "cpu/fused_math.h"
#include "cuda/pointwise/pointwise_loops.cuh"

namespace doppel::cuda {
namespace {

template <typename T>
struct FusedInputs {
  pw::In<T> in[kMaxFusedInputs];
};

// Opcode numbers in DOPPEL_FUSED_OPCODES order (FusedOpcode's; the host glue checks).
enum FusedOp : int32_t {
#define DOPPEL_FUSED_ENUM(OP, EXPR) k_##OP,
  DOPPEL_FUSED_OPCODES(DOPPEL_FUSED_ENUM)
#undef DOPPEL_FUSED_ENUM
};

template <typename T, bool Dense>
__global__ void fused_kernel(FusedInputs<T> inputs, FusedProgramArg prog, T* out, StridedIndexer out_ix, int64_t n) {
  using C = device_compute_t<T>;
  for (int64_t i = pw::thread_index(); i < n; i += pw::thread_count()) {
    C r[kMaxFusedRegisters];
    for (int k = 0; k < prog.n_inputs; ++k) {
      if (!((prog.live_inputs >> k) & 1u)) continue;
      const pw::In<T>& x = inputs.in[k];
      r[k] = convert<C>(Dense ? x.dense_at(i) : x.strided_at(i));
    }
    for (int j = 0; j < prog.n_instrs; ++j) {
      const FusedInstrArg& ins = prog.code[j];
      const C x = r[ins.a];
      const C y = r[ins.op >= k_add && ins.op <= k_minimum ? ins.b : ins.a];
      const C imm = C(ins.imm);
      C v = x;
      switch (ins.op) {
#define DOPPEL_FUSED_CASE(OP, EXPR) \
  case k_##OP:                      \
    v = EXPR;                       \
    break;
        DOPPEL_FUSED_OPCODES(DOPPEL_FUSED_CASE)
#undef DOPPEL_FUSED_CASE
      }
      r[ins.dst] = v;
    }
    out[Dense ? i : out_ix.offset(i)] = convert<T>(r[prog.result]);
  }
}

}  // namespace

void launch_fused_elementwise(DType dtype, const InArg* inputs, const FusedProgramArg& prog, const OutArg& out,
                              int64_t n, cudaStream_t s) {
  if (n == 0) return;
  pw::for_floating(dtype, "fused_elementwise", [&]<typename T>() {
    FusedInputs<T> in{};
    bool dense = out.dense;
    for (int k = 0; k < prog.n_inputs; ++k) {
      in.in[k] = pw::typed<T>(inputs[k]);
      dense = dense && (inputs[k].data == nullptr || inputs[k].dense);
    }
    const Launch l = launch_for(n);
    T* o = static_cast<T*>(out.data);
    if (dense)
      fused_kernel<T, true><<<l.blocks, l.threads, 0, s>>>(in, prog, o, out.ix, n);
    else
      fused_kernel<T, false><<<l.blocks, l.threads, 0, s>>>(in, prog, o, out.ix, n);
    DOPPEL_CUDA_CHECK_LAUNCH("fused_kernel");
  });
}

}  // namespace doppel::cuda
