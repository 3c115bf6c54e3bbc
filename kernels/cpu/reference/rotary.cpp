// Reference kernel of apply_rotary: y = x * cos + rotate_half(x) * sin, rotate_half(x) =
// cat(-x2, x1) of the halves of the last dim, in double, cos and sin broadcast to x.
#include "cpu/transformer_common.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

void apply_rotary_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0));
  const Tensor cs = transformer_detail::broadcast_contiguous(c.in(1), x.shape());
  const Tensor sn = transformer_detail::broadcast_contiguous(c.in(2), x.shape());
  const int64_t D = x.dim() == 0 ? 1 : x.shape().back(), half = D / 2;
  const int64_t rows = D == 0 ? 0 : x.numel() / D;
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "apply_rotary", [&]<typename T>() {
    const T* px = x.data_ptr<T>();
    const T* pc = cs.data_ptr<T>();
    const T* ps = sn.data_ptr<T>();
    T* po = out[0].data_ptr<T>();
    const auto rd = [](T v) { return double(compute_t<T>(v)); };
    parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t i = 0; i < D; ++i) {
          const int64_t k = r * D + i;
          const double rot = i < half ? -rd(px[k + half]) : rd(px[k - half]);
          po[k] = T(compute_t<T>(rd(px[k]) * rd(pc[k]) + rot * rd(ps[k])));
        }
    });
  });
}

}  // namespace

void reference_rotary_kernels() { register_kernel(OpId::apply_rotary, Backend::Reference, {apply_rotary_kernel}); }

}  // namespace doppel::registration
