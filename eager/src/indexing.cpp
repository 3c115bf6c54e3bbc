// Eager indexing and joining. stack/split/chunk are compositions (unsqueeze + cat, narrow
// views), so they need no ops of their own.
#include "doppel/ops/indexing.h"

#include "doppel/dispatch.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/shape_ops.h"

namespace doppel {

Tensor cat(TensorList tensors, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::cat, tensors, DimAttrs{.dim = dim}.pack());
}

Tensor stack(TensorList tensors, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(!tensors.empty(), "stack: expected at least one tensor, got none");
  const Tensor& first = tensors[0];
  const int64_t d = wrap_dim("stack", dim, first.dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (size_t k = 0; k < tensors.size(); ++k) {
    DOPPEL_CHECK_SHAPE(tensors[k].shape() == first.shape(),
                       "stack: input {} has shape {} but input 0 has shape {}; stacked tensors must have equal shapes",
                       k, shape_str(tensors[k].shape()), shape_str(first.shape()));
    parts.push_back(unsqueeze(tensors[k], d));
  }
  return dispatch1(OpId::cat, parts, DimAttrs{.dim = d}.pack());
}

std::vector<Tensor> split_with_sizes(const Tensor& t, IntList split_sizes, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_INDEX(t.dim() > 0, "split: cannot split a 0-d tensor");
  const int64_t d = wrap_dim("split", dim, t.dim());
  const int64_t size = t.shape()[size_t(d)];
  int64_t total = 0;
  for (int64_t n : split_sizes) {
    DOPPEL_CHECK(n >= 0, "split: split sizes must be >= 0, got {}", shape_str(split_sizes));
    total += n;
  }
  DOPPEL_CHECK_SHAPE(total == size, "split: split sizes {} sum to {} but dim {} has size {}", shape_str(split_sizes),
                     total, d, size);
  std::vector<Tensor> out;
  out.reserve(split_sizes.size());
  int64_t start = 0;
  for (int64_t n : split_sizes) {
    out.push_back(narrow(t, d, start, n));
    start += n;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& t, IntList split_sizes, int64_t dim, SourceLoc loc) {
  return split_with_sizes(t, split_sizes, dim, loc);
}

std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_INDEX(t.dim() > 0, "split: cannot split a 0-d tensor");
  const int64_t d = wrap_dim("split", dim, t.dim());
  const int64_t size = t.shape()[size_t(d)];
  DOPPEL_CHECK(split_size > 0 || (split_size == 0 && size == 0),
               "split: split_size must be positive, got {} for dim {} of size {}", split_size, d, size);
  if (size == 0) return {t};
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < size; start += split_size) sizes.push_back(std::min(split_size, size - start));
  return split_with_sizes(t, sizes, d, loc);
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK(chunks > 0, "chunk: chunks must be positive, got {}", chunks);
  DOPPEL_CHECK_INDEX(t.dim() > 0, "chunk: cannot chunk a 0-d tensor");
  const int64_t d = wrap_dim("chunk", dim, t.dim());
  const int64_t size = t.shape()[size_t(d)];
  // As PyTorch: pieces of ceil(size / chunks), so there may be fewer than `chunks`; a dim of
  // size 0 gives `chunks` empty pieces.
  if (size == 0) return split_with_sizes(t, std::vector<int64_t>(size_t(chunks), 0), d, loc);
  return split(t, (size + chunks - 1) / chunks, d, loc);
}

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::embedding, {weight, indices}, EmbeddingAttrs{.padding_idx = padding_idx}.pack());
}

Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::index_select, {input, index}, DimAttrs{.dim = dim}.pack());
}

Tensor gather(const Tensor& input, int64_t dim, const Tensor& index, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::gather, {input, index}, DimAttrs{.dim = dim}.pack());
}

Tensor index_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha,
                 SourceLoc loc) {
  CallSiteScope s(loc);
  // An integral alpha keeps an integer source integral (a wrapped number, as in PyTorch).
  const Tensor scaled = alpha.to_double() == 1.0 ? source : mul(source, alpha);
  return dispatch1(OpId::index_add, {input, index, scaled}, DimAttrs{.dim = dim}.pack());
}

