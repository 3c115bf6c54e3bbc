// Host glue of the CUDA indexing ops (embedding, index_select, gather, scatter_add, index_add,
// embedding_backward, masked_fill, one_hot) and the copies of cat, slice_backward and
// select_backward. Index values are data: the kernels check them on the device and record the
// first bad one (index_launch.h); the ops that take an index then wait for their stream to read
// that record and raise IndexError on the calling thread. That costs one 16-byte device-to-host
// copy and a stream synchronization per call, always (an out-of-range index is a user error that
// must be reported where it happens, not corrupt memory or surface later as a sticky error).
#include <optional>

#include "cuda/common/cuda_common.h"
#include "cuda/reduce_index/area_registration.h"
#include "cuda/reduce_index/fault_record.h"
#include "cuda/reduce_index/index_launch.h"
#include "cuda/reduce_index/reduce_geometry.h"
#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/op_attrs/views.h"

namespace doppel::registration {
namespace {

using cuda::FaultRecord;
using cuda::IndexPick;
using cuda::merged_indexer;

void raise_if_bad(const FaultRecord& f, std::string_view op, int64_t dim, int64_t size) {
  const std::optional<int64_t> bad = f.bad_index();
  DOPPEL_CHECK_INDEX(!bad, "{}: index {} is out of range for dim {} of size {} (valid: 0 to {})", op, bad.value_or(0),
                     dim, size, size - 1);
}

// A 0-d tensor's geometry as [1], as the reference kernels see it.
Shape shape_1d(const Tensor& t) { return t.dim() == 0 ? Shape{1} : Shape(t.shape()); }
Shape strides_1d(const Tensor& t) { return t.dim() == 0 ? Shape{1} : Shape(t.strides()); }

int64_t inner_of(IntList shape, int64_t dim) {
  int64_t n = 1;
  for (size_t d = size_t(dim) + 1; d < shape.size(); ++d) n *= shape[d];
  return n;
}

// `strides` with the one of `dim` zeroed: the walk over the other dims.
Shape without_dim(IntList strides, int64_t dim) {
  Shape s(strides);
  s[size_t(dim)] = 0;
  return s;
}

void zero(const Tensor& t) {
  if (t.nbytes() > 0) DOPPEL_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), cuda::stream_of(t)));
}

// dst = src elementwise over dst's shape (src broadcast to it), one dtype.
void copy_into(const Tensor& dst, const Tensor& src, std::string_view op) {
  DOPPEL_CHECK_DTYPE(src.dtype() == dst.dtype(),
                     "{}: the CUDA kernel copies without converting, but the input is {} and the result {}; cast the "
                     "inputs to {} first",
                     op, dtype_name(src.dtype()), dtype_name(dst.dtype()), dtype_name(dst.dtype()));
  const std::string name(op);
  cuda::launch_strided_copy(int64_t(dst.element_size()), src.raw_data(),
                            cuda::indexer_for(src, dst.shape(), name.c_str()), dst.raw_data(),
                            cuda::indexer_for(dst, dst.shape(), name.c_str()), dst.numel(), cuda::stream_of(dst));
}

// out[pos] = x[... index value ... in `dim`] over the walked shape (see launch_index_gather).
void gather_along(const OpCall& c, const Tensor& out, const Tensor& x, IntList x_shape, IntList x_strides, int64_t dim,
                  IntList walked, const Tensor& idx, IndexPick pick) {
  const cuda::DeviceGuard guard(x.device().index);
  const FaultRecord fault(x);
  pick.bound = x_shape[size_t(dim)];
  cuda::launch_index_gather(int64_t(x.element_size()), idx.dtype(), x.raw_data(),
                            merged_indexer(walked, without_dim(x_strides, dim), c.name()), x_strides[size_t(dim)],
                            idx.raw_data(), pick, out.raw_data(), numel_of(walked), fault.get(), cuda::stream_of(x));
  raise_if_bad(fault, c.name(), dim, pick.bound);
}

// One index per coordinate of the indexed dim of the walked shape (the index flattened).
IndexPick per_coordinate(const OpCall& c, const Tensor& idx, IntList walked, int64_t dim) {
  IndexPick p;
  p.idx = merged_indexer(idx.shape(), idx.strides(), c.name());
  p.inner = inner_of(walked, dim);
  p.dim_size = walked[size_t(dim)];
  return p;
}

// The index read at every position of the walked shape (the index's own shape).
IndexPick per_position(const OpCall& c, const Tensor& idx) {
  IndexPick p;
  p.idx = merged_indexer(shape_1d(idx), strides_1d(idx), c.name());
  p.per_position = true;
  return p;
}

