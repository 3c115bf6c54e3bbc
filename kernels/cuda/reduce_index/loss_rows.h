#pragma once
// The row-ordered view of a class loss's scores (loss_launch.h): the sample dims row-major, then
// the class dim (dim 1, or 0 for [C] scores), so sample i, class k is linear index i * C + k.
// Pure C++ (no CUDA calls), tested on the CPU.
#include <vector>

#include "doppel/core/shape.h"

namespace doppel::cuda {

struct ClassRows {
  Shape shape;                // the permuted sizes: sample dims, then the class dim
  std::vector<int64_t> perm;  // shape[j] = scores' size of dim perm[j]
  int64_t samples = 1, classes = 1;

  // The strides of a tensor of the scores' shape in the row order.
  Shape permuted(IntList strides) const {
    Shape s;
    for (int64_t d : perm) s.push_back(strides[size_t(d)]);
    return s;
  }
};

inline ClassRows class_rows(IntList scores_shape) {
  const int64_t dims = int64_t(scores_shape.size());
  const int64_t class_dim = dims == 1 ? 0 : 1;
  ClassRows r;
  for (int64_t d = 0; d < dims; ++d)
    if (d != class_dim) r.perm.push_back(d);
  r.perm.push_back(class_dim);
  for (int64_t d : r.perm) r.shape.push_back(scores_shape[size_t(d)]);
  for (size_t j = 0; j + 1 < r.shape.size(); ++j) r.samples *= r.shape[j];
  r.classes = r.shape.back();
  return r;
}

}  // namespace doppel::cuda
