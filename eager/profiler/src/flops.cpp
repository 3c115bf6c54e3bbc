#include "flops.h"

#include "doppel/kernels/op_attrs/layout.h"
#include "doppel/kernels/op_attrs/linalg.h"

namespace doppel::profiler::detail {

namespace {

// convolution_backward(grad_out, input, weight): the forward's FLOPs for each of grad_input and
// grad_weight it computes (each is one convolution of the same size); grad_bias is a sum.
int64_t convolution_backward_flops(const OpCall& call) {
  const Tensor &go = call.in(0), &x = call.in(1), &w = call.in(2);
  if (!go.defined() || !x.defined() || !w.defined() || w.dim() == 0 || w.size(0) == 0) return 0;
  const auto a = ConvolutionBackwardAttrs::of(call.attrs);
  const int64_t taps = w.numel() / w.size(0);
  const int64_t forward = 2 * (a.transposed ? x.numel() : go.numel()) * taps;
  return forward * (a.output_mask[0] + a.output_mask[1]);
}

// blocked_conv2d_backward(grad_out [N, ceil(C_out/b), Ho, Wo, b], input, weight): likewise, over
// the plain output's N * C_out * Ho * Wo elements (padded channels cost nothing).
int64_t blocked_conv2d_backward_flops(const OpCall& call) {
  const Tensor &go = call.in(0), &w = call.in(2);
  if (!go.defined() || !w.defined() || go.dim() != 5 || w.dim() != 4 || w.size(0) == 0) return 0;
  const Shape mask = BlockedConv2dBackwardAttrs::of(call.attrs).output_mask;
  const int64_t forward = 2 * go.size(0) * w.size(0) * go.size(2) * go.size(3) * (w.numel() / w.size(0));
  return forward * (mask[0] + mask[1]);
}

}  // namespace

int64_t op_flops(const OpCall& call, std::span<const Tensor> outputs) {
  if (call.op == OpId::convolution_backward) return convolution_backward_flops(call);
  if (call.op == OpId::blocked_conv2d_backward) return blocked_conv2d_backward_flops(call);
  if (outputs.empty() || !outputs[0].defined() || call.inputs.size() < 2) return 0;
  const Tensor &a = call.in(0), &w = call.in(1);
  if (!a.defined() || !w.defined() || a.dim() == 0 || w.dim() == 0) return 0;
  const int64_t out = outputs[0].numel();
  switch (call.op) {
    case OpId::matmul:  // each output element: a dot product over a's last dim
      return 2 * out * a.size(-1);
    case OpId::linear:
    case OpId::fused_linear:  // x [..., in] @ w[out, in]^T
      return 2 * out * w.size(-1);
    case OpId::convolution:
      if (ConvolutionAttrs::of(call.attrs).transposed)  // each input element scatters into w[c_in]'s taps
        return 2 * a.numel() * (w.numel() / w.size(0));
      [[fallthrough]];
    case OpId::fused_conv2d:  // each output element: a dot product over C_in/groups * kernel taps
      return 2 * out * (w.numel() / w.size(0));
    case OpId::blocked_conv2d: {  // output [N, ceil(C_out/b), Ho, Wo, b]: padded channels cost nothing
      const Tensor& o = outputs[0];
      return 2 * o.size(0) * w.size(0) * o.size(2) * o.size(3) * (w.numel() / w.size(0));
    }
    default:
      return 0;
  }
}

}  // namespace doppel::profiler::detail
