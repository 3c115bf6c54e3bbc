#pragma once
// The attributes and encodings of the fused ops, which graph passes produce from patterns
// of recorded nodes (they are not differentiable: fusion runs after autograd is resolved).
//   fused_linear(x, w, b?):                 act(linear(x, w, b))
//   fused_conv2d(x, w, b?, residual?):      act(conv2d(x, w, b) + residual)
//   fused_elementwise(inputs...):           a straight-line program over broadcast inputs
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "doppel/kernels/attr_struct.h"
#include "doppel/kernels/op_attrs/elementwise.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/op_id.h"

namespace doppel {

// The activation applied last (Int attribute). alpha/beta carry the unary op's attributes:
//   leaky_relu: alpha = negative_slope;   elu: alpha = alpha;
//   softplus:   alpha = beta, beta = threshold;   the others ignore them.
// gelu_erf / gelu_tanh are gelu with tanh = false / true.
enum class FusedActivation : int64_t {
  none,
  relu,
  leaky_relu,
  gelu_erf,
  gelu_tanh,
  tanh,
  sigmoid,
  silu,
  elu,
  softplus
};
inline constexpr int64_t kNumFusedActivations = 10;

// The existing unary op (and its attributes, in its OpDef's order) computing an activation;
// nullopt for none. The reference kernels and the tests compose with it.
struct UnfusedActivation {
  OpId op;
  Attrs attrs;
};
inline std::optional<UnfusedActivation> unfused_activation(FusedActivation a, double alpha, double beta) {
  switch (a) {
    case FusedActivation::none:
      return std::nullopt;
    case FusedActivation::relu:
      return UnfusedActivation{OpId::relu, {}};
    case FusedActivation::leaky_relu:
      return UnfusedActivation{OpId::leaky_relu, LeakyReluAttrs{.negative_slope = alpha}.pack()};
    case FusedActivation::gelu_erf:
      return UnfusedActivation{OpId::gelu, GeluAttrs{.tanh = false}.pack()};
    case FusedActivation::gelu_tanh:
      return UnfusedActivation{OpId::gelu, GeluAttrs{.tanh = true}.pack()};
    case FusedActivation::tanh:
      return UnfusedActivation{OpId::tanh, {}};
    case FusedActivation::sigmoid:
      return UnfusedActivation{OpId::sigmoid, {}};
    case FusedActivation::silu:
      return UnfusedActivation{OpId::silu, {}};
    case FusedActivation::elu:
      return UnfusedActivation{OpId::elu, EluAttrs{.alpha = alpha}.pack()};
    case FusedActivation::softplus:
      return UnfusedActivation{OpId::softplus, SoftplusAttrs{.beta = alpha, .threshold = beta}.pack()};
  }
  return std::nullopt;
}

// A straight-line program of fused_elementwise (the Ints attribute `program`): a flat list of
// instructions of kFusedInstrWords words each:
//   (opcode, dst, a, b, imm)   with imm = std::bit_cast<int64_t>(double).
// Registers 0 .. n_inputs-1 hold the inputs (broadcast to the output shape) when the program
// starts; every register index is < kFusedMaxRegisters, and a register is read only after it
// holds an input or an earlier instruction wrote it. Unary opcodes read a and ignore b; the
// immediate opcodes compute a * imm and a + imm; gelu uses the tanh approximation when
// imm != 0 (gelu's `tanh` attribute). The last instruction's dst is the output. Inference
// rejects anything else with a ValueError, so a program read from a corrupt file cannot crash.
enum class FusedOpcode : int64_t {
  // unary
  neg,
  abs,
  exp,
  log,
  sqrt,
  rsqrt,
  tanh,
  sigmoid,
  relu,
  gelu,
  silu,
  // binary
  add,
  sub,
  mul,
  div,
  maximum,
  minimum,
  // with the immediate
  mul_imm,
  add_imm,
};
inline constexpr int64_t kNumFusedOpcodes = 19;
inline constexpr size_t kFusedInstrWords = 5;
inline constexpr int64_t kFusedMaxRegisters = 32;
inline constexpr bool fused_opcode_is_binary(FusedOpcode op) {
  return op >= FusedOpcode::add && op <= FusedOpcode::minimum;
}

struct FusedInstr {
  FusedOpcode op;
  int64_t dst, a, b = 0;
  double imm = 0;
};
// Appends an instruction's words to a program (for passes and tests).
inline void append_instr(Shape& program, const FusedInstr& in) {
  program.push_back(int64_t(in.op));
  program.push_back(in.dst);
  program.push_back(in.a);
  program.push_back(in.b);
  program.push_back(std::bit_cast<int64_t>(in.imm));
}

}  // namespace doppel

namespace doppel {

// The fused activation (an int of FusedActivation) and its alpha/beta (see FusedActivation).
#define DOPPEL_FUSED_ACTIVATION_ATTRS(F) F(Int, activation) F(Float, alpha) F(Float, beta)
// fused_conv2d: convolution's stride, padding, dilation (2 entries each), groups (not
// transposed), then the activation.
#define DOPPEL_FUSED_CONV2D_ATTRS(F) \
  F(Ints, stride) F(Ints, padding) F(Ints, dilation) F(Int, groups) DOPPEL_FUSED_ACTIVATION_ATTRS(F)
#define DOPPEL_FUSED_ELEMENTWISE_ATTRS(F) F(Ints, program)
DOPPEL_DECLARE_OP_ATTRS(FusedActivationAttrs, DOPPEL_FUSED_ACTIVATION_ATTRS)
using FusedLinearAttrs = FusedActivationAttrs;  // fused_linear takes just the activation
DOPPEL_DECLARE_OP_ATTRS(FusedConv2dAttrs, DOPPEL_FUSED_CONV2D_ATTRS)
DOPPEL_DECLARE_OP_ATTRS(FusedElementwiseAttrs, DOPPEL_FUSED_ELEMENTWISE_ATTRS)

// The activation part of fused_conv2d's or blocked_conv2d's attributes.
template <class A>
FusedActivationAttrs activation_of(const A& a) {
  return {.activation = a.activation, .alpha = a.alpha, .beta = a.beta};
}

// The equivalent convolution call of a fused_conv2d (forward, no output padding).
inline ConvolutionAttrs convolution_of(const FusedConv2dAttrs& a) {
  return {.stride = a.stride,
          .padding = a.padding,
          .dilation = a.dilation,
          .groups = a.groups,
          .transposed = false,
          .output_padding = {0, 0}};
}

}  // namespace doppel
