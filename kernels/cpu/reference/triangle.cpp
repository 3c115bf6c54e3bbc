// Reference kernels of tril and triu: each matrix of the last two dims keeps the elements on
// and below (tril) or on and above (triu) diagonal `diagonal` (0: the main diagonal, positive:
// above it) and zeroes the others; every dtype, any leading batch dims.
#include <algorithm>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/sorting.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

template <bool kLower>
void triangle_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& o = out[0];
  if (o.numel() == 0) return;
  const Tensor x = contiguous_of(c.in(0));
  const int64_t diag = TriangleAttrs::of(c.attrs).diagonal;
  const int64_t rows = x.shape()[size_t(x.dim() - 2)], cols = x.shape().back();
  DOPPEL_DISPATCH_ALL(x.dtype(), c.name(), [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    T* po = o.data_ptr<T>();
    // Row r of a matrix keeps the columns [begin, end): col - r <= diag (tril), >= diag (triu).
    parallel_for(0, x.numel() / cols, std::max<int64_t>(1, (int64_t(1) << 14) / cols), [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) {
        const int64_t r = q % rows;
        const int64_t begin = kLower ? 0 : std::clamp<int64_t>(r + diag, 0, cols);
        const int64_t end = kLower ? std::clamp<int64_t>(r + diag + 1, 0, cols) : cols;
        const T* src = px + q * cols;
        T* dst = po + q * cols;
        std::fill(dst, dst + begin, T(0));
        std::copy(src + begin, src + end, dst + begin);
        std::fill(dst + end, dst + cols, T(0));
      }
    });
  });
}

}  // namespace

void reference_triangle_kernels() {
  register_kernel(OpId::tril, Backend::Reference, {triangle_kernel<true>});
  register_kernel(OpId::triu, Backend::Reference, {triangle_kernel<false>});
}

}  // namespace doppel::registration
