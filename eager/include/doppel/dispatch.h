#pragma once
// The dispatch path every eager op takes: check → infer → allocate → run the kernel.
// (Later layers hook in here: the tracer records a node, autograd records a backward node.)
#include <array>
#include <span>

#include "doppel/kernels/op_def.h"

namespace doppel {

// Up to kMaxOutputs results without a heap allocation.
struct OpOutputs {
  std::array<Tensor, kMaxOutputs> t;
  int n = 0;
  Tensor& operator[](int k) { return t[size_t(k)]; }
  const Tensor& operator[](int k) const { return t[size_t(k)]; }
  std::span<const Tensor> span() const { return {t.data(), size_t(n)}; }
};

inline const Attrs kNoAttrs{};

// Runs `op` on `inputs`, allocating its outputs.
OpOutputs dispatch(OpId op, TensorList inputs, const Attrs& attrs = kNoAttrs);
// The same for single-output ops.
Tensor dispatch1(OpId op, TensorList inputs, const Attrs& attrs = kNoAttrs);
// Runs `op` writing into existing outputs (in-place and out= forms). Each output must match the
// inferred shape, dtype and device.
void dispatch_out(OpId op, TensorList inputs, const Attrs& attrs, TensorList outputs);

}  // namespace doppel
