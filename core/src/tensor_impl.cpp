#include "doppel/core/tensor_impl.h"

namespace doppel {

TensorImpl::TensorImpl(Storage storage, Shape shape, Strides strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
      offset_(offset), dtype_(dtype) {
  refresh();
}

void TensorImpl::set_geometry(Shape shape, Strides strides, int64_t offset) {
  shape_ = std::move(shape);
  strides_ = std::move(strides);
  offset_ = offset;
  refresh();
}

void TensorImpl::refresh() {
  numel_ = numel_of(shape_);
  contiguous_ = doppel::is_contiguous(shape_, strides_);
}

}  // namespace doppel
