// Tensor's view and copy methods, forwarding to the free functions. Each op group defines its
// own methods next to its free functions.
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor Tensor::reshape(IntList shape, SourceLoc loc) const { return doppel::reshape(*this, shape, loc); }
Tensor Tensor::view(IntList shape, SourceLoc loc) const { return doppel::view(*this, shape, loc); }
Tensor Tensor::permute(IntList dims, SourceLoc loc) const { return doppel::permute(*this, dims, loc); }
Tensor Tensor::transpose(int64_t d0, int64_t d1, SourceLoc loc) const { return doppel::transpose(*this, d0, d1, loc); }
Tensor Tensor::t(SourceLoc loc) const {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(dim() <= 2, "t: expects a tensor with at most 2 dims, got shape {}; use transpose()",
                     shape_str(shape()));
  return dim() < 2 ? *this : doppel::transpose(*this, 0, 1, loc);
}
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step,
                     SourceLoc loc) const {
  return doppel::slice(*this, dim, start, end, step, loc);
}
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length, SourceLoc loc) const {
  return doppel::narrow(*this, dim, start, length, loc);
}
Tensor Tensor::select(int64_t dim, int64_t index, SourceLoc loc) const { return doppel::select(*this, dim, index, loc); }
Tensor Tensor::expand(IntList shape, SourceLoc loc) const { return doppel::expand(*this, shape, loc); }
Tensor Tensor::squeeze(std::optional<int64_t> dim, SourceLoc loc) const { return doppel::squeeze(*this, dim, loc); }
Tensor Tensor::unsqueeze(int64_t dim, SourceLoc loc) const { return doppel::unsqueeze(*this, dim, loc); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim, SourceLoc loc) const {
  return doppel::flatten(*this, start_dim, end_dim, loc);
}
Tensor Tensor::contiguous(SourceLoc loc) const { return doppel::contiguous(*this, loc); }
Tensor Tensor::clone(SourceLoc loc) const { return doppel::clone(*this, loc); }
Tensor Tensor::to(DType dtype, SourceLoc loc) const { return doppel::to_dtype(*this, dtype, loc); }
Tensor Tensor::to(Device device, SourceLoc loc) const { return doppel::to_device(*this, device, loc); }
Tensor Tensor::to(Device device, DType dtype, SourceLoc loc) const {
  // Narrowing casts run before the move (fewer bytes to copy), widening ones after.
  if (doppel::element_size(dtype) < element_size())
    return doppel::to_device(doppel::to_dtype(*this, dtype, loc), device, loc);
  return doppel::to_dtype(doppel::to_device(*this, device, loc), dtype, loc);
}

}  // namespace doppel
