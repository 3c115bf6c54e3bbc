#include "doppel/data/dataset.h"

namespace doppel::data {

Tensor row_view(const Tensor& t, int64_t i) {
  DOPPEL_CHECK_INDEX(t.dim() >= 1, "row_view: a 0-d tensor has no rows");
  DOPPEL_CHECK_INDEX(i >= 0 && i < t.size(0), "row_view: index {} is out of range for {} rows", i, t.size(0));
  const Shape shape(t.shape().begin() + 1, t.shape().end());
  const Strides strides(t.strides().begin() + 1, t.strides().end());
  return make_view(t, shape, strides, t.storage_offset() + i * t.stride(0));
}

TensorDataset::TensorDataset(Tensor data, Tensor targets) : data_(std::move(data)), targets_(std::move(targets)) {
  DOPPEL_CHECK(data_.defined(), "TensorDataset: data is undefined");
  DOPPEL_CHECK_SHAPE(data_.dim() >= 1, "TensorDataset: data must have a leading example dim, got a 0-d tensor");
  if (targets_.defined())
    DOPPEL_CHECK_SHAPE(targets_.dim() >= 1 && targets_.size(0) == data_.size(0),
                       "TensorDataset: data {} and targets {} must have the same number of rows (dim 0)",
                       shape_str(data_.shape()), shape_str(targets_.shape()));
}

size_t TensorDataset::size() const { return size_t(data_.size(0)); }

Example TensorDataset::get(size_t i) const {
  DOPPEL_CHECK_INDEX(i < size(), "TensorDataset: index {} is out of range for {} examples", i, size());
  return {row_view(data_, int64_t(i)), targets_.defined() ? row_view(targets_, int64_t(i)) : Tensor()};
}

}  // namespace doppel::data