const Tensor& index_add_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& source,
                         const Scalar& alpha, SourceLoc loc) {
  CallSiteScope s(loc);
  // Functional op + copy back, as scatter_add_: the kernel reads input while writing.
  return copy_(input, index_add(input, dim, index, source, alpha));
}

Tensor scatter_add(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::scatter_add, {input, index, src}, DimAttrs{.dim = dim}.pack());
}

const Tensor& scatter_add_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, SourceLoc loc) {
  CallSiteScope s(loc);
  // Functional op + copy back: the kernel reads input while writing, so it cannot alias it.
  return copy_(input, scatter_add(input, dim, index, src));
}

Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::scatter, {input, index, src}, DimAttrs{.dim = dim}.pack());
}

Tensor scatter(const Tensor& input, int64_t dim, const Tensor& index, Scalar value, SourceLoc loc) {
  CallSiteScope s(loc);
  // The value as a src of the index's shape (a broadcast view: no memory per element).
  const Tensor v = full({}, value, {.dtype = input.dtype(), .device = input.device()});
  return dispatch1(OpId::scatter, {input, index, expand(v, index.shape())}, DimAttrs{.dim = dim}.pack());
}

// Functional op + copy back, as scatter_add_: the kernel reads input while writing.
const Tensor& scatter_(const Tensor& input, int64_t dim, const Tensor& index, const Tensor& src, SourceLoc loc) {
  CallSiteScope s(loc);
  return copy_(input, scatter(input, dim, index, src));
}

const Tensor& scatter_(const Tensor& input, int64_t dim, const Tensor& index, Scalar value, SourceLoc loc) {
  CallSiteScope s(loc);
  return copy_(input, scatter(input, dim, index, value));
}

Tensor flip(const Tensor& t, IntList dims, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::flip, {t}, FlipAttrs{.dims = dims}.pack());
}

Tensor fliplr(const Tensor& t, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(t.dim() >= 2, "fliplr: input must have at least 2 dims, got shape {}", shape_str(t.shape()));
  return flip(t, {1});
}

Tensor flipud(const Tensor& t, SourceLoc loc) {
  CallSiteScope s(loc);
  DOPPEL_CHECK_SHAPE(t.dim() >= 1, "flipud: input must have at least 1 dim, got shape {}", shape_str(t.shape()));
  return flip(t, {0});
}

Tensor roll(const Tensor& t, IntList shifts, IntList dims, SourceLoc loc) {
  CallSiteScope s(loc);
  if (dims.empty()) {
    DOPPEL_CHECK(shifts.size() == 1, "roll: without dims, exactly one shift is allowed, got {}", shape_str(shifts));
    return reshape(roll(flatten(t), shifts, {0}), t.shape());
  }
  DOPPEL_CHECK(shifts.size() == dims.size(), "roll: shifts {} and dims {} must have the same length", shape_str(shifts),
               shape_str(dims));
  Tensor r = t;
  for (size_t k = 0; k < dims.size(); ++k) {
    DOPPEL_CHECK_INDEX(t.dim() > 0, "roll: cannot roll a 0-d tensor along dim {}", dims[k]);
    const int64_t d = wrap_dim("roll", dims[k], t.dim());
    const int64_t n = t.shape()[size_t(d)];
    const int64_t shift = n == 0 ? 0 : ((shifts[k] % n) + n) % n;
    if (shift == 0) continue;
    r = cat({slice(r, d, n - shift, n), slice(r, d, 0, n - shift)}, d);
  }
  return r;
}

Tensor masked_fill(const Tensor& input, const Tensor& mask, Scalar value, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::masked_fill, {input, mask}, MaskedFillAttrs{.value = value.to_double()}.pack());
}

Tensor one_hot(const Tensor& indices, int64_t num_classes, SourceLoc loc) {
  CallSiteScope s(loc);
  return dispatch1(OpId::one_hot, {indices}, OneHotAttrs{.num_classes = num_classes}.pack());
}

}  // namespace doppel
