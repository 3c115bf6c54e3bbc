// Host glue of the CUDA topk, sort, multinomial, tril and triu kernels (sorting.cu, triangle.cu):
// the same results as the reference kernels (kernels/cpu/reference/sorting.cpp, multinomial.cpp,
// triangle.cpp). sort and topk sort every line whole (CUB's segmented radix sort) and keep the
// first k; multinomial reads its fault record back (a stream synchronization) to raise the
// reference's ValueErrors on the calling thread.
#include <limits>

#include "cuda/common/cuda_common.h"
#include "cuda/common/merged_indexer.h"
#include "cuda/pointwise/operands.h"
#include "cuda/reduce_index/area_registration.h"
#include "cuda/reduce_index/fault_record.h"
#include "cuda/reduce_index/sorting_launch.h"
#include "doppel/core/error.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "selection.h"

namespace doppel::registration {
namespace {

cuda::StridedIndexer walk(const OpCall& c, const Tensor& t) {
  return cuda::merged_indexer(t.shape(), t.strides(), c.name());
}

// Both ops: the first k of each line's order.
void select_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto [dim, k, descending] = selection_of(c);
  const Tensor& x = c.in(0);
  if (out[kSortValues].numel() == 0) return;
  cuda::SortLines l;
  for (int64_t q = 0; q < x.dim(); ++q) (q < dim ? l.outer : q > dim ? l.inner : l.n) *= x.shape()[size_t(q)];
  const int64_t items = x.numel(), lines = l.outer * l.inner;
  DOPPEL_CHECK(items <= std::numeric_limits<int32_t>::max(),
               "{}: the CUDA kernel sorts at most 2^31 - 1 elements at once, got {} (shape {}); split the input",
               c.name(), items, shape_str(x.shape()));
  const cuda::DeviceGuard guard(x.device().index);
  const cudaStream_t stream = cuda::stream_of(x);
  const bool wide = cuda::wide_sort_keys(x.dtype());
  const DType key_dtype = wide ? DType::Int64 : DType::Int32;
  const Tensor keys = make_tensor(Shape{2, items}, key_dtype, x.device());
  const Tensor idx = make_tensor(Shape{2, items}, DType::Int64, x.device());
  const Tensor offsets = make_tensor(Shape{lines + 1}, DType::Int32, x.device());
  const auto* key_in = static_cast<const char*>(keys.raw_data());
  auto* key_out = static_cast<char*>(keys.raw_data()) + items * int64_t(keys.element_size());
  auto* idx_in = idx.data_ptr<int64_t>();
  int64_t* idx_out = idx_in + items;
  auto* offs = offsets.data_ptr<int32_t>();
  cuda::launch_sort_keys(x.dtype(), x.raw_data(), walk(c, x), l, descending, keys.raw_data(), idx_in, offs, stream);
  const size_t temp_bytes = cuda::sort_pairs_temp_bytes(wide, int32_t(items), int32_t(lines));
  const Tensor temp = make_tensor(Shape{int64_t(temp_bytes)}, DType::UInt8, x.device());
  cuda::launch_sort_pairs(wide, temp.raw_data(), temp_bytes, key_in, key_out, idx_in, idx_out, int32_t(items),
                          int32_t(lines), offs, stream);
  cuda::launch_sort_gather(x.dtype(), x.raw_data(), walk(c, x), l, k, idx_out, out[kSortValues].raw_data(),
                           out[kSortIndices].data_ptr<int64_t>(), stream);
}

template <bool kLower>
void triangle_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  if (x.numel() == 0) return;
  const cuda::DeviceGuard guard(x.device().index);
  cuda::launch_triangle(x.dtype(), x.raw_data(), walk(c, x), x.numel(), x.shape()[size_t(x.dim() - 2)],
                        x.shape().back(), TriangleAttrs::of(c.attrs).diagonal, kLower, out[0].raw_data(),
                        cuda::stream_of(x));
}

void multinomial_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const auto a = MultinomialAttrs::of(c.attrs);
  const int64_t n = x.shape().back(), rows = x.numel() / n;
  if (rows == 0) return;
  const cuda::DeviceGuard guard(x.device().index);
  // A contiguous float64 copy the kernel may change, made by the CUDA cast kernel (kernels never
  // call eager ops such as Tensor::to: doppel-run and doppel-serve link no eager layer).
  const Tensor w = make_tensor(x.shape(), DType::Float64, x.device());
  cuda::pw::copy_into(x, w, "multinomial");
  const cuda::FaultRecord fault(x);
  cuda::launch_multinomial(w.data_ptr<double>(), rows, n, a.num_samples, a.replacement, uint64_t(a.seed),
                           uint64_t(a.offset), out[0].data_ptr<int64_t>(), fault.get(), cuda::stream_of(x));
  const std::optional<int64_t> bad = fault.bad_index();
  if (!bad) return;
  const int64_t r = *bad / 4;
  DOPPEL_CHECK(*bad % 4 != 1,
               "multinomial: the weights must be finite and non-negative; row {} of the weights {} is not", r,
               shape_str(x.shape()));
  DOPPEL_CHECK(*bad % 4 != 2, "multinomial: row {} of the weights {} sums to zero; every row needs a positive weight",
               r, shape_str(x.shape()));
  DOPPEL_CHECK(false,
               "multinomial: row {} of the weights {} has too few categories of positive weight to draw {} samples "
               "without replacement",
               r, shape_str(x.shape()), a.num_samples);
}

}  // namespace

void cuda_sorting_kernels() {
  register_kernel(OpId::topk, Backend::CUDA, {select_kernel});
  register_kernel(OpId::sort, Backend::CUDA, {select_kernel});
  register_kernel(OpId::multinomial, Backend::CUDA, {multinomial_kernel});
  register_kernel(OpId::tril, Backend::CUDA, {triangle_kernel<true>});
  register_kernel(OpId::triu, Backend::CUDA, {triangle_kernel<false>});
}

}  // namespace doppel::registration
