// View ops: the output shares input 0's storage; each op only computes the new geometry.
#include <algorithm>

#include "doppel/kernels/op_attrs/views.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// view: a new shape over the same elements. Works on contiguous inputs and on strided inputs
// whose dims split or merge without crossing a stride discontinuity (PyTorch's rule); the
// eager `reshape` falls back to a copy otherwise.
ViewGeometry view_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const Shape req = ViewAttrs::of(c.attrs).shape;
  Shape shape(req);
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      DOPPEL_CHECK_SHAPE(infer_at < 0, "view: only one dimension can be -1, got shape {}", shape_str(req));
      infer_at = int64_t(i);
    } else {
      DOPPEL_CHECK_SHAPE(shape[i] >= 0, "view: invalid size {} in shape {}", shape[i], shape_str(req));
      // Checked: a shape read from a model file may be absurd, and signed overflow is UB.
      DOPPEL_CHECK_SHAPE(!__builtin_mul_overflow(known, shape[i], &known), "view: shape {} has too many elements",
                         shape_str(req));
    }
  }
  if (infer_at >= 0) {
    DOPPEL_CHECK_SHAPE(known != 0 && x.numel() % known == 0, "view: shape {} is invalid for input of size {} ({})",
                       shape_str(req), x.numel(), shape_str(x.shape()));
    shape[size_t(infer_at)] = x.numel() / known;
  }
  DOPPEL_CHECK_SHAPE(numel_of(shape) == x.numel(), "view: shape {} is invalid for input of size {} (shape {})",
                     shape_str(req), x.numel(), shape_str(x.shape()));
  ViewGeometry g{shape, contiguous_strides(shape), x.storage_offset()};
  if (x.is_contiguous() || x.numel() == 0) return g;
  // Walk groups of old dims that are mutually contiguous ("chunks") and map new dims onto them.
  const Shape& os = x.shape();
  const Strides& ost = x.strides();
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[size_t(d)];
    if (d == 0 || (os[size_t(d - 1)] != 1 && ost[size_t(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        g.strides[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      DOPPEL_CHECK_SHAPE(view_numel == tensor_numel,
                         "view: shape {} is not compatible with the input's strides {} (shape {}); use reshape(), "
                         "which copies when needed",
                         shape_str(shape), shape_str(ost), shape_str(os));
      if (d > 0) {
        chunk_base_stride = ost[size_t(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  DOPPEL_CHECK_SHAPE(view_d == -1, "view: shape {} is not compatible with the input's strides {}; use reshape()",
                     shape_str(shape), shape_str(ost));
  return g;
}

ViewGeometry permute_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const Shape dims = PermuteAttrs::of(c.attrs).dims;
  DOPPEL_CHECK_SHAPE(int64_t(dims.size()) == x.dim(), "permute: got {} dims {} for a tensor with {} dims", dims.size(),
                     shape_str(dims), x.dim());
  ViewGeometry g{Shape(dims.size(), 0), Strides(dims.size(), 0), x.storage_offset()};
  Shape seen(dims.size(), 0);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim("permute", dims[i], x.dim());
    DOPPEL_CHECK_INDEX(!seen[size_t(d)], "permute: dim {} appears twice in {}", d, shape_str(dims));
    seen[size_t(d)] = 1;
    g.shape[i] = x.shape()[size_t(d)];
    g.strides[i] = x.strides()[size_t(d)];
  }
  return g;
}

// slice: start/end are Python-style (negative counts from the end, clamped to the range).
ViewGeometry slice_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_INDEX(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  const auto attr = SliceAttrs::of(c.attrs);
  const int64_t d = wrap_dim("slice", attr.dim, x.dim());
  const int64_t step = attr.step;
  DOPPEL_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const int64_t n = x.shape()[size_t(d)];
  auto clampi = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
  const int64_t start = clampi(attr.start), end = std::max(start, clampi(attr.end));
  ViewGeometry g{x.shape(), x.strides(), x.storage_offset()};
  g.offset += start * x.strides()[size_t(d)];
  g.shape[size_t(d)] = end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for huge steps
  // With at most one element the stride is never used; otherwise step < n keeps it in range.
  if (g.shape[size_t(d)] > 1) g.strides[size_t(d)] *= step;
  return g;
}

ViewGeometry select_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_INDEX(x.dim() > 0, "select: cannot select from a 0-d tensor");
  const auto attr = SelectAttrs::of(c.attrs);
  const int64_t d = wrap_dim("select", attr.dim, x.dim());
  const int64_t n = x.shape()[size_t(d)];
  int64_t i = attr.index;
  DOPPEL_CHECK_INDEX(i >= -n && i < n, "select: index {} is out of range for dim {} of size {} (shape {})", i, d, n,
                     shape_str(x.shape()));
  if (i < 0) i += n;
  ViewGeometry g{x.shape(), x.strides(), x.storage_offset() + i * x.strides()[size_t(d)]};
  g.shape.erase(size_t(d));
  g.strides.erase(size_t(d));
  return g;
}

ViewGeometry expand_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const Shape req = ExpandAttrs::of(c.attrs).shape;
  DOPPEL_CHECK_SHAPE(int64_t(req.size()) >= x.dim(), "expand: target {} has fewer dims than the input {}",
                     shape_str(req), shape_str(x.shape()));
  const size_t lead = req.size() - size_t(x.dim());
  ViewGeometry g{Shape(req), Strides(req.size(), 0), x.storage_offset()};
  for (size_t i = 0; i < req.size(); ++i) {
    if (i < lead) {
      DOPPEL_CHECK_SHAPE(req[i] >= 0, "expand: new leading dim {} must be non-negative in {}", i, shape_str(req));
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    const int64_t want = req[i] == -1 ? have : req[i];
    DOPPEL_CHECK_SHAPE(want >= 0 && (want == have || have == 1),
                       "expand: cannot expand shape {} to {} (dim {} has size {}, only size-1 dims expand)",
                       shape_str(x.shape()), shape_str(req), i, have);
    g.shape[i] = want;
    g.strides[i] = want == have ? x.strides()[i - lead] : 0;
  }
  return g;
}

ViewGeometry squeeze_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const auto a = SqueezeAttrs::of(c.attrs);
  const Shape dims = normalize_dims("squeeze", a.dims, x.dim());
  const bool all = a.dims.empty();
  ViewGeometry g{{}, {}, x.storage_offset()};
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool listed = all || std::find(dims.begin(), dims.end(), d) != dims.end();
    if (listed && x.shape()[size_t(d)] == 1) continue;  // like PyTorch, non-1 listed dims stay
    g.shape.push_back(x.shape()[size_t(d)]);
    g.strides.push_back(x.strides()[size_t(d)]);
  }
  return g;
}

ViewGeometry unsqueeze_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const int64_t d = wrap_dim("unsqueeze", UnsqueezeAttrs::of(c.attrs).dim, x.dim() + 1);
  ViewGeometry g{x.shape(), x.strides(), x.storage_offset()};
  const int64_t st = d < x.dim() ? x.strides()[size_t(d)] * x.shape()[size_t(d)] : 1;
  g.shape.insert(size_t(d), 1);
  g.strides.insert(size_t(d), st);
  return g;
}

// diagonal: dim1 and dim2 are removed and the diagonal (offset > 0: above the main one) is
// appended as the last dim, with the sum of their strides.
ViewGeometry diagonal_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  DOPPEL_CHECK_SHAPE(x.dim() >= 2, "diagonal: input must have at least 2 dims, got shape {}", shape_str(x.shape()));
  const auto attr = DiagonalAttrs::of(c.attrs);
  const int64_t d1 = wrap_dim("diagonal", attr.dim1, x.dim());
  const int64_t d2 = wrap_dim("diagonal", attr.dim2, x.dim());
  DOPPEL_CHECK_INDEX(d1 != d2, "diagonal: dim1 and dim2 are both {} (shape {}); they must differ", d1,
                     shape_str(x.shape()));
  const int64_t off = attr.offset;
  const int64_t n1 = x.shape()[size_t(d1)], n2 = x.shape()[size_t(d2)];
  const int64_t s1 = x.strides()[size_t(d1)], s2 = x.strides()[size_t(d2)];
  // Clamped before subtracting, so a huge offset cannot overflow.
  const int64_t len = off >= 0 ? std::max<int64_t>(0, std::min(n1, n2 - std::min(off, n2)))
                               : std::max<int64_t>(0, std::min(n1 - std::min(-off, n1), n2));
  ViewGeometry g{{}, {}, x.storage_offset()};
  if (len > 0) g.offset += off >= 0 ? off * s2 : -off * s1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == d1 || d == d2) continue;
    g.shape.push_back(x.shape()[size_t(d)]);
    g.strides.push_back(x.strides()[size_t(d)]);
  }
  g.shape.push_back(len);
  g.strides.push_back(s1 + s2);
  return g;
}

