#pragma once
// What the CUDA kernel tests share: copies to cuda:0 that keep a tensor's geometry (the whole
// storage goes, then the same view, so strided inputs stay strided on the device), copies back,
// and running one op on the CPU reference kernels and on cuda:0 to compare every output.
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "support/test_util.h"

namespace doppel::testing {

// `t` on cuda:0 with the same shape, strides and storage offset.
Tensor cuda_copy(const Tensor& t);
// A contiguous cuda tensor back on the CPU, after the device's work on it has finished.
Tensor host_copy(const Tensor& t);

// A spec's tolerance widened for the CUDA kernels: the reference accumulates in double, the
// CUDA kernels accumulate float32 in float.
Tolerance gpu_tolerance(DType dtype, Tolerance spec);

// Whether a call of `op` with `inputs` passes class weights to cross_entropy / nll_loss (input
// 2) or their backward ops (input 3): a CPU-only feature the CUDA kernels refuse with a
// DeviceError, so the CUDA tests check that refusal instead of comparing.
bool has_class_weights(OpId op, const std::vector<Tensor>& inputs);

// Runs `op` with the reference kernels on the CPU and on cuda:0 — the inputs as given, then
// with every input strided — requires that the CUDA backend ran and compares every output.
void check_against_reference(OpId op, const std::vector<Tensor>& inputs, const Attrs& attrs, Tolerance tol);

}  // namespace doppel::testing
