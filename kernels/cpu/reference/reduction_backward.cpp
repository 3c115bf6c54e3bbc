// Reference kernels of softmax_backward and log_softmax_backward (grad_output g, forward
// output y; dim), in double per row along `dim`:
//   softmax:     dx = y · (g - Σ g·y)
//   log_softmax: dx = g - exp(y) · Σ g
#include <algorithm>
#include <cmath>

#include "cpu/reference/reduce_rows.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using reference::from_double;
using reference::Rows;
using reference::to_rows;

template <bool kLog>
void softmax_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& g = c.in(0);
  const Tensor& y = c.in(1);
  Shape dims;
  if (y.dim() > 0) dims.push_back(wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, y.dim()));
  const Rows gr = to_rows(g, dims), yr = to_rows(y, dims);
  // The output is contiguous in the original order; write rows through its permuted view
  // (directly when `dim` is the innermost, the common case).
  Strides out_strides;
  for (int64_t d : yr.perm) out_strides.push_back(out[0].strides()[size_t(d)]);
  const Tensor out_view = make_view(out[0], yr.perm_shape, out_strides, out[0].storage_offset());
  const Tensor dst = out_view.is_contiguous() ? out_view : make_tensor(yr.perm_shape, y.dtype(), y.device());
  auto body = [&]<typename T>() {
    const T* gp = gr.data.data_ptr<T>();
    const T* yp = yr.data.data_ptr<T>();
    T* o = dst.data_ptr<T>();
    const int64_t n = yr.inner;
    const int64_t grain = std::max<int64_t>(1, reference::kReduceGrain / std::max<int64_t>(n, 1));
    parallel_for(0, yr.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        const T* gi = gp + row * n;
        const T* yi = yp + row * n;
        T* q = o + row * n;
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += kLog ? double(gi[i]) : double(gi[i]) * double(yi[i]);
        for (int64_t i = 0; i < n; ++i) {
          const double gv = double(gi[i]), yv = double(yi[i]);
          q[i] = from_double<T>(kLog ? gv - std::exp(yv) * s : yv * (gv - s));
        }
      }
    });
  };
  DOPPEL_DISPATCH_FLOATING(y.dtype(), c.name(), body);
  if (!dst.is_same(out_view)) copy_strided(out_view, dst);
}

}  // namespace

void reference_softmax_backward_kernels() {
  register_kernel(OpId::softmax_backward, Backend::Reference, {softmax_backward_kernel<false>});
  register_kernel(OpId::log_softmax_backward, Backend::Reference, {softmax_backward_kernel<true>});
}

}  // namespace doppel::registration
