#pragma once
// Host glue shared by the pointwise kernels' .cpp files: the InArg/OutArg a tensor passes to a
// launcher, the on-device cast of an operand to the computation dtype, and the supports() test
// that every input is on CUDA (or is a wrapped number, read on the host).
#include "cuda/common/cuda_common.h"
#include "cuda/pointwise/pointwise_launch.h"
#include "doppel/kernels/op_def.h"

namespace doppel::cuda::pw {

// An input read over `shape`: a CUDA tensor through its indexer, or a one-element CPU tensor
// (a wrapped number) by value. `t` already has the computation dtype.
InArg in_arg(const Tensor& t, IntList shape, const char* op);
OutArg out_arg(const Tensor& t, const char* op);

// `t` in dtype `d`: itself when it already is, else a converted copy on t's device (the CUDA
// cast kernel, or the CPU copy for a wrapped number).
Tensor to_dtype(const Tensor& t, DType d, const char* op);

// Converting copy of `src` into `dst` (same shape, same CUDA device, any strides).
void copy_into(const Tensor& src, const Tensor& dst, const char* op);

// `t` contiguous: itself when it is, else a contiguous copy on its device.
Tensor contiguous(const Tensor& t, const char* op);

// Every defined input is a CUDA tensor or a CPU wrapped number.
bool inputs_on_cuda(const OpCall& c);

}  // namespace doppel::cuda::pw
