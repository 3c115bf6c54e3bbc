// Host glue of the CUDA fused_elementwise kernel (fused_elementwise.cu): decodes the program
// attribute (inference validated it) into the launch's fixed-size program.
#include <bit>

#include "cpu/fused_math.h"
#include "cuda/pointwise/operands.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/fused.h"
#include "registration.h"

namespace doppel::registration {
namespace {

namespace pw = cuda::pw;

// The CUDA interpreter numbers opcodes in DOPPEL_FUSED_OPCODES order, which must be FusedOpcode's.
enum ListedOpcode : int64_t {
#define DOPPEL_FUSED_ENUM(OP, EXPR) listed_##OP,
  DOPPEL_FUSED_OPCODES(DOPPEL_FUSED_ENUM)
#undef DOPPEL_FUSED_ENUM
      listed_count
};
#define DOPPEL_FUSED_CHECK(OP, EXPR) static_assert(int64_t(FusedOpcode::OP) == listed_##OP);
DOPPEL_FUSED_OPCODES(DOPPEL_FUSED_CHECK)
#undef DOPPEL_FUSED_CHECK
static_assert(listed_count == kNumFusedOpcodes);
static_assert(kFusedMaxRegisters <= cuda::kMaxFusedRegisters && kFusedMaxRegisters <= cuda::kMaxFusedInputs);

void fused_elementwise_kernel(const OpCall& c, std::span<const Tensor> o) {
  const Tensor& out = o[0];
  const Shape prog = FusedElementwiseAttrs::of(c.attrs).program;
  cuda::FusedProgramArg p;
  p.n_inputs = int32_t(c.inputs.size());
  p.n_instrs = int32_t(prog.size() / kFusedInstrWords);
  uint64_t written = 0;
  for (int32_t j = 0; j < p.n_instrs; ++j) {
    const int64_t* w = prog.data() + size_t(j) * kFusedInstrWords;
    const bool binary = fused_opcode_is_binary(FusedOpcode(w[0]));
    p.code[j] = {int32_t(w[0]), int32_t(w[1]), int32_t(w[2]), int32_t(binary ? w[3] : w[2]),
                 std::bit_cast<double>(w[4])};
    for (int64_t r : {w[2], binary ? w[3] : w[2]})
      if (!((written >> r) & 1u)) p.live_inputs |= uint64_t(1) << r;
    written |= uint64_t(1) << w[1];
  }
  p.result = p.code[p.n_instrs - 1].dst;
  std::vector<Tensor> held;  // keeps converted operands alive until the launch is enqueued
  cuda::InArg ins[cuda::kMaxFusedInputs];
  for (int32_t k = 0; k < p.n_inputs; ++k) {
    held.push_back(pw::to_dtype(c.in(size_t(k)), out.dtype(), "fused_elementwise"));
    ins[k] = pw::in_arg(held.back(), out.shape(), "fused_elementwise");
  }
  cuda::launch_fused_elementwise(out.dtype(), ins, p, pw::out_arg(out, "fused_elementwise"), out.numel(),
                                 cuda::stream_of(out));
}

// Programs longer than the launch's fixed-size program are refused (a DTypeError naming the op).
bool supports_fused_elementwise(const OpCall& c) {
  return pw::inputs_on_cuda(c) &&
         FusedElementwiseAttrs::of(c.attrs).program.size() <= size_t(cuda::kMaxFusedInstrs) * kFusedInstrWords;
}

}  // namespace

void cuda_fused_elementwise_kernels() {
  register_kernel(OpId::fused_elementwise, Backend::CUDA, {fused_elementwise_kernel, supports_fused_elementwise});
}

}  // namespace doppel::registration
