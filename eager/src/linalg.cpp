#include "doppel/ops/linalg.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor matmul(const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::matmul, {a, b});
}

Tensor mm(const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(a.dim() == 2 && b.dim() == 2, "mm: both arguments must be 2-d, got {} and {}",
                     shape_str(a.shape()), shape_str(b.shape()));
  return dispatch1(OpId::matmul, {a, b});
}

Tensor bmm(const Tensor& a, const Tensor& b, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0),
                     "bmm: both arguments must be 3-d with the same batch size, got {} and {}", shape_str(a.shape()),
                     shape_str(b.shape()));
  return dispatch1(OpId::matmul, {a, b});
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, SourceLoc loc) {
  CallSiteScope s(loc);
  if (bias.defined()) return dispatch1(OpId::linear, {x, w, bias});
  return dispatch1(OpId::linear, {x, w});
}

Tensor Tensor::matmul(const Tensor& other, SourceLoc loc) const { return doppel::matmul(*this, other, loc); }

namespace {

Shape expand_list(const char* op, const char* name, IntList v, int64_t n) {
  DOPPEL_CHECK(int64_t(v.size()) == n || v.size() == 1, "{}: {} {} must have 1 or {} entries", op, name, shape_str(v),
               n);
  return v.size() == 1 ? Shape(size_t(n), v[0]) : Shape(v);
}

// Runs the convolution op, accepting an unbatched input (one dim fewer than the weight).
Tensor run_conv(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, IntList stride, IntList padding,
                IntList dilation, bool transposed, IntList output_padding, int64_t groups) {
  const int64_t nsp = std::max<int64_t>(w.dim() - 2, 1);
  const bool unbatched = x.dim() == w.dim() - 1;
  const Tensor in = unbatched ? unsqueeze(x, 0) : x;
  const Attrs attrs = ConvolutionAttrs{.stride = expand_list(op, "stride", stride, nsp),
                                       .padding = expand_list(op, "padding", padding, nsp),
                                       .dilation = expand_list(op, "dilation", dilation, nsp),
                                       .groups = groups,
                                       .transposed = transposed,
                                       .output_padding = expand_list(op, "output_padding", output_padding, nsp)}
                          .pack();
  Tensor y = bias.defined() ? dispatch1(OpId::convolution, {in, w, bias}, attrs)
                            : dispatch1(OpId::convolution, {in, w}, attrs);
  return unbatched ? squeeze(y, 0) : y;
}

void check_weight_dims(const char* op, const Tensor& w, int64_t dims) {
  DOPPEL_CHECK_SHAPE(w.dim() == dims, "{}: weight must be {}-d, got {}", op, dims, shape_str(w.shape()));
}

}  // namespace

Tensor convolution(const Tensor& x, const Tensor& w, const Tensor& bias, IntList stride, IntList padding,
                   IntList dilation, bool transposed, IntList output_padding, int64_t groups, SourceLoc loc) {
  CallSiteScope s(loc);
  return run_conv("convolution", x, w, bias, stride, padding, dilation, transposed, output_padding, groups);
}

Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t padding, int64_t dilation,
              int64_t groups, SourceLoc loc) {
  CallSiteScope s(loc);
  check_weight_dims("conv1d", w, 3);
  return run_conv("conv1d", x, w, bias, {stride}, {padding}, {dilation}, false, {0}, groups);
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, IntList stride, IntList padding, IntList dilation,
              int64_t groups, SourceLoc loc) {
  CallSiteScope s(loc);
  check_weight_dims("conv2d", w, 4);
  return run_conv("conv2d", x, w, bias, stride, padding, dilation, false, {0}, groups);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, IntList stride, IntList padding,
                        IntList output_padding, int64_t groups, IntList dilation, SourceLoc loc) {
  CallSiteScope s(loc);
  check_weight_dims("conv_transpose2d", w, 4);
  return run_conv("conv_transpose2d", x, w, bias, stride, padding, dilation, true, output_padding, groups);
}

}  // namespace doppel
