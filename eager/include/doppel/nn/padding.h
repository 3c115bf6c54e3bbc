#pragma once
// Padding layers (PyTorch's ConstantPad1d/2d/3d, ZeroPad2d, ReflectionPad1d/2d/3d,
// ReplicationPad1d/2d/3d, CircularPad1d/2d/3d): pad() (ops/nn.h) of the last 1, 2 or 3 dims
// with a fixed padding and mode.
#include <initializer_list>
#include <utility>
#include <vector>

#include "doppel/nn/module.h"
#include "doppel/ops/nn.h"

namespace doppel::nn {

// One size for every side, or 2 * dims sizes in pad()'s order ({left, right} of the last dim,
// then of the one before, ...).
struct PadSizes {
  std::vector<int64_t> sizes;
  PadSizes(int64_t all) : sizes{all} {}                            // NOLINT: implicit, as PyTorch's int
  PadSizes(std::initializer_list<int64_t> each) : sizes(each) {}   // NOLINT
  PadSizes(std::vector<int64_t> each) : sizes(std::move(each)) {}  // NOLINT
};

class PadNd : public Module {
 public:
  Tensor forward(const Tensor& x) override;

  std::vector<int64_t> padding;  // 2 * dims sizes
  PadMode mode;
  double value;  // Constant only

 protected:
  PadNd(std::string type_name, int64_t dims, const PadSizes& padding, PadMode mode, double value);
  std::string extra_repr() const override;
};

#define DOPPEL_PAD_MODULE(NAME, DIMS, MODE)                                                     \
  class NAME : public PadNd {                                                                   \
   public:                                                                                      \
    explicit NAME(const PadSizes& padding) : PadNd(#NAME, DIMS, padding, PadMode::MODE, 0.0) {} \
  };
DOPPEL_PAD_MODULE(ZeroPad2d, 2, Constant)
DOPPEL_PAD_MODULE(ReflectionPad1d, 1, Reflect)
DOPPEL_PAD_MODULE(ReflectionPad2d, 2, Reflect)
DOPPEL_PAD_MODULE(ReflectionPad3d, 3, Reflect)
DOPPEL_PAD_MODULE(ReplicationPad1d, 1, Replicate)
DOPPEL_PAD_MODULE(ReplicationPad2d, 2, Replicate)
DOPPEL_PAD_MODULE(ReplicationPad3d, 3, Replicate)
DOPPEL_PAD_MODULE(CircularPad1d, 1, Circular)
DOPPEL_PAD_MODULE(CircularPad2d, 2, Circular)
DOPPEL_PAD_MODULE(CircularPad3d, 3, Circular)
#undef DOPPEL_PAD_MODULE

#define DOPPEL_CONSTANT_PAD_MODULE(NAME, DIMS)                                                             \
  class NAME : public PadNd {                                                                              \
   public:                                                                                                 \
    NAME(const PadSizes& padding, double value) : PadNd(#NAME, DIMS, padding, PadMode::Constant, value) {} \
  };
DOPPEL_CONSTANT_PAD_MODULE(ConstantPad1d, 1)
DOPPEL_CONSTANT_PAD_MODULE(ConstantPad2d, 2)
DOPPEL_CONSTANT_PAD_MODULE(ConstantPad3d, 3)
#undef DOPPEL_CONSTANT_PAD_MODULE

}  // namespace doppel::nn
