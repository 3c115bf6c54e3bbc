// fused_elementwise: its straight-line program expanded back into one ONNX node per
// instruction (registers become value names; inputs broadcast as in the program).
#include <bit>

#include "doppel/kernels/op_attrs/elementwise.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

// The op each opcode computes (mul_imm / add_imm: mul / add with the immediate).
constexpr OpId kOpcodeOps[kNumFusedOpcodes] = {
    OpId::neg,     OpId::abs,     OpId::exp,     OpId::log,  OpId::sqrt, OpId::rsqrt, OpId::tanh,
    OpId::sigmoid, OpId::relu,    OpId::gelu,    OpId::silu, OpId::add,  OpId::sub,   OpId::mul,
    OpId::div,     OpId::maximum, OpId::minimum, OpId::mul,  OpId::add,
};
static_assert(int64_t(FusedOpcode::add_imm) == kNumFusedOpcodes - 1);

void map_fused_elementwise(Emitter& e) {
  const DType t = e.out_dtype();
  const Shape& program = e.attrs<FusedElementwiseAttrs>().program;
  const size_t n = program.size() / kFusedInstrWords;
  if (n == 0 || program.size() % kFusedInstrWords != 0) e.fail("its program is empty or truncated");
  std::vector<std::string> reg(static_cast<size_t>(kFusedMaxRegisters));
  for (size_t k = 0; k < e.num_in(); ++k) reg[k] = e.cast(e.in(k), e.in_dtype(k), t);
  // A register read before anything wrote it is a corrupt program (inference rejects those too).
  auto read = [&](int64_t r) -> const std::string& {
    if (r < 0 || r >= kFusedMaxRegisters || reg[size_t(r)].empty())
      e.fail(fmt::format("its program reads register {} before writing it", r));
    return reg[size_t(r)];
  };
  for (size_t i = 0; i < n; ++i) {
    const int64_t* w = program.data() + i * kFusedInstrWords;
    if (w[0] < 0 || w[0] >= kNumFusedOpcodes || w[1] < 0 || w[1] >= kFusedMaxRegisters)
      e.fail(fmt::format("instruction {} has opcode {} / destination {} out of range", i, w[0], w[1]));
    const auto code = FusedOpcode(w[0]);
    const double imm = std::bit_cast<double>(w[4]);
    const OpId op = kOpcodeOps[w[0]];
    const std::string out = i + 1 == n ? e.out() : std::string();
    std::string y;
    if (code == FusedOpcode::mul_imm || code == FusedOpcode::add_imm)
      y = emit_binary(e, op, read(w[2]), e.const_scalar(imm, t), t, out);
    else if (fused_opcode_is_binary(code))
      y = emit_binary(e, op, read(w[2]), read(w[3]), t, out);
    else
      y = emit_unary(e, op, op == OpId::gelu ? GeluAttrs{.tanh = imm != 0}.pack() : Attrs{}, read(w[2]), t, out);
    reg[size_t(w[1])] = y;
  }
}

}  // namespace

void register_fused_elementwise_mapping(MappingTable& t) {
  t[size_t(OpId::fused_elementwise)] = {map_fused_elementwise};
}

}  // namespace doppel::onnx::detail
