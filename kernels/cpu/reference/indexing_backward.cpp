// Reference kernels of embedding_backward and index_add, the accumulating counterparts of
// embedding and index_select. Both are serial over the index entries (several entries may hit
// one row, and a fixed order keeps the floating-point sums reproducible) and parallel inside a
// row where rows are long.
#include <cstring>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/indexing.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

Tensor contiguous_values(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  Tensor v = make_tensor(t.shape(), dtype, t.device());
  copy_strided(v, t);
  return v;
}

void check_range(std::string_view op, const int64_t* p, int64_t n, int64_t size) {
  for (int64_t k = 0; k < n; ++k)
    DOPPEL_CHECK_INDEX(p[k] >= 0 && p[k] < size, "{}: index {} is out of range for size {} (valid: 0 to {})", op, p[k],
                       size, size - 1);
}

// double for double, float for the others (16-bit floats accumulate in float).
template <typename T>
using accum_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// out[idx[k], :] += grad[k, :] for every k whose index is not padding_idx.
void embedding_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor g = contiguous_values(c.in(0), c.in(0).dtype());
  const Tensor idx = contiguous_values(c.in(1), DType::Int64);
  const int64_t V = out[0].shape()[0], D = out[0].shape()[1], n = idx.numel();
  const int64_t* p = idx.data_ptr<int64_t>();
  check_range("embedding_backward", p, n, V);
  const std::optional<int64_t> pad_attr = EmbeddingBackwardAttrs::of(c.attrs).padding_idx;
  const int64_t pad = !pad_attr ? -1 : (*pad_attr < 0 ? *pad_attr + V : *pad_attr);
  DOPPEL_DISPATCH_FLOATING(g.dtype(), "embedding_backward", [&]<typename T>() {
    // Accumulate in compute precision (float for 16-bit types) into a scratch, then round once.
    using A = accum_t<T>;
    std::vector<A> acc(size_t(V * D), A(0));
    const T* pg = g.data_ptr<T>();
    // Parallel over column blocks: each thread owns its columns of every row, so there are no
    // races, and within a column the index order is fixed.
    parallel_for(0, D, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n, 1)), [&](int64_t d0, int64_t d1) {
      for (int64_t k = 0; k < n; ++k) {
        if (p[k] == pad) continue;
        A* row = acc.data() + p[k] * D;
        const T* src = pg + k * D;
        for (int64_t d = d0; d < d1; ++d) row[d] += A(compute_t<T>(src[d]));
      }
    });
    T* po = out[0].data_ptr<T>();
    for (int64_t k = 0; k < V * D; ++k) po[k] = T(compute_t<T>(acc[size_t(k)]));
  });
}

// out = input; out.select(dim, index[j]) += source.select(dim, j).
void index_add_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Tensor idx = contiguous_values(c.in(1), DType::Int64);
  const Tensor src = contiguous_values(c.in(2), c.in(2).dtype());
  const int64_t rank = std::max<int64_t>(x.dim(), 1);
  const int64_t dim = wrap_dim("index_add", DimAttrs::of(c.attrs).dim, rank);
  copy_strided(out[0], x);  // out is contiguous
  const Shape xs = x.dim() == 0 ? Shape{1} : Shape(x.shape());
  const int64_t size = xs[size_t(dim)], n = idx.numel();
  const int64_t* p = idx.data_ptr<int64_t>();
  check_range("index_add", p, n, size);
  if (out[0].numel() == 0 || n == 0) return;
  // Both contiguous: view them as [outer, size or n, inner].
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= xs[size_t(d)];
  for (int64_t d = dim + 1; d < rank; ++d) inner *= xs[size_t(d)];
  DOPPEL_DISPATCH_ALL(x.dtype(), "index_add", [&]<typename T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* ps = src.data_ptr<T>();
      T* po = out[0].data_ptr<T>();
      parallel_for(0, outer, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(n * inner, 1)),
                   [&](int64_t o0, int64_t o1) {
                     for (int64_t o = o0; o < o1; ++o)
                       for (int64_t j = 0; j < n; ++j) {
                         T* dst = po + (o * size + p[j]) * inner;
                         const T* s = ps + (o * n + j) * inner;
                         for (int64_t i = 0; i < inner; ++i)
                           dst[i] = T(compute_t<T>(compute_t<T>(dst[i]) + compute_t<T>(s[i])));
                       }
                   });
    }
  });
}

}  // namespace

void reference_indexing_backward_kernels() {
  register_kernel(OpId::embedding_backward, Backend::Reference, {embedding_backward_kernel});
  register_kernel(OpId::index_add, Backend::Reference, {index_add_kernel});
}

}  // namespace doppel::registration
