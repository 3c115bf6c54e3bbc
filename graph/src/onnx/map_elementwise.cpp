// Elementwise ops: unary (direct ONNX ops, or short expansions where opset 17 has no op: gelu,
// silu, softplus with beta/threshold, log1p, rsqrt), binary with broadcasting (ONNX's
// multidirectional broadcasting is numpy's, as doppel's), where, clamp, and the issue-12 ops that
// opset 17 can express (fmod as Mod(fmod=1), remainder, floor_divide, the activations; bitwise
// ops on bool only; atan2 has no mapping and fails export with the op's name).
#include <cmath>
#include <numbers>

#include "doppel/kernels/op_attrs/elementwise.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

using namespace elementwise_attrs;

// ---- Unary ops: a direct ONNX op, or an expansion.
using UnaryFn = std::string (*)(Emitter& e, const Attrs& a, const std::string& x, DType t, std::string out);
struct UnaryRule {
  const char* onnx = nullptr;
  UnaryFn fn = nullptr;
};

std::string log1p_of(Emitter& e, const Attrs&, const std::string& x, DType t, std::string out) {
  return e.add("Log", {e.add("Add", {x, e.const_scalar(1, t)})}, {}, std::move(out));
}
std::string rsqrt_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("Reciprocal", {e.add("Sqrt", {x})}, {}, std::move(out));
}
std::string silu_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("Mul", {x, e.add("Sigmoid", {x})}, {}, std::move(out));
}
// erf:  0.5 x (1 + erf(x / sqrt 2));   tanh:  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
std::string gelu_of(Emitter& e, const Attrs& a, const std::string& x, DType t, std::string out) {
  std::string inner;
  if (GeluAttrs::of(a).tanh) {
    const std::string x3 = e.add("Mul", {e.add("Mul", {x, x}), x});
    const std::string poly = e.add("Add", {x, e.add("Mul", {x3, e.const_scalar(0.044715, t)})});
    inner = e.add("Tanh", {e.add("Mul", {poly, e.const_scalar(std::sqrt(2.0 / std::numbers::pi), t)})});
  } else {
    inner = e.add("Erf", {e.add("Mul", {x, e.const_scalar(1.0 / std::numbers::sqrt2, t)})});
  }
  const std::string half_x = e.add("Mul", {x, e.const_scalar(0.5, t)});
  return e.add("Mul", {half_x, e.add("Add", {inner, e.const_scalar(1, t)})}, {}, std::move(out));
}
std::string leaky_relu_of(Emitter& e, const Attrs& a, const std::string& x, DType, std::string out) {
  return e.add("LeakyRelu", {x}, {OnnxAttr::of_float("alpha", LeakyReluAttrs::of(a).negative_slope)}, std::move(out));
}
std::string elu_of(Emitter& e, const Attrs& a, const std::string& x, DType, std::string out) {
  return e.add("Elu", {x}, {OnnxAttr::of_float("alpha", EluAttrs::of(a).alpha)}, std::move(out));
}
// PyTorch's softplus: x where beta x > threshold, else log(1 + exp(beta x)) / beta.
std::string softplus_of(Emitter& e, const Attrs& a, const std::string& x, DType t, std::string out) {
  const auto sp = SoftplusAttrs::of(a);
  const std::string beta = e.const_scalar(sp.beta, t);
  const std::string bx = e.add("Mul", {x, beta});
  const std::string soft = e.add("Div", {e.add("Softplus", {bx}), beta});
  const std::string linear = e.add("Greater", {bx, e.const_scalar(sp.threshold, t)});
  return e.add("Where", {linear, x, soft}, {}, std::move(out));
}
std::string clamp_of(Emitter& e, const Attrs& a, const std::string& x, DType t, std::string out) {
  const auto [min, max] = ClampAttrs::of(a);
  const std::string lo = min ? e.const_scalar(*min, t) : "";
  const std::string hi = max ? e.const_scalar(*max, t) : "";
  return e.add("Clip", {x, lo, hi}, {}, std::move(out));
}