void embedding_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& w = c.in(0);
  const Tensor& idx = c.in(1);
  const Shape walked{idx.numel(), w.shape()[1]};
  gather_along(c, out[0], w, w.shape(), w.strides(), 0, walked, idx, per_coordinate(c, idx, walked, 0));
}

void index_select_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Shape xs = shape_1d(x);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, int64_t(xs.size()));
  Shape walked = xs;
  walked[size_t(dim)] = idx.numel();
  gather_along(c, out[0], x, xs, strides_1d(x), dim, walked, idx, per_coordinate(c, idx, walked, dim));
}

void gather_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Shape xs = shape_1d(x);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, int64_t(xs.size()));
  gather_along(c, out[0], x, xs, strides_1d(x), dim, shape_1d(idx), idx, per_position(c, idx));
}

// out[... index value ... in `dim`] += src over the walked shape; out already holds its base.
// `src_ix` reads src in the walked order.
void scatter_add_along(const OpCall& c, const Tensor& out, IntList out_shape, int64_t dim, const Tensor& src,
                       const cuda::StridedIndexer& src_ix, IntList walked, const Tensor& idx, IndexPick pick,
                       bool skip = false, int64_t skip_value = 0) {
  const cuda::DeviceGuard guard(out.device().index);
  const FaultRecord fault(out);
  const Shape out_strides = contiguous_strides(out_shape);
  pick.bound = out_shape[size_t(dim)];
  const bool ok = cuda::launch_index_scatter_add(
      src.dtype(), out.dtype(), idx.dtype(), src.raw_data(), src_ix, idx.raw_data(), pick, out.raw_data(),
      merged_indexer(walked, without_dim(out_strides, dim), c.name()), out_strides[size_t(dim)], numel_of(walked), skip,
      skip_value, fault.get(), cuda::stream_of(out));
  DOPPEL_CHECK_DTYPE(ok, "{}: CUDA has no atomic add for {}; cast to int32 (or a floating type) first", c.name(),
                     dtype_name(src.dtype()));
  raise_if_bad(fault, c.name(), dim, pick.bound);
}

void scatter_add_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Tensor& src = c.in(2);
  const Shape xs = shape_1d(x);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, int64_t(xs.size()));
  copy_into(out[0], x, c.name());
  // src is walked over the index's shape (it may be larger): the index's sizes, src's strides.
  const Shape walked = shape_1d(idx);
  scatter_add_along(c, out[0], xs, dim, src, merged_indexer(walked, strides_1d(src), c.name()), walked, idx,
                    per_position(c, idx));
}

void index_add_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const Tensor& src = c.in(2);
  const Shape xs = shape_1d(x), ss = shape_1d(src);
  const int64_t dim = wrap_dim(c.name(), DimAttrs::of(c.attrs).dim, int64_t(xs.size()));
  copy_into(out[0], x, c.name());
  scatter_add_along(c, out[0], xs, dim, src, merged_indexer(ss, strides_1d(src), c.name()), ss, idx,
                    per_coordinate(c, idx, ss, dim));
}

// The rows of grad_out summed into the rows the indices name, skipping padding_idx. The 16-bit
// types accumulate in a float32 scratch rounded once at the end (like the reference).
void embedding_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& g = c.in(0);
  const Tensor& idx = c.in(1);
  const Tensor& o = out[0];
  const int64_t V = o.shape()[0], D = o.shape()[1];
  const std::optional<int64_t> pad_attr = EmbeddingBackwardAttrs::of(c.attrs).padding_idx;
  const bool skip = pad_attr.has_value();
  const int64_t pad = skip && *pad_attr < 0 ? *pad_attr + V : pad_attr.value_or(0);
  const cuda::DeviceGuard guard(o.device().index);
  const bool narrow = o.dtype() == DType::BFloat16 || o.dtype() == DType::Float16;
  const Tensor acc = narrow ? make_tensor(o.shape(), DType::Float32, o.device()) : o;
  zero(acc);
  const Shape walked{idx.numel(), D};
  // grad_out walked row-major over its own shape is walked row-major over [n, D].
  scatter_add_along(c, acc, o.shape(), 0, g, merged_indexer(g.shape(), g.strides(), c.name()), walked, idx,
                    per_coordinate(c, idx, walked, 0), skip, pad);
  if (narrow)
    DOPPEL_CHECK_DTYPE(
        cuda::launch_narrow_float(o.dtype(), acc.data_ptr<float>(), o.raw_data(), o.numel(), cuda::stream_of(o)),
        "embedding_backward: no CUDA rounding to {}", dtype_name(o.dtype()));
}

