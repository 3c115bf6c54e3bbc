#pragma once
// Dynamic quantization of linear layers (torch.ao.quantization.quantize_dynamic): weights int8
// per output channel (symmetric, the QConfig's weight observer), computed once; the activation
// quantized to uint8 from its own range at every call by the dynamic_quantized_linear op; float32
// in and out. For transformer-style models, whose activations have no stable range to calibrate.
//
// On a graph (traced, compiled or loaded; the exported file of the result runs in the runtime):
// every linear / fused_linear with a frozen float32 weight becomes dynamic_quantized_linear (a
// fused activation follows as its own op). Python's doppel.quantization.quantize_dynamic
// replaces the modules of a Python model in place (DynamicQuantizedLinear).
#include <memory>

#include "doppel/graph/ir.h"
#include "doppel/quantize/qconfig.h"

namespace doppel::quantization {

struct DynamicOptions {
  ObserverSpec weight = QConfig{}.weight;
  // 7-bit activations, as fbgemm on CPUs without VNNI; this CPU's oneDNN kernels do not need it.
  bool reduce_range = false;
};

// A copy of the inference graph `g` with its linears quantized (and without the float weights
// they no longer read).
std::shared_ptr<graph::Graph> quantize_dynamic(const graph::Graph& g, const DynamicOptions& options = {});

// The per-output-channel int8 weight of a [N, K] (or any rank, channels along axis 0) float
// weight: (int8 values, float32 scale [N], int32 zero points [N]).
struct QuantizedWeight {
  Tensor q, scale, zero_point;
};
QuantizedWeight quantize_weight(const Tensor& w, const ObserverSpec& spec = QConfig{}.weight);

}  // namespace doppel::quantization
