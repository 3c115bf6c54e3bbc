#pragma once
// Data transforms: functions from one example's tensor to a new tensor, drawing any randomness
// from the Generator they are given (the DataLoader passes a per-batch generator derived from
// its seed, epoch and batch index, so augmentation is reproducible and thread-independent).
// They work on raw memory, not through the op table, so they are cheap, never recorded by
// autograd or a trace, and safe on the loader's background thread.
#include <functional>
#include <vector>

#include "doppel/core/tensor.h"
#include "doppel/generator.h"

namespace doppel::data {

using Transform = std::function<Tensor(const Tensor&, Generator&)>;

// (x - mean[c]) / std[c] for channel c = dim 0 of x ([C, ...]); one value applies to every
// channel. Floating dtypes only (DTypeError); std entries must be > 0.
class Normalize {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  std::vector<double> mean_, std_;
};

// Zero-pads the last two dims of x ([..., H, W]) by `padding` on every side, then cuts a
// uniformly random [height, width] window (the same window for all leading dims). Any dtype.
class RandomCrop {
 public:
  explicit RandomCrop(int64_t size, int64_t padding = 0) : RandomCrop(size, size, padding) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  int64_t height_, width_, padding_;
};

// Reverses the last dim of x with probability p. Any dtype.
class RandomHorizontalFlip {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  double p_;
};

// Applies the transforms in order.
class Compose {
 public:
  Compose(std::vector<Transform> transforms) : transforms_(std::move(transforms)) {}  // NOLINT
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  std::vector<Transform> transforms_;
};

// Uniform double in [0, 1) and uniform integer in [0, n) drawn from `gen` (one Philox block).
double uniform_double(Generator& gen);
int64_t uniform_int(Generator& gen, int64_t n);

}  // namespace doppel::data
