// Fused ops produced by graph passes: fused_linear, fused_conv2d (oneDNN runs each as one
// primitive with post-ops) and fused_elementwise (a straight-line program over broadcast inputs,
// one read of each input and one write). Not differentiable: fusion runs on graphs whose
// gradients are already recorded.
#include <bit>
#include <cmath>

#include "doppel/kernels/op_attrs/fused.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "ops/as_part_of.h"
#include "registration.h"

namespace doppel::registration {

void define_layout_ops(OpDef* table);  // layout.cpp

namespace {

void check_floating(const OpCall& c) {
  for (const Tensor& t : c.inputs)
    if (t.defined())
      DOPPEL_CHECK_DTYPE(is_floating(t.dtype()), "{}: dtype {} is not supported (use a floating dtype)", c.name(),
                         dtype_name(t.dtype()));
}

// The activation attribute and its parameters (DOPPEL_FUSED_ACTIVATION_ATTRS), checked like the
// unary op's own attributes.
void check_activation(const OpCall& c, int64_t a, double alpha, double beta) {
  DOPPEL_CHECK(a >= 0 && a < kNumFusedActivations, "{}: activation {} is not a FusedActivation (0 to {})", c.name(), a,
               kNumFusedActivations - 1);
  switch (FusedActivation(a)) {
    case FusedActivation::leaky_relu:
    case FusedActivation::elu:
      DOPPEL_CHECK(std::isfinite(alpha), "{}: alpha must be finite for this activation, got {}", c.name(), alpha);
      break;
    case FusedActivation::softplus:
      DOPPEL_CHECK(std::isfinite(alpha) && alpha != 0, "{}: softplus beta (alpha) must be finite and non-zero, got {}",
                   c.name(), alpha);
      DOPPEL_CHECK(!std::isnan(beta), "{}: softplus threshold (beta) must not be NaN", c.name());
      break;
    default:
      break;
  }
}

void infer_fused_linear(const OpCall& c, std::span<OutputMeta> out) {
  as_part_of(c.name(), [&] {
    const Attrs none;
    const OpCall lin{OpId::linear, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), none};
    op_def(OpId::linear).infer(lin, out);
  });
  check_floating(c);
  const auto a = FusedLinearAttrs::of(c.attrs);
  check_activation(c, a.activation, a.alpha, a.beta);
}

void infer_fused_conv2d(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() == 4, "{}: input must be [N, C, H, W], got {}", c.name(), shape_str(x.shape()));
  const auto a = FusedConv2dAttrs::of(c.attrs);
  as_part_of(c.name(), [&] {
    const Attrs conv_a = convolution_of(a).pack();
    const OpCall conv{OpId::convolution, c.inputs.subspan(0, std::min<size_t>(c.inputs.size(), 3)), conv_a};
    op_def(OpId::convolution).infer(conv, out);
  });
  check_activation(c, a.activation, a.alpha, a.beta);
  if (c.inputs.size() > 3 && c.in(3).defined()) {
    const Tensor& r = c.in(3);
    DOPPEL_CHECK_DTYPE(r.dtype() == x.dtype(), "{}: residual dtype {} differs from input dtype {}", c.name(),
                       dtype_name(r.dtype()), dtype_name(x.dtype()));
    DOPPEL_CHECK_SHAPE(r.shape() == out[0].shape, "{}: residual {} must have the convolution output's shape {}",
                       c.name(), shape_str(r.shape()), shape_str(out[0].shape));
  }
}

void infer_fused_elementwise(const OpCall& c, std::span<OutputMeta> out) {
  const int64_t n = int64_t(c.inputs.size());
  DOPPEL_CHECK(n >= 1 && n <= kFusedMaxRegisters, "{}: needs 1 to {} inputs, got {}", c.name(), kFusedMaxRegisters, n);
  const DType t = c.in(0).dtype();
  Shape shape = c.in(0).shape();
  for (int64_t k = 0; k < n; ++k) {
    const Tensor& x = c.in(size_t(k));
    DOPPEL_CHECK(x.defined(), "{}: input {} is undefined", c.name(), k);
    DOPPEL_CHECK_DTYPE(x.dtype() == t, "{}: all inputs must have one dtype, got {} (input 0) and {} (input {})",
                       c.name(), dtype_name(t), dtype_name(x.dtype()), k);
    if (k > 0 && x.shape() != shape) shape = broadcast_shapes(c.name(), shape, x.shape());
  }
  DOPPEL_CHECK_DTYPE(is_floating(t), "{}: dtype {} is not supported (use a floating dtype)", c.name(), dtype_name(t));
  const Shape prog = FusedElementwiseAttrs::of(c.attrs).program;
  DOPPEL_CHECK(!prog.empty() && prog.size() % kFusedInstrWords == 0,
               "{}: program must be a non-empty list of {}-word instructions, got {} words", c.name(), kFusedInstrWords,
               prog.size());
  static_assert(kFusedMaxRegisters < 64);
  uint64_t written = (uint64_t(1) << n) - 1;  // bit r: register r holds a value
  for (size_t i = 0; i < prog.size(); i += kFusedInstrWords) {
    const size_t instr = i / kFusedInstrWords;
    const int64_t op = prog[i], dst = prog[i + 1], a = prog[i + 2], b = prog[i + 3];
    DOPPEL_CHECK(op >= 0 && op < kNumFusedOpcodes, "{}: instruction {} has unknown opcode {}", c.name(), instr, op);
    auto check_reg = [&](int64_t r, const char* what, bool read) {
      DOPPEL_CHECK(r >= 0 && r < kFusedMaxRegisters, "{}: instruction {} has {} register {} out of range [0, {})",
                   c.name(), instr, what, r, kFusedMaxRegisters);
      if (read)
        DOPPEL_CHECK((written >> r) & 1u, "{}: instruction {} reads register {} before anything was written to it",
                     c.name(), instr, r);
    };
    check_reg(a, "source", true);
    if (fused_opcode_is_binary(FusedOpcode(op))) check_reg(b, "source", true);
    check_reg(dst, "destination", false);
    written |= uint64_t(1) << dst;
  }
  out[0].shape = shape;
  out[0].dtype = t;
}

}  // namespace

void define_fused_ops(OpDef* table) {
  table[int(OpId::fused_linear)] =
      OpDef{.min_inputs = 2, .max_inputs = 3, .attrs = FusedLinearAttrs::kSpec, .infer = infer_fused_linear};
  table[int(OpId::fused_conv2d)] =
      OpDef{.min_inputs = 2, .max_inputs = 4, .attrs = FusedConv2dAttrs::kSpec, .infer = infer_fused_conv2d};
  table[int(OpId::fused_elementwise)] = OpDef{.min_inputs = 1,
                                              .attrs = FusedElementwiseAttrs::kSpec,
                                              .infer = infer_fused_elementwise,
                                              .flags = kElementwise | kVariadic};
  define_layout_ops(table);
}

}  // namespace doppel::registration