// hardtanh is a clamp; integer tensors truncate the bounds, as the kernels do.
std::string hardtanh_of(Emitter& e, const Attrs& a, const std::string& x, DType t, std::string out) {
  auto bound = [&](double v) { return e.const_scalar(is_floating(t) ? v : std::trunc(v), t); };
  const auto h = HardtanhAttrs::of(a);
  return e.add("Clip", {x, bound(h.min_val), bound(h.max_val)}, {}, std::move(out));
}
std::string hardsigmoid_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("HardSigmoid", {x}, {OnnxAttr::of_float("alpha", 1.0 / 6), OnnxAttr::of_float("beta", 0.5)},
               std::move(out));
}
std::string selu_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("Selu", {x}, {OnnxAttr::of_float("alpha", kSeluAlpha), OnnxAttr::of_float("gamma", kSeluScale)},
               std::move(out));
}
// Mish is opset 18: x tanh(softplus(x)).
std::string mish_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("Mul", {x, e.add("Tanh", {e.add("Softplus", {x})})}, {}, std::move(out));
}
// log(sigmoid(x)) = -softplus(-x).
std::string logsigmoid_of(Emitter& e, const Attrs&, const std::string& x, DType, std::string out) {
  return e.add("Neg", {e.add("Softplus", {e.add("Neg", {x})})}, {}, std::move(out));
}
// ONNX has no Trunc: ceil below zero, floor above; the identity on integers.
std::string trunc_of(Emitter& e, const Attrs&, const std::string& x, DType t, std::string out) {
  if (!is_floating(t)) return e.add("Identity", {x}, {}, std::move(out));
  const std::string negative = e.add("Less", {x, e.const_scalar(0, t)});
  return e.add("Where", {negative, e.add("Ceil", {x}), e.add("Floor", {x})}, {}, std::move(out));
}

std::array<UnaryRule, kNumOps> make_unary_rules() {
  std::array<UnaryRule, kNumOps> r{};
  const std::pair<OpId, const char*> direct[] = {
      {OpId::neg, "Neg"},         {OpId::abs, "Abs"},     {OpId::exp, "Exp"},   {OpId::log, "Log"},
      {OpId::sqrt, "Sqrt"},       {OpId::sin, "Sin"},     {OpId::cos, "Cos"},   {OpId::tanh, "Tanh"},
      {OpId::sigmoid, "Sigmoid"}, {OpId::relu, "Relu"},   {OpId::erf, "Erf"},   {OpId::floor, "Floor"},
      {OpId::ceil, "Ceil"},       {OpId::round, "Round"}, {OpId::sign, "Sign"}, {OpId::reciprocal, "Reciprocal"},
      {OpId::logical_not, "Not"}, {OpId::hardswish, "HardSwish"},
  };
  for (const auto& [op, name] : direct) r[size_t(op)].onnx = name;
  const std::pair<OpId, UnaryFn> expanded[] = {
      {OpId::log1p, log1p_of},       {OpId::rsqrt, rsqrt_of},           {OpId::silu, silu_of},
      {OpId::gelu, gelu_of},         {OpId::leaky_relu, leaky_relu_of}, {OpId::elu, elu_of},
      {OpId::softplus, softplus_of}, {OpId::clamp, clamp_of},
      // issue 12's activations and trunc
      {OpId::hardtanh, hardtanh_of}, {OpId::hardsigmoid, hardsigmoid_of}, {OpId::selu, selu_of},
      {OpId::mish, mish_of},         {OpId::logsigmoid, logsigmoid_of},   {OpId::trunc, trunc_of},
  };
  for (const auto& [op, fn] : expanded) r[size_t(op)].fn = fn;
  return r;
}

const std::array<UnaryRule, kNumOps>& unary_rules() {
  static const std::array<UnaryRule, kNumOps> r = make_unary_rules();
  return r;
}

// ---- Binary ops.
struct BinaryRule {
  const char* onnx = nullptr;
  bool negate = false;   // ne = Not(Equal)
  bool compare = false;  // computes in the operands' promoted dtype, not the (bool) output's
  bool logical = false;  // computes on bools
};

