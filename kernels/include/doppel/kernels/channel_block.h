#pragma once
// The channel block of the blocked activation layout (nChw<b>c, the op_attrs/layout.h tensors)
// that oneDNN runs optimized convolutions on with this CPU: 16 with AVX-512, 8 with AVX2; 0 when
// it has none (then nothing should be blocked). graph/src/passes/layout_propagation.cpp blocks
// activations with it: a block the CPU's kernels lack runs oneDNN's reference convolution and
// pooling (or the reference kernel), 25x slower than eager for the small CNN.
#include <cstdint>

namespace doppel {

int64_t onednn_channel_block();  // probed once (kernels/cpu/onednn/layout.cpp)

}  // namespace doppel
