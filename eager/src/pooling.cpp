#include "doppel/ops/pooling.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {

Attrs max_pool_attrs(IntList kernel_size, IntList stride, IntList padding, IntList dilation, bool ceil_mode) {
  return MaxPoolAttrs{
      .kernel_size = kernel_size, .stride = stride, .padding = padding, .dilation = dilation, .ceil_mode = ceil_mode}
      .pack();
}

// A 1-d pool's input [N, C, L] or [C, L] as [.., 1, L] for the 2-d op, and its 1-d sizes as
// (1, v) pairs (an absent stride stays empty: the 2-d op then uses the kernel size).
Tensor as_2d(const char* op, const Tensor& x) {
  DOPPEL_CHECK_SHAPE(x.dim() == 2 || x.dim() == 3, "{}: input must be [N, C, L] or [C, L], got {}", op,
                     shape_str(x.shape()));
  return unsqueeze(x, -2);
}
Shape pair_1d(int64_t v) { return {1, v}; }
Shape stride_1d(std::optional<int64_t> stride) { return stride ? pair_1d(*stride) : Shape{}; }

}  // namespace

Tensor max_pool2d(const Tensor& x, IntList kernel_size, IntList stride, IntList padding, IntList dilation,
                  bool ceil_mode, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::max_pool2d, {x}, max_pool_attrs(kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor avg_pool2d(const Tensor& x, IntList kernel_size, IntList stride, IntList padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::avg_pool2d, {x},
                   AvgPoolAttrs{.kernel_size = kernel_size,
                                .stride = stride,
                                .padding = padding,
                                .ceil_mode = ceil_mode,
                                .count_include_pad = count_include_pad,
                                .divisor_override = divisor_override}
                       .pack());
}

Tensor adaptive_avg_pool2d(const Tensor& x, IntList output_size, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::adaptive_avg_pool2d, {x}, AdaptivePoolAttrs{.output_size = output_size}.pack());
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, IntList kernel_size, IntList stride, IntList padding,
                                                  IntList dilation, bool ceil_mode, SourceLoc loc) {
  CallSiteScope s(loc);
  const Attrs attrs = max_pool_attrs(kernel_size, stride, padding, dilation, ceil_mode);
  // Two ops: the values keep max_pool2d's gradient; the indices are integers.
  return {dispatch1(OpId::max_pool2d, {x}, attrs), dispatch1(OpId::max_pool2d_indices, {x}, attrs)};
}

Tensor adaptive_max_pool2d(const Tensor& x, IntList output_size, SourceLoc loc) {
  return adaptive_max_pool2d_with_indices(x, output_size, loc).first;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, IntList output_size, SourceLoc loc) {
  CallSiteScope s(loc);
  const OpOutputs o = dispatch(OpId::adaptive_max_pool2d, {x}, AdaptivePoolAttrs{.output_size = output_size}.pack());
  return {o[0], o[1]};
}

Tensor max_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride, int64_t padding,
                  int64_t dilation, bool ceil_mode, SourceLoc loc) {
  CallSiteScope s(loc);
  return squeeze(max_pool2d(as_2d("max_pool1d", x), pair_1d(kernel_size), stride_1d(stride), {0, padding},
                            pair_1d(dilation), ceil_mode),
                 -2);
}

std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride,
                                                  int64_t padding, int64_t dilation, bool ceil_mode, SourceLoc loc) {
  CallSiteScope s(loc);
  // With a height of 1, the flat index h * L + l is the position l.
  auto [v, i] = max_pool2d_with_indices(as_2d("max_pool1d", x), pair_1d(kernel_size), stride_1d(stride), {0, padding},
                                        pair_1d(dilation), ceil_mode);
  return {squeeze(v, -2), squeeze(i, -2)};
}

Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride, int64_t padding, bool ceil_mode,
                  bool count_include_pad, SourceLoc loc) {
  CallSiteScope s(loc);
  return squeeze(avg_pool2d(as_2d("avg_pool1d", x), pair_1d(kernel_size), stride_1d(stride), {0, padding}, ceil_mode,
                            count_include_pad),
                 -2);
}

}  // namespace doppel
