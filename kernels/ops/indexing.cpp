// Indexing and joining ops: definitions and shape/dtype inference. Index values are checked by
// the kernels (they are data); everything knowable from shapes and dtypes is checked here.
// Index tensors may be int32 or int64; negative index values are errors, as in PyTorch.
#include <algorithm>

#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/type_promotion.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void check_index_dtype(const OpCall& c, const Tensor& idx, const char* what) {
  DOPPEL_CHECK_DTYPE(idx.dtype() == DType::Int32 || idx.dtype() == DType::Int64,
                     "{}: {} must be int32 or int64, got {}", c.name(), what, dtype_name(idx.dtype()));
}

// PyTorch's legacy rule: a 1-d tensor of size 0 may be concatenated with anything (skipped).
bool cat_skipped(const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; }

void infer_cat(const OpCall& c, std::span<OutputMeta> out) {
  const size_t n = c.inputs.size();
  for (size_t k = 0; k < n; ++k) DOPPEL_CHECK(c.in(k).defined(), "cat: input {} is undefined", k);
  out[0].dtype = result_type(c.inputs);
  // The first input that is not skipped sets the rank and the non-cat sizes.
  size_t ref = n;
  for (size_t k = 0; k < n && ref == n; ++k)
    if (!cat_skipped(c.in(k))) ref = k;
  if (ref == n) {  // only empty 1-d inputs
    out[0].shape = Shape{0};
    return;
  }
  const Tensor& r = c.in(ref);
  DOPPEL_CHECK_SHAPE(r.dim() > 0, "cat: input {} is 0-d and cannot be concatenated; unsqueeze it or use stack()", ref);
  const int64_t dim = wrap_dim("cat", DimAttrs::of(c.attrs).dim, r.dim());
  Shape shape(r.shape());
  shape[size_t(dim)] = 0;
  for (size_t k = 0; k < n; ++k) {
    const Tensor& t = c.in(k);
    if (cat_skipped(t)) continue;
    DOPPEL_CHECK_SHAPE(t.dim() == r.dim(),
                       "cat: input {} has shape {} but input {} has shape {}; all inputs need "
                       "the same number of dims",
                       k, shape_str(t.shape()), ref, shape_str(r.shape()));
    for (int64_t d = 0; d < r.dim(); ++d)
      DOPPEL_CHECK_SHAPE(d == dim || t.shape()[size_t(d)] == r.shape()[size_t(d)],
                         "cat: input {} has shape {} but input {} has shape {}; sizes must match except in the cat "
                         "dim {}",
                         k, shape_str(t.shape()), ref, shape_str(r.shape()), dim);
    shape[size_t(dim)] += t.shape()[size_t(dim)];
  }
  out[0].shape = shape;
}

void infer_embedding(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& w = c.in(0);
  const Tensor& idx = c.in(1);
  DOPPEL_CHECK_SHAPE(w.dim() == 2, "embedding: weight must be [num_embeddings, dim], got shape {}",
                     shape_str(w.shape()));
  check_index_dtype(c, idx, "indices");
  const std::optional<int64_t> pad = EmbeddingAttrs::of(c.attrs).padding_idx;
  const int64_t V = w.shape()[0];
  if (pad)
    DOPPEL_CHECK_INDEX(*pad >= -V && *pad < V, "embedding: padding_idx {} is out of range for {} embeddings", *pad, V);
  Shape shape(idx.shape());
  shape.push_back(w.shape()[1]);
  out[0].shape = shape;
  out[0].dtype = w.dtype();
}

