// Reductions and softmax: the free functions and their Tensor methods.
#include "doppel/ops/reduction.h"
#include "doppel/kernels/op_attrs/shape_scalar.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "doppel/kernels/op_attrs/scan.h"
#include "doppel/ops/indexing.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {
namespace {
Tensor reduce(OpId op, const Tensor& t, IntList dims, bool keepdim) {
  return dispatch1(op, {t}, ReduceAttrs{.dims = dims, .keepdim = keepdim}.pack());
}
Tensor arg_reduce(OpId op, const Tensor& t, std::optional<int64_t> dim, bool keepdim) {
  return dispatch1(op, {t}, ArgReduceAttrs{.dim = dim, .keepdim = keepdim}.pack());
}
// The values are gathered at the arg-extremum's indices, so their gradient flows to those
// indices only (gather's backward scatters it there).
ValuesIndices extremum_at(OpId arg_op, const Tensor& t, int64_t dim, bool keepdim) {
  Tensor indices = arg_reduce(arg_op, t, dim, /*keepdim=*/true);
  Tensor values = gather(t, dim, indices);
  if (keepdim) return {std::move(values), std::move(indices)};
  return {squeeze(values, dim), squeeze(indices, dim)};
}
Tensor variance(OpId op, const Tensor& t, IntList dims, int64_t correction, bool keepdim) {
  return dispatch1(op, {t}, VarAttrs{.dims = dims, .keepdim = keepdim, .correction = correction}.pack());
}
}  // namespace

Tensor sum(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::sum, t, dims, keepdim);
}
Tensor mean(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::mean, t, dims, keepdim);
}
Tensor prod(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::prod, t, dims, keepdim);
}
Tensor amax(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::amax, t, dims, keepdim);
}
Tensor amin(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::amin, t, dims, keepdim);
}
Tensor max(const Tensor& t, SourceLoc loc) { return amax(t, {}, false, loc); }
Tensor min(const Tensor& t, SourceLoc loc) { return amin(t, {}, false, loc); }
ValuesIndices max(const Tensor& t, int64_t dim, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return extremum_at(OpId::argmax, t, dim, keepdim);
}
ValuesIndices min(const Tensor& t, int64_t dim, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return extremum_at(OpId::argmin, t, dim, keepdim);
}
Tensor argmax(const Tensor& t, std::optional<int64_t> dim, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return arg_reduce(OpId::argmax, t, dim, keepdim);
}
Tensor argmin(const Tensor& t, std::optional<int64_t> dim, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return arg_reduce(OpId::argmin, t, dim, keepdim);
}
Tensor var(const Tensor& t, IntList dims, int64_t correction, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return variance(OpId::var, t, dims, correction, keepdim);
}
Tensor std(const Tensor& t, IntList dims, int64_t correction, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return variance(OpId::std, t, dims, correction, keepdim);
}
Tensor logsumexp(const Tensor& t, IntList dims, bool keepdim, SourceLoc loc) {
  CallSiteScope s(loc);
  return reduce(OpId::logsumexp, t, dims, keepdim);
}
Tensor numel_tensor(const Tensor& t, IntList dims, DType dtype, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::numel, {t}, NumelAttrs{.dims = dims, .dtype = dtype}.pack());
}
Tensor softmax(const Tensor& t, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::softmax, {t}, SoftmaxAttrs{.dim = dim}.pack());
}
Tensor log_softmax(const Tensor& t, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::log_softmax, {t}, SoftmaxAttrs{.dim = dim}.pack());
}
Tensor cumsum(const Tensor& t, int64_t dim, std::optional<DType> dtype, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::cumsum, {t}, ScanAttrs{.dim = dim, .dtype = dtype}.pack());
}
Tensor cumprod(const Tensor& t, int64_t dim, std::optional<DType> dtype, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::cumprod, {t}, ScanAttrs{.dim = dim, .dtype = dtype}.pack());
}

Tensor Tensor::sum(IntList dims, bool keepdim, SourceLoc loc) const { return doppel::sum(*this, dims, keepdim, loc); }
Tensor Tensor::mean(IntList dims, bool keepdim, SourceLoc loc) const { return doppel::mean(*this, dims, keepdim, loc); }
Tensor Tensor::max(IntList dims, bool keepdim, SourceLoc loc) const { return amax(*this, dims, keepdim, loc); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim, SourceLoc loc) const {
  return doppel::argmax(*this, dim, keepdim, loc);
}
Tensor Tensor::softmax(int64_t dim, SourceLoc loc) const { return doppel::softmax(*this, dim, loc); }
Tensor Tensor::log_softmax(int64_t dim, SourceLoc loc) const { return doppel::log_softmax(*this, dim, loc); }

}  // namespace doppel
