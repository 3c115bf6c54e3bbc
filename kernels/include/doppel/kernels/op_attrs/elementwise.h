#pragma once
// Attribute positions of the elementwise ops (the other elementwise ops take no attributes).
#include <cstddef>

namespace doppel::elementwise_attrs {
enum : size_t { kGeluTanh };                            // gelu: Bool, true = approximate="tanh"
enum : size_t { kLeakyReluSlope };                      // leaky_relu: Float negative_slope
enum : size_t { kEluAlpha };                            // elu: Float alpha
enum : size_t { kSoftplusBeta, kSoftplusThreshold };    // softplus: Float beta, Float threshold
enum : size_t { kClampMin, kClampMax };                 // clamp: optional Floats, at least one given
}  // namespace doppel::elementwise_attrs
