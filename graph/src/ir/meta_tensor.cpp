#include "doppel/graph/meta_tensor.h"

#include <algorithm>

namespace doppel::graph {

Tensor meta_tensor(IntList shape, DType dtype, Device device) {
  // The storage claims the bytes the shape needs (so views of it validate) but holds none.
  Storage s(new StorageImpl(nullptr, size_t(std::max<int64_t>(numel_of(shape), 0)) * element_size(dtype), device, {}));
  return Tensor(
      IntrusivePtr<TensorImpl>(new TensorImpl(std::move(s), Shape(shape), contiguous_strides(shape), 0, dtype)));
}

}  // namespace doppel::graph
