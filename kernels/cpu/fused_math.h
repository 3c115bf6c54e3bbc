#pragma once
// The opcodes of fused_elementwise (op_attrs/fused.h) and the scalar math of each, as one list
// shared by the reference interpreter (kernels/cpu/reference/fused_elementwise.cpp) and the CUDA
// one: X(opcode, expression) with x the first operand, y the second (binary opcodes) and imm the
// immediate, all in the compute type C. The math is elementwise_math.h's, as in the unfused ops.
#include "cpu/elementwise_math.h"

// In FusedOpcode's order.
#define DOPPEL_FUSED_OPCODES(X)     \
  X(neg, ew::neg(x))                \
  X(abs, ew::abs(x))                \
  X(exp, ew::exp(x))                \
  X(log, ew::log(x))                \
  X(sqrt, ew::sqrt(x))              \
  X(rsqrt, ew::rsqrt(x))            \
  X(tanh, ew::tanh(x))              \
  X(sigmoid, ew::sigmoid(x))        \
  X(relu, ew::relu(x))              \
  X(gelu, ew::gelu(x, imm != C(0))) \
  X(silu, ew::silu(x))              \
  X(add, ew::add(x, y))             \
  X(sub, ew::sub(x, y))             \
  X(mul, ew::mul(x, y))             \
  X(div, ew::div(x, y))             \
  X(maximum, ew::maximum(x, y))     \
  X(minimum, ew::minimum(x, y))     \
  X(mul_imm, ew::mul(x, imm))       \
  X(add_imm, ew::add(x, imm))