void masked_fill_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor& mask = c.in(1);
  const Tensor& o = out[0];
  const std::string name(c.name());
  const cuda::DeviceGuard guard(o.device().index);
  const bool ok = cuda::launch_masked_fill(
      x.dtype(), x.raw_data(), cuda::indexer_for(x, o.shape(), name.c_str()), static_cast<const bool*>(mask.raw_data()),
      cuda::indexer_for(mask, o.shape(), name.c_str()), MaskedFillAttrs::of(c.attrs).value, o.raw_data(), o.numel(),
      cuda::stream_of(o));
  DOPPEL_CHECK_DTYPE(ok, "masked_fill: the CUDA kernel does not take dtype {}", dtype_name(x.dtype()));
}

void one_hot_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& idx = c.in(0);
  const Tensor& o = out[0];
  const int64_t classes = o.shape().back();
  const cuda::DeviceGuard guard(o.device().index);
  zero(o);
  const FaultRecord fault(o);
  cuda::launch_one_hot(idx.dtype(), idx.raw_data(), merged_indexer(idx.shape(), idx.strides(), c.name()), idx.numel(),
                       classes, o.data_ptr<int64_t>(), fault.get(), cuda::stream_of(o));
  const std::optional<int64_t> bad = fault.bad_index();
  DOPPEL_CHECK_INDEX(!bad, "one_hot: class index {} is out of range for num_classes {}", bad.value_or(0), classes);
}

// Each input fills its slab of the output along dim (empty 1-d inputs are skipped, as in the
// op's inference).
void cat_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& o = out[0];
  if (o.numel() == 0) return;
  const cuda::DeviceGuard guard(o.device().index);
  int64_t dim = -1, pos = 0;
  for (const Tensor& t : c.inputs) {
    if (t.dim() == 1 && t.shape()[0] == 0) continue;
    if (dim < 0) dim = wrap_dim("cat", DimAttrs::of(c.attrs).dim, t.dim());
    if (t.numel() > 0)
      copy_into(make_view(o, t.shape(), o.strides(), o.storage_offset() + pos * o.strides()[size_t(dim)]), t, "cat");
    pos += t.shape()[size_t(dim)];
  }
}

// Zero the output, then copy the gradient into the region the forward view covered (the view
// op's own geometry, as the reference kernel does).
void embed_gradient(OpId view_op, const Attrs& view_attrs, const Tensor& grad, const Tensor& out) {
  const cuda::DeviceGuard guard(out.device().index);
  zero(out);
  const Tensor outs[] = {out};
  const ViewGeometry g = op_def(view_op).view(OpCall{view_op, outs, view_attrs});
  DOPPEL_CHECK_SHAPE(g.shape == grad.shape(), "{}_backward: gradient shape {} differs from the view's shape {}",
                     op_name(view_op), shape_str(grad.shape()), shape_str(g.shape));
  if (grad.numel() > 0) copy_into(make_view(out, g.shape, g.strides, g.offset), grad, op_name(view_op));
}

void slice_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed_gradient(OpId::slice, forward_attrs(SliceBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0]);
}

void select_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  embed_gradient(OpId::select, forward_attrs(SelectBackwardAttrs::of(c.attrs)).pack(), c.in(0), out[0]);
}

}  // namespace

void cuda_indexing_kernels() {
  register_kernel(OpId::embedding, Backend::CUDA, {embedding_kernel});
  register_kernel(OpId::index_select, Backend::CUDA, {index_select_kernel});
  register_kernel(OpId::gather, Backend::CUDA, {gather_kernel});
  register_kernel(OpId::scatter_add, Backend::CUDA, {scatter_add_kernel});
  register_kernel(OpId::index_add, Backend::CUDA, {index_add_kernel});
  register_kernel(OpId::embedding_backward, Backend::CUDA, {embedding_backward_kernel});
  register_kernel(OpId::masked_fill, Backend::CUDA, {masked_fill_kernel});
  register_kernel(OpId::one_hot, Backend::CUDA, {one_hot_kernel});
  register_kernel(OpId::cat, Backend::CUDA, {cat_kernel});
  register_kernel(OpId::slice_backward, Backend::CUDA, {slice_backward_kernel});
  register_kernel(OpId::select_backward, Backend::CUDA, {select_backward_kernel});
}

}  // namespace doppel::registration