std::array<BinaryRule, kNumOps> make_binary_rules() {
  std::array<BinaryRule, kNumOps> r{};
  const std::pair<OpId, BinaryRule> rules[] = {
      {OpId::add, {"Add"}},
      {OpId::sub, {"Sub"}},
      {OpId::mul, {"Mul"}},
      {OpId::div, {"Div"}},
      {OpId::pow, {"Pow"}},
      {OpId::maximum, {"Max"}},
      {OpId::minimum, {"Min"}},
      {OpId::eq, {"Equal", false, true}},
      {OpId::ne, {"Equal", true, true}},
      {OpId::lt, {"Less", false, true}},
      {OpId::le, {"LessOrEqual", false, true}},
      {OpId::gt, {"Greater", false, true}},
      {OpId::ge, {"GreaterOrEqual", false, true}},
      {OpId::logical_and, {"And", false, false, true}},
      {OpId::logical_or, {"Or", false, false, true}},
      {OpId::logical_xor, {"Xor", false, false, true}},
  };
  for (const auto& [op, rule] : rules) r[size_t(op)] = rule;
  return r;
}

const std::array<BinaryRule, kNumOps>& binary_rules() {
  static const std::array<BinaryRule, kNumOps> r = make_binary_rules();
  return r;
}

// A 0-d operand (a captured number) follows the other operand's dtype, as doppel's promotion.
DType compare_dtype(const Emitter& e) {
  const DType a = e.in_dtype(0), b = e.in_dtype(1);
  if (a == b) return a;
  const bool a0 = e.in_rank(0) == 0, b0 = e.in_rank(1) == 0;
  if (a0 != b0 && is_floating(a) == is_floating(b)) return a0 ? b : a;
  return promote_types(a, b);
}

void map_unary(Emitter& e) {
  const DType t = e.out_dtype();
  emit_unary(e, e.node().op, e.node().attrs, e.cast(e.in(0), e.in_dtype(0), t), t, e.out());
}

void map_binary(Emitter& e) {
  const BinaryRule& rule = binary_rules()[size_t(e.node().op)];
  const DType t = rule.logical ? DType::Bool : rule.compare ? compare_dtype(e) : e.out_dtype();
  emit_binary(e, e.node().op, e.cast(e.in(0), e.in_dtype(0), t), e.cast(e.in(1), e.in_dtype(1), t), t, e.out());
}

// fmod: ONNX Mod with fmod=1 (C's fmod, the dividend's sign), for floats and integers.
std::string fmod_of(Emitter& e, const std::string& a, const std::string& b, std::string out = {}) {
  return e.add("Mod", {a, b}, {OnnxAttr::of_int("fmod", 1)}, std::move(out));
}
void map_fmod(Emitter& e) {
  const DType t = e.out_dtype();
  fmod_of(e, e.cast(e.in(0), e.in_dtype(0), t), e.cast(e.in(1), e.in_dtype(1), t), e.out());
}

// Where floored division differs from truncated division: fmod r is non-zero and its sign
// differs from the divisor's.
std::string floor_adjust(Emitter& e, const std::string& r, const std::string& b, DType t) {
  const std::string zero = e.const_scalar(0, t);
  const std::string signs_differ = e.add("Xor", {e.add("Less", {r, zero}), e.add("Less", {b, zero})});
  return e.add("And", {e.add("Not", {e.add("Equal", {r, zero})}), signs_differ});
}

// remainder: fmod, plus the divisor where floored and truncated division differ.
void map_remainder(Emitter& e) {
  const DType t = e.out_dtype();
  const std::string a = e.cast(e.in(0), e.in_dtype(0), t), b = e.cast(e.in(1), e.in_dtype(1), t);
  const std::string r = fmod_of(e, a, b);
  e.add("Where", {floor_adjust(e, r, b, t), e.add("Add", {r, b}), r}, {}, e.out());
}

