#pragma once
// cuDNN convolution plans. Every convolution pass is described as one forward convolution
// cx (*) w = cy in cuDNN's terms (NCHW, packed): the forward pass computes cy, backward-data
// computes cx from cy, backward-filter computes w. A transposed convolution is the backward-data
// pass of the forward convolution whose input is its output. 1-d convolutions run as 2-d with a
// unit height. The algorithm (cudnnGet*Algorithm_v7, the fastest the heuristics rank first) and
// its workspace size are chosen once per (pass, shapes, dtype, attributes, TF32 setting, device).
//
// The legacy cudnnConvolution* API used here is marked deprecated in cuDNN 9 (in favour of the
// graph API) but is complete and supported there.
#include <cudnn.h>

#include "doppel/core/tensor.h"

namespace doppel::cuda {

enum class ConvPass { forward, backward_data, backward_filter };

struct ConvShape {
  DType dtype = DType::Float32;
  Shape cx, w, cy;              // dims of the forward convolution's input, filter and output
  Shape pad, stride, dilation;  // one entry per spatial dim (at least 2)
  int64_t groups = 1;
};

// The shape of a convolution over `nsp` (1-3) spatial dims, lifted to 2 spatial dims when 1.
ConvShape conv_shape(DType dtype, IntList cx, IntList w, IntList cy, IntList pad, IntList stride, IntList dilation,
                     int64_t groups);

// Runs `pass` on `device`'s current stream: reads two of (cx, w, cy), writes the third
// (beta = 0). All three are packed NCHW buffers of ConvShape's dims.
void run_conv(const ConvShape& s, ConvPass pass, void* cx, void* w, void* cy, Device device);

// y = relu(conv(cx, w) + bias + z) in one cuDNN call (cudnnConvolutionBiasActivationForward);
// z may be null (no residual). Float32 only, where it maps exactly (NaN propagates like relu).
void run_conv_bias_relu(const ConvShape& s, const void* cx, const void* w, const void* bias, const void* z, void* cy,
                        Device device);

}  // namespace doppel::cuda
