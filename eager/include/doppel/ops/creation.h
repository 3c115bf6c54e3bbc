#pragma once
// Tensor creation: constants, ranges, identity, random tensors, and tensors from C++ data.
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/generator.h"

namespace doppel {

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = kCPU;
};

Tensor empty(IntList shape, TensorOptions opts = {}, DOPPEL_LOC);
Tensor zeros(IntList shape, TensorOptions opts = {}, DOPPEL_LOC);
Tensor ones(IntList shape, TensorOptions opts = {}, DOPPEL_LOC);
Tensor full(IntList shape, Scalar value, TensorOptions opts = {}, DOPPEL_LOC);
Tensor zeros_like(const Tensor& t, DOPPEL_LOC);
Tensor ones_like(const Tensor& t, DOPPEL_LOC);
Tensor empty_like(const Tensor& t, DOPPEL_LOC);
Tensor full_like(const Tensor& t, Scalar value, DOPPEL_LOC);

// [start, end) in steps; an integer dtype is the default when all bounds are integers (as in
// PyTorch), else float32.
Tensor arange(Scalar end, DOPPEL_LOC);
Tensor arange(Scalar start, Scalar end, Scalar step = 1, std::optional<TensorOptions> opts = {}, DOPPEL_LOC);
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {}, DOPPEL_LOC);
Tensor eye(int64_t n, std::optional<int64_t> m = {}, TensorOptions opts = {}, DOPPEL_LOC);

// Uniform in [0, 1), standard normal, uniform integers in [low, high).
Tensor rand(IntList shape, TensorOptions opts = {}, Generator* gen = nullptr, DOPPEL_LOC);
Tensor randn(IntList shape, TensorOptions opts = {}, Generator* gen = nullptr, DOPPEL_LOC);
Tensor uniform(IntList shape, double low, double high, TensorOptions opts = {}, Generator* gen = nullptr, DOPPEL_LOC);
Tensor normal(IntList shape, double mean, double std, TensorOptions opts = {}, Generator* gen = nullptr, DOPPEL_LOC);
Tensor randint(int64_t low, int64_t high, IntList shape, TensorOptions opts = {.dtype = DType::Int64},
               Generator* gen = nullptr, DOPPEL_LOC);

// A copy of `values` with the given shape (default: 1-d).
template <typename T>
Tensor tensor(const std::vector<T>& values, IntList shape = {}, DOPPEL_LOC);
// Wraps external memory without copying (contiguous when strides are empty). `deleter` runs
// when the last tensor using it is gone; the caller keeps the memory alive until then.
Tensor from_buffer(void* data, IntList shape, DType dtype, IntList strides = {},
                   std::function<void(void*)> deleter = {}, DOPPEL_LOC);
// A 0-d tensor.
Tensor scalar(Scalar value, std::optional<DType> dtype = {}, DOPPEL_LOC);

}  // namespace doppel
