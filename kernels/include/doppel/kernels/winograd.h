#pragma once
// Whether compiled graphs may run their 3×3 stride-1 float32 convolutions as Winograd F(m×m, 3×3)
// (kernels/cpu/onednn/winograd_conv.h): 1.2-2.4× faster than oneDNN's direct kernels on AVX2 CPUs,
// where they apply (at least 32 input and 64 output channels, or 64 and 32: channels-last in
// inference graphs, nChw8c in training graphs, whose input gradients take it too), at the cost of
// a rounding up to ~1e-5 of the output's magnitude (m = 4) instead of ~1e-7. On by default;
// DOPPEL_WINOGRAD=0 in the environment turns it off at start, set_winograd_convolutions at any
// time (the next call of each convolution obeys). Eager convolutions never use it.
namespace doppel {

void set_winograd_convolutions(bool enabled);
bool winograd_convolutions();

}  // namespace doppel
