#pragma once
// selu's fixed constants (PyTorch's), shared by the kernels' math (CUDA's too: this header has
// no host-only dependencies) and the gradient rule.

namespace doppel::elementwise_attrs {
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace doppel::elementwise_attrs
