#include "doppel/core/tensor_impl.h"

#include "doppel/core/error.h"

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

void TensorImpl::replace_data(Storage storage, DType dtype, Strides strides, int64_t offset) {
  DOPPEL_INTERNAL_ASSERT(storage && strides.size() == shape_.size() && offset >= 0);
  storage_ = std::move(storage);
  dtype_ = dtype;
  strides_ = std::move(strides);
  offset_ = offset;
  refresh();
}

void TensorImpl::refresh() {
  numel_ = numel_of(shape_);
  contiguous_ = doppel::is_contiguous(shape_, strides_);
}

}  // namespace doppel
