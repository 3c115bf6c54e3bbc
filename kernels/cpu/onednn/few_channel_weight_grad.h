#pragma once
// The weight (and bias) gradient of a 2-D convolution with fewer than 8 input channels: a network's
// first layer (1 channel for Fashion-MNIST, 3 for RGB). oneDNN's kernels run it at a tenth of their
// usual rate: they compute all 8 (AVX2) or 16 (AVX-512) channels of a padded input block, and the
// channels-last kernel reads the output gradient in nhwc, which costs a reorder per call from the
// blocked layout of a training graph or eager's plain one. This kernel reads the output gradient in
// the layout it comes in (plain, or blocked with 8-channel lanes; plain rows are transposed per
// image into a channels-last buffer), 32 output channels by 3 kernel columns in registers, one
// fused multiply-add per term (AVX2 + FMA; CPUs without them keep oneDNN's kernel).
//
// The sum runs in one order whatever the layout, the batch split or the thread count: per image,
// each weight's terms in row-major output order (ow fastest), then the images' sums in batch
// order. So eager (plain operands) and compiled steps (blocked ones) give the same bits. Terms that
// would read padding are left out, as in the reference kernel and oneDNN's (a NaN or infinity in
// the output gradient reaches only the weights whose terms hold it).
#include <cstdint>

#include "doppel/core/tensor.h"

namespace doppel::onednn {

// Where an activation's elements are: plain [N, C, H, W] (any strides) or blocked
// [N, ceil(C/b), H, W, b] (contiguous). Element (n, c, y, x) is at
// data[n * s_n + (c / block) * s_block + c % block + y * s_h + x * s_w].
struct ActivationView {
  const float* data = nullptr;
  int64_t batch = 0, channels = 0, h = 0, w = 0;
  int64_t block = 1;  // 1: plain (s_block is then the channel stride)
  int64_t s_n = 0, s_block = 0, s_h = 0, s_w = 0;

  // A float32 tensor's view: 4-D plain, or 5-D blocked holding `channels` real channels.
  static ActivationView of(const Tensor& t, int64_t channels);
};

struct FewChannelConv {
  int64_t cout = 0, kh = 0, kw = 0, stride_h = 1, stride_w = 1, pad_t = 0, pad_l = 0, dilation_h = 1, dilation_w = 1;
};

// Whether few_channel_weight_grad is the kernel for a convolution of one group with `cin` input
// channels (not transposed, 2-D, float32) on this CPU.
bool few_channel_weight_grad_applies(int64_t cin);

// grad_weight [cout, cin, kh, kw] (contiguous; null: not wanted) and grad_bias [cout] (null: not
// wanted) of the convolution of x by the output gradient gy (gy's spatial size is the output's).
void few_channel_weight_grad(const ActivationView& x, const ActivationView& gy, const FewChannelConv& conv,
                             float* grad_weight, float* grad_bias);

}  // namespace doppel::onednn
