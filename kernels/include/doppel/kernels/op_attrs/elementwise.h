#pragma once
// Attribute positions of the elementwise ops (the other elementwise ops take no attributes).
#include <cstddef>

namespace doppel::elementwise_attrs {
enum : size_t { kGeluTanh };                            // gelu: Bool, true = approximate="tanh"
enum : size_t { kLeakyReluSlope };                      // leaky_relu: Float negative_slope
enum : size_t { kEluAlpha };                            // elu: Float alpha
enum : size_t { kSoftplusBeta, kSoftplusThreshold };    // softplus: Float beta, Float threshold
enum : size_t { kClampMin, kClampMax };                 // clamp: optional Floats, at least one given
enum : size_t { kHardtanhMin, kHardtanhMax };           // hardtanh: Float min_val, Float max_val

// selu's fixed constants (PyTorch's), shared by the kernels' math and the gradient rule.
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace doppel::elementwise_attrs