void infer_index_select(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  check_index_dtype(c, idx, "index");
  DOPPEL_CHECK_SHAPE(idx.dim() <= 1, "index_select: index must be 0-d or 1-d, got shape {}", shape_str(idx.shape()));
  const int64_t dim = wrap_dim("index_select", DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  out[0].dtype = x.dtype();
  if (x.dim() == 0) {
    // As PyTorch: a 0-d input takes exactly one index (which must be 0) and gives a 0-d result.
    DOPPEL_CHECK_INDEX(idx.numel() == 1, "index_select: a 0-d input takes exactly 1 index, got {}", idx.numel());
    out[0].shape = Shape{};
    return;
  }
  Shape shape(x.shape());
  shape[size_t(dim)] = idx.numel();
  out[0].shape = shape;
}

// gather and scatter_add: the index has the input's rank and is no larger than the input
// outside `dim` (a 0-d input takes a 0-d index).
void check_gather_like(const OpCall& c, const Tensor& x, const Tensor& idx, int64_t dim) {
  check_index_dtype(c, idx, "index");
  DOPPEL_CHECK_SHAPE(idx.dim() == x.dim(), "{}: index shape {} must have as many dims as the input shape {}", c.name(),
                     shape_str(idx.shape()), shape_str(x.shape()));
  for (int64_t d = 0; d < x.dim(); ++d)
    DOPPEL_CHECK_SHAPE(d == dim || idx.shape()[size_t(d)] <= x.shape()[size_t(d)],
                       "{}: index shape {} is larger than the input shape {} in dim {}", c.name(),
                       shape_str(idx.shape()), shape_str(x.shape()), d);
}

void infer_gather(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const int64_t dim = wrap_dim("gather", DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  check_gather_like(c, x, idx, dim);
  out[0].shape = idx.shape();
  out[0].dtype = x.dtype();
}

// scatter and scatter_add: src has the input's dtype and is no
// smaller than the index.
void infer_scatter_like(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Tensor& src = c.in(2);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  DOPPEL_CHECK_DTYPE(src.dtype() == x.dtype(), "{}: src is {} but the input is {}; cast src to match", c.name(),
                     dtype_name(src.dtype()), dtype_name(x.dtype()));
  DOPPEL_CHECK_DTYPE(c.op != OpId::scatter_add || x.dtype() != DType::Bool,
                     "scatter_add: bool tensors cannot be added; cast to an integer type");
  check_gather_like(c, x, idx, dim);
  DOPPEL_CHECK_SHAPE(idx.dim() == src.dim(), "{}: index shape {} must have as many dims as src shape {}", c.name(),
                     shape_str(idx.shape()), shape_str(src.shape()));
  for (int64_t d = 0; d < src.dim(); ++d)
    DOPPEL_CHECK_SHAPE(idx.shape()[size_t(d)] <= src.shape()[size_t(d)],
                       "{}: index shape {} is larger than src shape {} in dim {}", c.name(), shape_str(idx.shape()),
                       shape_str(src.shape()), d);
  out[0].shape = x.shape();
  out[0].dtype = x.dtype();
}

void infer_flip(const OpCall& c, std::span<OutputMeta> out) {
  const Shape dims = FlipAttrs::of(c.attrs).dims;
  if (!dims.empty()) normalize_dims("flip", dims, c.in(0).dim());  // range and duplicate checks
  out[0].shape = c.in(0).shape();
  out[0].dtype = c.in(0).dtype();
}

void infer_masked_fill(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor& mask = c.in(1);
  DOPPEL_CHECK_DTYPE(mask.dtype() == DType::Bool, "masked_fill: mask must be bool, got {}; compare to get a mask",
                     dtype_name(mask.dtype()));
  out[0].shape = broadcast_shapes("masked_fill", x.shape(), mask.shape());
  out[0].dtype = x.dtype();
}

// Reads max(indices) + 1 from the data: PyTorch does the same for num_classes = -1, which makes
// the output shape data-dependent (a traced graph must pass num_classes explicitly).
int64_t one_hot_classes(const Tensor& idx) {
  DOPPEL_CHECK(idx.numel() > 0, "one_hot: cannot infer num_classes from an empty tensor; pass num_classes");
  Tensor v = make_tensor(idx.shape(), DType::Int64, idx.device());
  copy_strided(v, idx);
  const int64_t* p = v.data_ptr<int64_t>();
  return *std::max_element(p, p + v.numel()) + 1;
}

void infer_one_hot(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& idx = c.in(0);
  check_index_dtype(c, idx, "indices");
  int64_t nc = OneHotAttrs::of(c.attrs).num_classes;
  DOPPEL_CHECK(nc >= -1, "one_hot: num_classes must be -1 (infer) or >= 0, got {}", nc);
  if (nc == -1) nc = one_hot_classes(idx);
  Shape shape(idx.shape());
  shape.push_back(nc);
  out[0].shape = shape;
  out[0].dtype = DType::Int64;
}

void infer_embedding_backward(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& g = c.in(0);
  const Tensor& idx = c.in(1);
  check_index_dtype(c, idx, "indices");
  DOPPEL_CHECK_DTYPE(is_floating(g.dtype()), "embedding_backward: grad_out must be floating point, got {}",
                     dtype_name(g.dtype()));
  const auto [V, pad] = EmbeddingBackwardAttrs::of(c.attrs);
  DOPPEL_CHECK(V >= 0, "embedding_backward: num_weights must be >= 0, got {}", V);
  if (pad)
    DOPPEL_CHECK_INDEX(*pad >= -V && *pad < V, "embedding_backward: padding_idx {} is out of range for {} rows", *pad,
                       V);
  bool ok = g.dim() == idx.dim() + 1;
  for (int64_t d = 0; ok && d < idx.dim(); ++d) ok = g.shape()[size_t(d)] == idx.shape()[size_t(d)];
  DOPPEL_CHECK_SHAPE(ok, "embedding_backward: grad_out shape {} must be the indices' shape {} plus one dim",
                     shape_str(g.shape()), shape_str(idx.shape()));
  out[0] = {Shape{V, g.shape().back()}, g.dtype(), g.device()};
}

void infer_index_add(const OpCall& c, std::span<OutputMeta> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Tensor& src = c.in(2);
  check_index_dtype(c, idx, "index");
  DOPPEL_CHECK_SHAPE(idx.dim() <= 1, "index_add: index must be 0-d or 1-d, got shape {}", shape_str(idx.shape()));
  DOPPEL_CHECK_DTYPE(src.dtype() == x.dtype(), "index_add: source is {} but the input is {}; cast source to match",
                     dtype_name(src.dtype()), dtype_name(x.dtype()));
  DOPPEL_CHECK_DTYPE(x.dtype() != DType::Bool, "index_add: bool tensors cannot be added; cast to an integer type");
  // A 0-d input or source counts as [1] (as index_select's 0-d case, whose gradient this is).
  const int64_t rank = std::max<int64_t>(x.dim(), 1);
  const int64_t dim = wrap_dim("index_add", DimAttrs::of(c.attrs).dim, rank);
  Shape xs = x.dim() == 0 ? Shape{1} : Shape(x.shape());
  Shape ss = src.dim() == 0 ? Shape{1} : Shape(src.shape());
  bool ok = ss.size() == xs.size() && ss[size_t(dim)] == idx.numel();
  for (size_t d = 0; ok && d < xs.size(); ++d) ok = int64_t(d) == dim || ss[d] == xs[d];
  DOPPEL_CHECK_SHAPE(ok,
                     "index_add: source shape {} must be the input shape {} with dim {} of size {} (the number of "
                     "indices)",
                     shape_str(src.shape()), shape_str(x.shape()), dim, idx.numel());
  out[0] = {x.shape(), x.dtype(), x.device()};
}

// An op of `inputs` tensor inputs (flags set after, where an op has them).
OpDef def(int inputs, std::span<const AttrSpec> attrs, InferFn infer, uint32_t differentiable) {
  return OpDef{.min_inputs = inputs,
               .max_inputs = inputs,
               .attrs = attrs,
               .infer = infer,
               .differentiable_inputs = differentiable};
}

}  // namespace

void define_indexing_ops(OpDef* table) {
  // Variadic: every input may receive a gradient.
  table[int(OpId::cat)] = def(1, DimAttrs::kSpec, infer_cat, ~0u);
  table[int(OpId::cat)].flags = kVariadic;
  table[int(OpId::embedding)] = def(2, EmbeddingAttrs::kSpec, infer_embedding, 0b1);
  table[int(OpId::index_select)] = def(2, DimAttrs::kSpec, infer_index_select, 0b1);
  table[int(OpId::gather)] = def(2, DimAttrs::kSpec, infer_gather, 0b1);
  table[int(OpId::scatter_add)] = def(3, DimAttrs::kSpec, infer_scatter_like, 0b101);
  table[int(OpId::scatter)] = def(3, DimAttrs::kSpec, infer_scatter_like, 0b101);
  table[int(OpId::flip)] = def(1, FlipAttrs::kSpec, infer_flip, 1);
  table[int(OpId::masked_fill)] = def(2, MaskedFillAttrs::kSpec, infer_masked_fill, 0b1);
  table[int(OpId::masked_fill)].flags = kElementwise;
  table[int(OpId::one_hot)] = def(1, OneHotAttrs::kSpec, infer_one_hot, 0);
  // Backward ops; linear in grad_out / (input, source), so their own rules make double backward work.
  table[int(OpId::embedding_backward)] = def(2, EmbeddingBackwardAttrs::kSpec, infer_embedding_backward, 0b1);
  table[int(OpId::index_add)] = def(3, DimAttrs::kSpec, infer_index_add, 0b101);
}

}  // namespace doppel::registration