// unfold: dim keeps the window starts (stride * step), a new last dim walks each window.
ViewGeometry unfold_geometry(const OpCall& c) {
  const Tensor& x = c.in(0);
  const auto attr = UnfoldAttrs::of(c.attrs);
  const int64_t d = wrap_dim("unfold", attr.dim, std::max<int64_t>(x.dim(), 1));
  const int64_t size = attr.size, step = attr.step;
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[size_t(d)];
  const int64_t st = x.dim() == 0 ? 1 : x.strides()[size_t(d)];
  DOPPEL_CHECK(step > 0, "unfold: step must be positive, got {}", step);
  DOPPEL_CHECK(size >= 0, "unfold: size must be non-negative, got {}", size);
  DOPPEL_CHECK_SHAPE(size <= n, "unfold: size {} is larger than dim {} of size {} (shape {})", size, d, n,
                     shape_str(x.shape()));
  ViewGeometry g{x.shape(), x.strides(), x.storage_offset()};
  if (x.dim() > 0) {
    g.shape[size_t(d)] = (n - size) / step + 1;
    g.strides[size_t(d)] = st * step;
  }
  g.shape.push_back(size);
  g.strides.push_back(st);
  return g;
}

void infer_from_view(const OpCall& c, std::span<OutputMeta> out) {
  const ViewGeometry g = op_def(c.op).view(c);
  out[0].shape = g.shape;
  out[0].dtype = c.in(0).dtype();
}

void def(OpDef* table, OpId id, std::span<const AttrSpec> attrs, ViewFn view) {
  table[int(id)] = OpDef{.min_inputs = 1, .max_inputs = 1, .attrs = attrs, .infer = infer_from_view, .view = view,
                         .flags = kView, .differentiable_inputs = 1};
}

}  // namespace

void define_view_ops(OpDef* table) {
  def(table, OpId::view, ViewAttrs::kSpec, view_geometry);
  def(table, OpId::permute, PermuteAttrs::kSpec, permute_geometry);
  def(table, OpId::slice, SliceAttrs::kSpec, slice_geometry);
  def(table, OpId::select, SelectAttrs::kSpec, select_geometry);
  def(table, OpId::expand, ExpandAttrs::kSpec, expand_geometry);
  def(table, OpId::squeeze, SqueezeAttrs::kSpec, squeeze_geometry);
  def(table, OpId::unsqueeze, UnsqueezeAttrs::kSpec, unsqueeze_geometry);
  def(table, OpId::diagonal, DiagonalAttrs::kSpec, diagonal_geometry);
  def(table, OpId::unfold, UnfoldAttrs::kSpec, unfold_geometry);
}

}  // namespace doppel::registration
