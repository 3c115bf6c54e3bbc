#pragma once
// Attribute positions of the scan ops (cumulative sum and product along one dim).
//   cumsum(input) / cumprod(input): dim, then the optional output dtype (none: the input's
//     dtype for floating inputs, int64 for integer and bool inputs, as PyTorch).
//   cumprod_backward(grad_out, input) -> the gradient w.r.t. input (grad_out and input have one
//     floating dtype); exact with zeros in the input (no division).
#include <cstddef>

namespace doppel::scan_attrs {
enum : size_t { kScanDim, kScanDType };
enum : size_t { kCumprodBwDim };
}  // namespace doppel::scan_attrs
