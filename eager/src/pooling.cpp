#include "doppel/ops/pooling.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/pooling.h"

namespace doppel {

Tensor max_pool2d(const Tensor& x, IntList kernel_size, IntList stride, IntList padding, IntList dilation,
                  bool ceil_mode, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::max_pool2d, {x},
                   {Attr::of_ints(kernel_size), Attr::of_ints(stride), Attr::of_ints(padding), Attr::of_ints(dilation),
                    Attr::of_bool(ceil_mode)});
}

Tensor avg_pool2d(const Tensor& x, IntList kernel_size, IntList stride, IntList padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(
      OpId::avg_pool2d, {x},
      {Attr::of_ints(kernel_size), Attr::of_ints(stride), Attr::of_ints(padding), Attr::of_bool(ceil_mode),
       Attr::of_bool(count_include_pad), divisor_override ? Attr::of_int(*divisor_override) : Attr::none()});
}

Tensor adaptive_avg_pool2d(const Tensor& x, IntList output_size, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::adaptive_avg_pool2d, {x}, {Attr::of_ints(output_size)});
}

}  // namespace doppel
