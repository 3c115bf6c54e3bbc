// Reference kernels of the indexing and joining ops. Inputs of any strides are read through
// their strides; outputs are contiguous (masked_fill, elementwise, honours output strides).
// Index values are validated in a serial pass before any parallel work, so an IndexError is
// thrown on the calling thread, never inside a parallel region.
#include <cstring>

#include "doppel/core/strided_loop.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// The index values as a contiguous int64 tensor.
Tensor index_values(const Tensor& idx) {
  if (idx.dtype() == DType::Int64 && idx.is_contiguous()) return idx;
  Tensor v = make_tensor(idx.shape(), DType::Int64, idx.device());
  copy_strided(v, idx);
  return v;
}

// Throws IndexError for the first value outside [0, size).
void check_indices(std::string_view op, const int64_t* p, int64_t n, int64_t dim, int64_t size) {
  for (int64_t k = 0; k < n; ++k)
    DOPPEL_CHECK_INDEX(p[k] >= 0 && p[k] < size, "{}: index {} is out of range for dim {} of size {} (valid: 0 to {})",
                       op, p[k], dim, size, size - 1);
}

// A 0-d tensor's geometry as [1] so the N-d loops below need no special case.
struct Geometry {
  Shape shape;
  Strides strides;
};
Geometry geometry(const Tensor& t) {
  if (t.dim() == 0) return {Shape{1}, Strides{1}};
  return {t.shape(), t.strides()};
}

// For every position of a contiguous output of shape `shape`: out[pos] = x[offset], where the
// offset is the output coordinates dotted with x's strides, except in `dim`, where
// `pick(pos, coord_in_dim)` gives the coordinate to read. Parallel over positions.
template <typename Pick>
void gather_loop(const Tensor& out, const Tensor& x, IntList shape, int64_t dim, Pick&& pick) {
  const Geometry gx = geometry(x);
  const int64_t n = numel_of(shape), nd = int64_t(shape.size());
  const size_t esz = x.element_size();
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  parallel_for(0, n, 1 << 13, [&](int64_t b, int64_t e) {
    Shape coord(size_t(nd), 0);
    int64_t rem = b;
    for (int64_t d = nd - 1; d >= 0; --d) {
      coord[size_t(d)] = rem % shape[size_t(d)];
      rem /= shape[size_t(d)];
    }
    for (int64_t pos = b; pos < e; ++pos) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd; ++d)
        off += (d == dim ? pick(pos, coord[size_t(d)]) : coord[size_t(d)]) * gx.strides[size_t(d)];
      std::memcpy(po + pos * int64_t(esz), px + off * int64_t(esz), esz);
      for (int64_t d = nd - 1; d >= 0; --d) {  // advance the row-major counter
        if (++coord[size_t(d)] < shape[size_t(d)]) break;
        coord[size_t(d)] = 0;
      }
    }
  });
}

void cat_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& o = out[0];
  if (o.numel() == 0) return;
  int64_t dim = -1, pos = 0;
  for (const Tensor& t : c.inputs) {
    if (t.dim() == 1 && t.shape()[0] == 0) continue;  // skipped, as in infer_cat
    if (dim < 0) dim = wrap_dim("cat", DimAttrs::of(c.attrs).dim, t.dim());
    const int64_t len = t.shape()[size_t(dim)];
    if (t.numel() > 0) {
      // The slab of the output this input fills, then a converting strided copy into it.
      Tensor region = make_view(o, t.shape(), o.strides(), o.storage_offset() + pos * o.strides()[size_t(dim)]);
      copy_strided(region, t);
    }
    pos += len;
  }
}

void embedding_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& w = c.in(0);
  const Tensor idx = index_values(c.in(1));
  const int64_t n = idx.numel(), V = w.shape()[0], D = w.shape()[1];
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    DOPPEL_CHECK_INDEX(p[k] >= 0 && p[k] < V,
                       "embedding: index {} is out of range for a weight with {} rows "
                       "(num_embeddings V={})",
                       p[k], V, V);
  if (n == 0 || D == 0) return;
  const Shape shape{n, D};
  gather_loop(out[0], w, shape, 0, [p](int64_t, int64_t row) { return p[row]; });
}

void index_select_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor idx = index_values(c.in(1));
  const int64_t dim = wrap_dim("index_select", DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  const int64_t* p = idx.data_ptr<int64_t>();
  check_indices("index_select", p, idx.numel(), dim, geometry(x).shape[size_t(dim)]);
  if (out[0].numel() == 0) return;
  Shape shape = geometry(x).shape;
  shape[size_t(dim)] = idx.numel();
  gather_loop(out[0], x, shape, dim, [p](int64_t, int64_t k) { return p[k]; });
}

void gather_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor idx = index_values(c.in(1));
  const int64_t dim = wrap_dim("gather", DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  const int64_t* p = idx.data_ptr<int64_t>();
  check_indices("gather", p, idx.numel(), dim, geometry(x).shape[size_t(dim)]);
  if (out[0].numel() == 0) return;
  // The (contiguous) index has the output's shape: position pos reads index value pos.
  gather_loop(out[0], x, geometry(idx).shape, dim, [p](int64_t pos, int64_t) { return p[pos]; });
}