// floor_divide, as the kernels compute it: (a - fmod(a, b)) / b, less one where floored and
// truncated division differ; floats round that near-integer quotient and give a / b for b == 0.
void map_floor_divide(Emitter& e) {
  const DType t = e.out_dtype();
  const std::string a = e.cast(e.in(0), e.in_dtype(0), t), b = e.cast(e.in(1), e.in_dtype(1), t);
  const std::string r = fmod_of(e, a, b);
  const std::string q =
      e.add("Sub", {e.add("Div", {e.add("Sub", {a, r}), b}), e.cast(floor_adjust(e, r, b, t), DType::Bool, t)});
  if (!is_floating(t)) {
    e.add("Identity", {q}, {}, e.out());
    return;
  }
  const std::string by_zero = e.add("Equal", {b, e.const_scalar(0, t)});
  e.add("Where", {by_zero, e.add("Div", {a, b}), e.add("Round", {q})}, {}, e.out());
}

// Bitwise ops exist in ONNX from opset 18 only; the exporter targets opset 17, where bool
// operands (the logical ops) are all it can map.
void map_bitwise(Emitter& e) {
  if (e.out_dtype() != DType::Bool)
    e.fail(fmt::format("on {} tensors it needs ONNX opset 18 (Bitwise*); the exporter targets opset 17, which "
                       "maps it on bool tensors only", dtype_name(e.out_dtype())));
  const OpId op = e.node().op;
  const char* onnx = op == OpId::bitwise_not   ? "Not"
                     : op == OpId::bitwise_and ? "And"
                     : op == OpId::bitwise_or  ? "Or"
                                               : "Xor";
  std::vector<std::string> in;
  for (size_t k = 0; k < e.node().inputs.size(); ++k) in.push_back(e.cast(e.in(k), e.in_dtype(k), DType::Bool));
  e.add(onnx, std::move(in), {}, e.out());
}

void map_where(Emitter& e) {
  const DType t = e.out_dtype();
  e.add("Where",
        {e.cast(e.in(0), e.in_dtype(0), DType::Bool), e.cast(e.in(1), e.in_dtype(1), t),
         e.cast(e.in(2), e.in_dtype(2), t)},
        {}, e.out());
}

}  // namespace

std::string emit_unary(Emitter& e, OpId op, const Attrs& attrs, const std::string& x, DType dtype, std::string output) {
  const UnaryRule& rule = unary_rules()[size_t(op)];
  if (rule.onnx) return e.add(rule.onnx, {x}, {}, std::move(output));
  DOPPEL_INTERNAL_ASSERT(rule.fn != nullptr);
  return rule.fn(e, attrs, x, dtype, std::move(output));
}

std::string emit_binary(Emitter& e, OpId op, const std::string& a, const std::string& b, DType, std::string output) {
  const BinaryRule& rule = binary_rules()[size_t(op)];
  DOPPEL_INTERNAL_ASSERT(rule.onnx != nullptr);
  if (!rule.negate) return e.add(rule.onnx, {a, b}, {}, std::move(output));
  return e.add("Not", {e.add(rule.onnx, {a, b})}, {}, std::move(output));
}

std::string emit_activation(Emitter& e, FusedActivation act, double alpha, double beta, const std::string& x,
                            DType dtype, std::string output) {
  const auto unfused = unfused_activation(act, alpha, beta);
  if (!unfused) return output.empty() ? x : e.add("Identity", {x}, {}, std::move(output));
  return emit_unary(e, unfused->op, unfused->attrs, x, dtype, std::move(output));
}

void register_elementwise_mappings(MappingTable& t) {
  for (int k = 0; k < kNumOps; ++k) {
    if (unary_rules()[size_t(k)].onnx || unary_rules()[size_t(k)].fn) t[size_t(k)] = {map_unary};
    if (binary_rules()[size_t(k)].onnx) t[size_t(k)] = {map_binary};
  }
  t[size_t(OpId::where)] = {map_where};
  t[size_t(OpId::fmod)] = {map_fmod};
  t[size_t(OpId::remainder)] = {map_remainder};
  t[size_t(OpId::floor_divide)] = {map_floor_divide};
  for (OpId op : {OpId::bitwise_not, OpId::bitwise_and, OpId::bitwise_or, OpId::bitwise_xor})
    t[size_t(op)] = {map_bitwise};
}

}  // namespace doppel::onnx::detail
