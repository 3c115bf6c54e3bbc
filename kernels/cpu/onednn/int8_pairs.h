#pragma once
// The exact int8 product on CPUs whose int8 dot product saturates (doppel/kernels/int8_support.h):
// oneDNN's pair sum a0·w0 + a1·w1 of uint8 a and int8 w must stay within int16. Each weight is
// split into halves lo = floor(w / 2) and hi = w - lo (both in [-64, 64]), the weight's reduction
// dim doubled to [lo | hi], and the activations doubled to [a | a]: x·w = x·lo + x·hi, and every
// pair sum is at most 255·64·2 = 32640. Exact for any reduction length; the primitive keeps its
// scales, zero points and post-ops. The cost: twice the multiply-adds and one copy of the
// activations per call (the split weight is prepacked once per weight version).
//
// Activations are always handed over as uint8: int8 ones shifted by +128 (their zero point with
// them), since oneDNN without VNNI runs int8 activations with its weights scaled by 1/2 (rounded:
// inexact for odd weights), even where it needs no pairs (depthwise convolutions, which multiply
// in int32).
#include "doppel/core/tensor.h"

namespace doppel::onednn {

// The zero point shift of activations of dtype `dt` as uint8 (128 for int8, else 0).
int32_t uint8_zero_point_shift(DType dt);

// t's geometry with dim `d` repeated `copies` times, as a metadata-only contiguous tensor of dtype
// `dt` (a primitive's operand; no memory).
Tensor operand_geometry(const Tensor& t, int64_t d, int64_t copies, DType dt);

// The activations x (int8 or uint8) as uint8, dim `d` (the channels, in `groups` groups; the dims
// after it follow each channel) repeated per group `copies` (1 or 2) times: [x_g | x_g].
Tensor uint8_activations(const Tensor& x, int64_t d, int64_t groups, int64_t copies);

// The int8 weight w ([O, C, ...]) as [O, 2C, ...]: per output row, its lo halves then its hi halves.
Tensor split_weight(const Tensor& w);

// A grouped convolution's weight [O, C / groups, ...] as the dense (groups 1) weight [O, C, ...]
// of the same convolution: block-diagonal, zeros off each output's group.
Tensor dense_weight(const Tensor& w, int64_t groups);

}  // namespace doppel::onednn
