#pragma once
// Floating-point operations of a kernel call, counted as PyTorch's profiler does (a multiply
// and an add are 2): known for matmul, linear, convolution (forward, backward, fused and
// blocked forms).
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel::profiler::detail {

// 0 when the op's FLOPs are not modelled.
int64_t op_flops(const OpCall& call, std::span<const Tensor> outputs);

}  // namespace doppel::profiler::detail
