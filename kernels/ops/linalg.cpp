// matmul (torch.matmul semantics), linear (x @ w^T + b) and convolution (1-3 spatial dims,
// forward and transposed, PyTorch's weight layouts).
#include <algorithm>
#include <cstdlib>

#include "doppel/kernels/op_attrs/linalg.h"
#include "registration.h"

namespace doppel::registration {
namespace {

bool matmul_dtype_ok(DType t) { return is_floating(t) || t == DType::Int32 || t == DType::Int64; }

void check_same_dtype(const OpCall& c, const Tensor& a, const Tensor& b, const char* an, const char* bn) {
  DOPPEL_CHECK_DTYPE(a.dtype() == b.dtype(),
                     "{}: {} and {} must have the same dtype, got {} and {}; cast one with .to()", c.name(), an, bn,
                     dtype_name(a.dtype()), dtype_name(b.dtype()));
  DOPPEL_CHECK_DTYPE(matmul_dtype_ok(a.dtype()),
                     "{}: dtype {} is not supported (use float32, float64, bfloat16, float16, int32 or int64)",
                     c.name(), dtype_name(a.dtype()));
}

// torch.matmul: 1-d operands are promoted (a: prepend 1, b: append 1) and the added dim is
// removed from the result; batch dims broadcast.
void infer_matmul(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &a = c.in(0), &b = c.in(1);
  DOPPEL_CHECK_SHAPE(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dim, got shapes {} and {}",
                     shape_str(a.shape()), shape_str(b.shape()));
  check_same_dtype(c, a, b, "a", "b");
  const int64_t ka = a.shape().back();
  const int64_t kb = b.dim() == 1 ? b.shape()[0] : b.shape()[size_t(b.dim() - 2)];
  DOPPEL_CHECK_SHAPE(ka == kb, "matmul: shapes {} and {} cannot be multiplied ({} != {} in the contracted dim)",
                     shape_str(a.shape()), shape_str(b.shape()), ka, kb);
  const IntList abatch(a.shape().data(), size_t(std::max<int64_t>(a.dim() - 2, 0)));
  const IntList bbatch(b.shape().data(), size_t(std::max<int64_t>(b.dim() - 2, 0)));
  Shape s = broadcast_shapes("matmul", abatch, bbatch);
  if (a.dim() >= 2) s.push_back(a.shape()[size_t(a.dim() - 2)]);
  if (b.dim() >= 2) s.push_back(b.shape().back());
  out[0].shape = s;
  out[0].dtype = a.dtype();
}

void infer_linear(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const bool has_bias = c.inputs.size() > 2 && c.in(2).defined();
  DOPPEL_CHECK_SHAPE(x.dim() >= 1 && w.dim() == 2,
                     "linear: input must have at least 1 dim and weight must be 2-d [out, in], got {} and {}",
                     shape_str(x.shape()), shape_str(w.shape()));
  check_same_dtype(c, x, w, "input", "weight");
  DOPPEL_CHECK_SHAPE(x.shape().back() == w.shape()[1],
                     "linear: input {} has {} features but weight {} expects {} ([out, in])", shape_str(x.shape()),
                     x.shape().back(), shape_str(w.shape()), w.shape()[1]);
  if (has_bias) {
    const Tensor& b = c.in(2);
    check_same_dtype(c, x, b, "input", "bias");
    DOPPEL_CHECK_SHAPE(b.dim() == 1 && b.shape()[0] == w.shape()[0], "linear: bias {} must have shape [{}] (weight {})",
                       shape_str(b.shape()), w.shape()[0], shape_str(w.shape()));
  }
  Shape s = x.shape();
  s.back() = w.shape()[0];
  out[0].shape = s;
  out[0].dtype = x.dtype();
}

void infer_convolution(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &x = c.in(0), &w = c.in(1);
  const bool has_bias = c.inputs.size() > 2 && c.in(2).defined();
  const auto a = ConvolutionAttrs::of(c.attrs);
  const bool transposed = a.transposed;
  const char* what = transposed ? "convolution (transposed)" : "convolution";
  DOPPEL_CHECK_SHAPE(x.dim() >= 3 && x.dim() <= 5,
                     "{}: input must be [N, C, spatial...] with 1 to 3 spatial dims, got {}", what,
                     shape_str(x.shape()));
  DOPPEL_CHECK_SHAPE(w.dim() == x.dim(), "{}: weight {} must have as many dims as input {}", what, shape_str(w.shape()),
                     shape_str(x.shape()));
  DOPPEL_CHECK_DTYPE(x.dtype() == w.dtype(), "{}: input and weight must have the same dtype, got {} and {}", what,
                     dtype_name(x.dtype()), dtype_name(w.dtype()));
  DOPPEL_CHECK_DTYPE(is_floating(x.dtype()), "{}: dtype {} is not supported (use a floating dtype)", what,
                     dtype_name(x.dtype()));
  const size_t nsp = size_t(x.dim() - 2);
  const IntList stride = a.stride, pad = a.padding, dil = a.dilation, opad = a.output_padding;
  auto check_len = [&](IntList v, const char* name) {
    DOPPEL_CHECK(v.size() == nsp, "{}: {} {} must have {} entries (one per spatial dim of input {})", what, name,
                 shape_str(v), nsp, shape_str(x.shape()));
  };
  check_len(stride, "stride");
  check_len(pad, "padding");
  check_len(dil, "dilation");
  if (transposed) check_len(opad, "output_padding");
  const int64_t groups = a.groups;
  DOPPEL_CHECK(groups >= 1, "{}: groups must be positive, got {}", what, groups);
  for (size_t d = 0; d < nsp; ++d) {
    DOPPEL_CHECK(stride[d] >= 1, "{}: stride must be positive, got {}", what, shape_str(stride));
    DOPPEL_CHECK(dil[d] >= 1, "{}: dilation must be positive, got {}", what, shape_str(dil));
    DOPPEL_CHECK(pad[d] >= 0, "{}: padding must be non-negative, got {}", what, shape_str(pad));
    if (transposed)
      DOPPEL_CHECK(opad[d] >= 0 && (opad[d] < stride[d] || opad[d] < dil[d]),
                   "{}: output_padding {} must be non-negative and smaller than stride {} or dilation {}", what,
                   shape_str(opad), shape_str(stride), shape_str(dil));
  }
  const int64_t cin = x.shape()[1];
  int64_t cout;
  if (transposed) {
    DOPPEL_CHECK_SHAPE(w.shape()[0] == cin && cin % groups == 0,
                       "{}: input {} has {} channels but weight {} ([Cin, Cout/groups, k...]) expects {} with "
                       "groups={} (Cin must be divisible by groups)",
                       what, shape_str(x.shape()), cin, shape_str(w.shape()), w.shape()[0], groups);
    cout = w.shape()[1] * groups;
  } else {
    DOPPEL_CHECK_SHAPE(w.shape()[1] * groups == cin,
                       "{}: input {} has {} channels but weight {} ([Cout, Cin/groups, k...]) with groups={} "
                       "expects {}",
                       what, shape_str(x.shape()), cin, shape_str(w.shape()), groups, w.shape()[1] * groups);
    cout = w.shape()[0];
    DOPPEL_CHECK_SHAPE(cout % groups == 0, "{}: weight {} has {} output channels, not divisible by groups={}", what,
                       shape_str(w.shape()), cout, groups);
  }
  if (has_bias) {
    const Tensor& b = c.in(2);
    DOPPEL_CHECK_DTYPE(b.dtype() == x.dtype(), "{}: bias dtype {} differs from input dtype {}", what,
                       dtype_name(b.dtype()), dtype_name(x.dtype()));
    DOPPEL_CHECK_SHAPE(b.dim() == 1 && b.shape()[0] == cout, "{}: bias {} must have shape [{}] (output channels)", what,
                       shape_str(b.shape()), cout);
  }
  Shape s{x.shape()[0], cout};
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t in = x.shape()[2 + d], k = w.shape()[2 + d];
    DOPPEL_CHECK_SHAPE(k >= 1, "{}: kernel size must be positive, got weight {}", what, shape_str(w.shape()));
    // Bounded so that the size arithmetic below cannot overflow (a model file may hold anything).
    constexpr int64_t kMaxConvParam = int64_t(1) << 20;
    DOPPEL_CHECK_SHAPE(std::abs(pad[d]) <= kMaxConvParam && std::abs(dil[d]) <= kMaxConvParam &&
                           std::abs(stride[d]) <= kMaxConvParam && (!transposed || std::abs(opad[d]) <= kMaxConvParam),
                       "{}: padding {}, dilation {} or stride {} is out of range (at most 2^20)", what, shape_str(pad),
                       shape_str(dil), shape_str(stride));
    if (!transposed)
      DOPPEL_CHECK_SHAPE(
          in + 2 * pad[d] >= dil[d] * (k - 1) + 1,
          "{}: kernel {} (dilation {}) is larger than the padded input {} (padding {}) in spatial dim {}", what,
          shape_str(w.shape()), shape_str(dil), shape_str(x.shape()), shape_str(pad), d);
    const int64_t o = conv_output_size(in, k, stride[d], pad[d], dil[d], transposed, transposed ? opad[d] : 0);
    DOPPEL_CHECK_SHAPE(o >= 1, "{}: the output would be empty (size {}) in spatial dim {} for input {} and weight {}",
                       what, o, d, shape_str(x.shape()), shape_str(w.shape()));
    s.push_back(o);
  }
  out[0].shape = s;
  out[0].dtype = x.dtype();
}

// Inputs (grad_out, input, weight): the forward call (input, weight) is re-inferred with the same
// checks, and grad_out must have the shape and dtype of its output.
void infer_convolution_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor &go = c.in(0), &x = c.in(1), &w = c.in(2);
  const Attrs fwd_attrs = ConvolutionAttrs::of_prefix(c.attrs).pack();
  const Tensor fwd_inputs[2] = {x, w};
  OutputMeta fwd[1];
  infer_convolution(OpCall{OpId::convolution, fwd_inputs, fwd_attrs}, fwd);
  DOPPEL_CHECK_SHAPE(go.shape() == fwd[0].shape,
                     "convolution_backward: grad_out {} must have the forward output's shape {} (input {}, weight {})",
                     shape_str(go.shape()), shape_str(fwd[0].shape), shape_str(x.shape()), shape_str(w.shape()));
  DOPPEL_CHECK_DTYPE(go.dtype() == x.dtype(), "convolution_backward: grad_out dtype {} differs from input dtype {}",
                     dtype_name(go.dtype()), dtype_name(x.dtype()));
  const Shape mask = ConvolutionBackwardAttrs::of(c.attrs).output_mask;
  DOPPEL_CHECK(mask.size() == 3 && std::all_of(mask.begin(), mask.end(), [](int64_t m) { return m == 0 || m == 1; }),
               "convolution_backward: output_mask must be 3 flags (0 or 1) for grad_input, grad_weight, grad_bias, "
               "got {}",
               shape_str(mask));
  const Shape shapes[3] = {x.shape(), w.shape(), Shape{fwd[0].shape[1]}};
  for (size_t k = 0; k < 3; ++k) {
    out[k].shape = mask[k] ? shapes[k] : Shape{0};
    out[k].dtype = x.dtype();
  }
}

}  // namespace

void define_linalg_ops(OpDef* table) {
  table[int(OpId::matmul)] =
      OpDef{.min_inputs = 2, .max_inputs = 2, .infer = infer_matmul, .differentiable_inputs = 0b11};
  table[int(OpId::linear)] =
      OpDef{.min_inputs = 2, .max_inputs = 3, .infer = infer_linear, .differentiable_inputs = 0b111};
  table[int(OpId::convolution)] = OpDef{.min_inputs = 2,
                                        .max_inputs = 3,
                                        .attrs = ConvolutionAttrs::kSpec,
                                        .infer = infer_convolution,
                                        .differentiable_inputs = 0b111};
  table[int(OpId::convolution_backward)] = OpDef{.min_inputs = 3,
                                                 .max_inputs = 3,
                                                 .num_outputs = 3,
                                                 .attrs = ConvolutionBackwardAttrs::kSpec,
                                                 .infer = infer_convolution_backward,
                                                 .differentiable_inputs = 0b111};
}

}  // namespace doppel::registration