// scatter_add (kAdd) and scatter: a copy of the input with src's elements added / written at
// the positions the index gives along dim. Serial: several index entries may hit one output
// element, and a fixed order keeps the floating-point sums reproducible (and, for scatter, makes
// the last write win).
template <bool kAdd>
void scatter_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor idx = index_values(c.in(1));
  const Tensor& src = c.in(2);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, std::max<int64_t>(x.dim(), 1));
  const int64_t* p = idx.data_ptr<int64_t>();
  check_indices(c.name(), p, idx.numel(), dim, geometry(x).shape[size_t(dim)]);
  copy_strided(out[0], x);
  const Geometry gi = geometry(idx), gs = geometry(src), go = geometry(out[0]);
  const int64_t n = idx.numel(), nd = int64_t(gi.shape.size());
  DOPPEL_DISPATCH_ALL(x.dtype(), c.name(), [&]<typename T>() {
    if constexpr (!kAdd || !std::is_same_v<T, bool>) {
      const T* ps = static_cast<const T*>(src.raw_data());
      T* po = out[0].data_ptr<T>();
      Shape coord(size_t(nd), 0);
      for (int64_t pos = 0; pos < n; ++pos) {
        int64_t so = 0;
        int64_t oo = 0;
        for (int64_t d = 0; d < nd; ++d) {
          so += coord[size_t(d)] * gs.strides[size_t(d)];
          oo += (d == dim ? p[pos] : coord[size_t(d)]) * go.strides[size_t(d)];
        }
        if constexpr (kAdd)
          po[oo] = T(compute_t<T>(compute_t<T>(po[oo]) + compute_t<T>(ps[so])));
        else
          po[oo] = ps[so];
        for (int64_t d = nd - 1; d >= 0; --d) {
          if (++coord[size_t(d)] < gi.shape[size_t(d)]) break;
          coord[size_t(d)] = 0;
        }
      }
    }
  });
}

// flip: a converting strided copy from the input seen with negative strides in the flipped dims.
void flip_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  if (x.numel() == 0) return;
  Strides st = x.strides();
  int64_t offset = x.storage_offset();
  const Shape dims = FlipAttrs::of(c.attrs).dims;
  if (!dims.empty())
    for (int64_t d : normalize_dims("flip", dims, x.dim())) {
      offset += (x.shape()[size_t(d)] - 1) * st[size_t(d)];
      st[size_t(d)] = -st[size_t(d)];
    }
  copy_strided(out[0], make_view(x, x.shape(), st, offset));
}

// x and mask broadcast to the output's shape: stride 0 where a dim is new or of size 1.
Strides broadcast_strides(const Tensor& t, IntList shape) {
  Strides s(shape.size(), 0);
  const size_t lead = shape.size() - size_t(t.dim());
  for (size_t d = 0; d < size_t(t.dim()); ++d) s[lead + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return s;
}

void masked_fill_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& mask = c.in(1);
  const Tensor& o = out[0];
  const Strides sx = broadcast_strides(x, o.shape()), sm = broadcast_strides(mask, o.shape());
  const double value = MaskedFillAttrs::of(c.attrs).value;
  const bool* pm = static_cast<const bool*>(mask.raw_data());
  DOPPEL_DISPATCH_ALL(x.dtype(), "masked_fill", [&]<typename T>() {
    T fill;
    if constexpr (std::is_same_v<T, bool>)
      fill = value != 0;
    else
      fill = T(compute_t<T>(value));
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(o.raw_data());
    for_each_strided<3>(o.shape(), {IntList(o.strides()), IntList(sx), IntList(sm)},
                        [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                          for (int64_t i = 0; i < n; ++i)
                            po[off[0] + i * st[0]] = pm[off[2] + i * st[2]] ? fill : px[off[1] + i * st[1]];
                        });
  });
}

void one_hot_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor idx = index_values(c.in(0));
  const int64_t n = idx.numel(), nc = out[0].shape().back();
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    DOPPEL_CHECK_INDEX(p[k] >= 0 && p[k] < nc, "one_hot: class index {} is out of range for num_classes {}", p[k], nc);
  int64_t* po = out[0].data_ptr<int64_t>();
  parallel_for(0, n, 1 << 12, [&](int64_t b, int64_t e) {
    std::memset(po + b * nc, 0, size_t((e - b) * nc) * sizeof(int64_t));
    for (int64_t k = b; k < e; ++k) po[k * nc + p[k]] = 1;
  });
}

}  // namespace

// In a separate file of this group (the backward ops).
void reference_indexing_backward_kernels();

void reference_indexing_kernels() {
  reference_indexing_backward_kernels();
  register_kernel(OpId::cat, Backend::Reference, {cat_kernel});
  register_kernel(OpId::embedding, Backend::Reference, {embedding_kernel});
  register_kernel(OpId::index_select, Backend::Reference, {index_select_kernel});
  register_kernel(OpId::gather, Backend::Reference, {gather_kernel});
  register_kernel(OpId::scatter_add, Backend::Reference, {scatter_kernel<true>});
  register_kernel(OpId::scatter, Backend::Reference, {scatter_kernel<false>});
  register_kernel(OpId::flip, Backend::Reference, {flip_kernel});
  register_kernel(OpId::masked_fill, Backend::Reference, {masked_fill_kernel});
  register_kernel(OpId::one_hot, Backend::Reference, {one_hot_kernel});
}

}  // namespace doppel::registration
