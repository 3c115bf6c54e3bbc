#include "in_place.h"

#include <numeric>

#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/pooling.h"
#include "doppel/kernels/op_def.h"

namespace doppel::graph {

std::vector<size_t> overwritable_inputs(const Node& n, const Attrs& attrs, const std::vector<Shape>& in_shapes) {
  if (op_def(n.op).has(kElementwise)) {
    std::vector<size_t> all(n.inputs.size());
    std::iota(all.begin(), all.end(), size_t(0));
    return all;
  }
  if (n.op == OpId::blocked_max_pool2d_backward) {
    const auto a = BlockedMaxPool2dBackwardAttrs::of(attrs);
    const Shape& x = in_shapes[1];  // [N, Cb, H, W, b]
    const Pool2dGeometry g = resolve_pool2d(x[2], x[3], a.kernel_size, a.stride, a.padding, a.dilation, a.ceil_mode);
    if (disjoint_2x2(g, x[2], x[3])) return {1};
  }
  // A blocked convolution's residual (input 3): the sum post-op accumulates the convolution onto
  // the output's memory, which otherwise first receives a copy of the residual. Not when the
  // residual is the convolution's own input (conv(h) + h), read while the output is written.
  if (n.op == OpId::blocked_conv2d && n.inputs.size() > 3 && n.inputs[3] != kNoValue && n.inputs[3] != n.inputs[0])
    return {3};
  return {};
}

}  // namespace doppel::graph
