#include "fused_description.h"

#include <fmt/format.h>

#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/layout.h"

namespace doppel::graph {

namespace {

std::string_view activation_name(int64_t a) {
  constexpr std::string_view kNames[] = {"none", "relu",    "leaky_relu", "gelu", "gelu (tanh)",
                                         "tanh", "sigmoid", "silu",       "elu",  "softplus"};
  static_assert(std::size(kNames) == size_t(kNumFusedActivations));
  return a >= 0 && a < kNumFusedActivations ? kNames[a] : "?";
}

std::string_view opcode_name(int64_t op) {
  constexpr std::string_view kNames[] = {
      "neg",  "abs", "exp", "log", "sqrt", "rsqrt",   "tanh",    "sigmoid",      "relu",        "gelu",
      "silu", "add", "sub", "mul", "div",  "maximum", "minimum", "mul (scalar)", "add (scalar)"};
  static_assert(std::size(kNames) == size_t(kNumFusedOpcodes));
  return op >= 0 && op < kNumFusedOpcodes ? kNames[op] : "?";
}

bool present(const Node& n, size_t k) { return n.inputs.size() > k && n.inputs[k] != kNoValue; }

std::string with_activation(std::string what, int64_t activation) {
  if (activation != int64_t(FusedActivation::none)) what += fmt::format(" + {}", activation_name(activation));
  return what;
}

}  // namespace

std::string fused_description(const Node& n) {
  switch (n.op) {
    case OpId::fused_linear:
      return with_activation(present(n, 2) ? "linear + bias" : "linear", FusedLinearAttrs::of(n.attrs).activation);
    case OpId::fused_conv2d: {
      std::string what = present(n, 2) ? "conv2d + bias" : "conv2d";
      if (present(n, 3)) what += " + residual add";
      return with_activation(what, FusedConv2dAttrs::of(n.attrs).activation);
    }
    case OpId::blocked_conv2d:
      return with_activation(present(n, 2) ? "conv2d + bias (channel-blocked)" : "conv2d (channel-blocked)",
                             BlockedConv2dAttrs::of(n.attrs).activation);
    case OpId::fused_elementwise: {
      const Shape program = FusedElementwiseAttrs::of(n.attrs).program;
      std::string out;
      for (size_t k = 0; k + kFusedInstrWords <= program.size(); k += kFusedInstrWords)
        out += fmt::format("{}{}", out.empty() ? "" : ", ", opcode_name(program[k]));
      return out;
    }
    default:
      return {};
  }
}

}  // namespace doppel::graph
