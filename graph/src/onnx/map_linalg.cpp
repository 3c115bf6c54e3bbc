// matmul, linear, convolution, and the fused forms the linear_conv_fusion pass makes of them
// (fused_linear: linear + activation; fused_conv2d: conv + residual add + activation).
#include "doppel/kernels/op_attrs/linalg.h"
#include "op_mapping.h"

namespace doppel::onnx::detail {

namespace {

// x [.., in] w [out, in] b [out]?: Gemm for 2-d x (transB, bias fused), MatMul + Add otherwise.
std::string emit_linear(Emitter& e, std::string out) {
  if (e.in_rank(0) == 2) return e.add("Gemm", {e.in(0), e.in(1), e.in(2)}, {OnnxAttr::of_int("transB", 1)}, out);
  const std::string wt = e.add("Transpose", {e.in(1)}, {OnnxAttr::of_ints("perm", {1, 0})});
  if (!e.has_in(2)) return e.add("MatMul", {e.in(0), wt}, {}, out);
  return e.add("Add", {e.add("MatMul", {e.in(0), wt}), e.in(2)}, {}, out);
}

void map_linear(Emitter& e) { emit_linear(e, e.out()); }

void map_fused_linear(Emitter& e) {
  const auto a = e.attrs<FusedLinearAttrs>();
  const auto act = FusedActivation(a.activation);
  const std::string y = emit_linear(e, act == FusedActivation::none ? e.out() : std::string());
  if (act != FusedActivation::none) emit_activation(e, act, a.alpha, a.beta, y, e.out_dtype(), e.out());
}

// torch.matmul's rules (1-d operands, batch broadcasting) are numpy's, and so ONNX MatMul's.
void map_matmul(Emitter& e) { e.add("MatMul", {e.in(0), e.in(1)}, {}, e.out()); }

std::vector<int64_t> ints(IntList v) { return std::vector<int64_t>(v.begin(), v.end()); }

std::vector<int64_t> twice(IntList v) {
  std::vector<int64_t> r = ints(v);
  r.insert(r.end(), v.begin(), v.end());  // ONNX pads: all begins, then all ends
  return r;
}

// Conv / ConvTranspose attributes of convolution's or fused_conv2d's attributes.
template <class A>
std::vector<OnnxAttr> conv_attrs(const A& a) {
  return {OnnxAttr::of_ints("strides", ints(a.stride)), OnnxAttr::of_ints("pads", twice(a.padding)),
          OnnxAttr::of_ints("dilations", ints(a.dilation)), OnnxAttr::of_int("group", a.groups)};
}

void map_convolution(Emitter& e) {
  const auto a = e.attrs<ConvolutionAttrs>();
  std::vector<OnnxAttr> attrs = conv_attrs(a);
  if (!a.transposed) {
    e.add("Conv", {e.in(0), e.in(1), e.in(2)}, attrs, e.out());
    return;
  }
  attrs.push_back(OnnxAttr::of_ints("output_padding", ints(a.output_padding)));
  e.add("ConvTranspose", {e.in(0), e.in(1), e.in(2)}, attrs, e.out());
}

// fused_conv2d(x, w, b?, residual?): act(conv2d(x, w, b) + residual).
void map_fused_conv2d(Emitter& e) {
  const auto a = e.attrs<FusedConv2dAttrs>();
  const auto act = FusedActivation(a.activation);
  const bool residual = e.has_in(3);
  const std::vector<OnnxAttr> attrs = conv_attrs(a);
  std::string y = e.add("Conv", {e.in(0), e.in(1), e.in(2)}, attrs,
                        !residual && act == FusedActivation::none ? e.out() : std::string());
  if (residual) y = e.add("Add", {y, e.in(3)}, {}, act == FusedActivation::none ? e.out() : std::string());
  if (act != FusedActivation::none) emit_activation(e, act, a.alpha, a.beta, y, e.out_dtype(), e.out());
}

}  // namespace

void register_linalg_mappings(MappingTable& t) {
  t[size_t(OpId::linear)] = {map_linear};
  t[size_t(OpId::fused_linear)] = {map_fused_linear};
  t[size_t(OpId::matmul)] = {map_matmul};
  t[size_t(OpId::convolution)] = {map_convolution};
  t[size_t(OpId::fused_conv2d)] = {map_fused_conv2d};
}

}  // namespace doppel::onnx::detail
