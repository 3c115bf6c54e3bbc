#pragma once
// QConfig: how a static quantization observes activations and weights (torch.ao.quantization's
// QConfig). The default is PyTorch's x86 choice on VNNI hardware: activations uint8 affine per
// tensor from their min/max (after a ReLU a tensor is non-negative, so uint8 spends all 256
// steps on it; oneDNN's int8 convolution and matmul take u8 sources with s8 weights, the
// VNNI/AMX instruction's operand types), weights int8 symmetric per output channel. No reduced
// range: fbgemm halves the activation range only on CPUs without VNNI, where vpmaddubsw can
// saturate; oneDNN's VNNI/AMX kernels accumulate in int32 without it.
#include "doppel/quantize/observer.h"

namespace doppel::quantization {

struct QConfig {
  ObserverSpec activation{.kind = ObserverKind::min_max, .dtype = DType::UInt8, .scheme = QScheme::affine};
  ObserverSpec weight{.kind = ObserverKind::min_max, .dtype = DType::Int8, .scheme = QScheme::symmetric, .ch_axis = 0};
};

}  // namespace doppel::quantization
