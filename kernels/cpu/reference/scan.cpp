// Reference kernels of the scan ops. The input is converted into the (contiguous) output first,
// then each line along dim is scanned in place, accumulating like PyTorch's CPU kernels: double
// for float32/float64, float for the 16-bit floats, 64 bits (wrapping) for integers.
#include <type_traits>
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/scan.h"
#include "lines.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using reference::for_lines;
using reference::Lines;
using reference::lines_of;

template <typename T>
using scan_acc_t = std::conditional_t<std::is_integral_v<T>, uint64_t,
                                      std::conditional_t<std::is_same_v<T, float>, double, compute_t<T>>>;

template <typename T>
T from_acc(scan_acc_t<T> a) {
  if constexpr (std::is_same_v<T, bool>)
    return a != 0;
  else if constexpr (std::is_integral_v<T>)
    return T(int64_t(a));
  else
    return T(a);
}

template <typename T>
scan_acc_t<T> to_acc(T v) {
  if constexpr (std::is_integral_v<T>)
    return scan_acc_t<T>(int64_t(v));
  else
    return scan_acc_t<T>(compute_t<T>(v));
}

template <bool kProduct>
void scan_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& o = out[0];
  if (o.numel() == 0) return;
  copy_strided(o, c.in(0));
  const Lines l = lines_of(o.shape(), wrap_dim(c.name(), ScanAttrs::of(c.attrs).dim, std::max<int64_t>(o.dim(), 1)));
  DOPPEL_DISPATCH_ALL(o.dtype(), c.name(), [&]<typename T>() {
    T* p = o.data_ptr<T>();
    for_lines(l, [&](int64_t, int64_t off) {
      const int64_t st = l.inner;
      scan_acc_t<T> acc = to_acc(p[off]);
      for (int64_t k = 1; k < l.n; ++k) {
        T& v = p[off + k * st];
        if constexpr (kProduct)
          acc = scan_acc_t<T>(acc * to_acc(v));
        else
          acc = scan_acc_t<T>(acc + to_acc(v));
        v = from_acc<T>(acc);
      }
    });
  });
}

// grad_in[k] = prod(x[0..k-1]) * S[k], S[k] = sum_{j >= k} grad[j] * prod(x[k+1..j]), with the
// recurrence S[k] = grad[k] + x[k+1] * S[k+1]: no division, so zeros in x need no special case
// (the value PyTorch's zero-aware formula gives).
void cumprod_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& o = out[0];
  if (o.numel() == 0) return;
  const Tensor g = contiguous_of(c.in(0)), x = contiguous_of(c.in(1));
  const Lines l = lines_of(
      o.shape(), wrap_dim("cumprod_backward", CumprodBackwardAttrs::of(c.attrs).dim, std::max<int64_t>(o.dim(), 1)));
  DOPPEL_DISPATCH_FLOATING(o.dtype(), "cumprod_backward", [&]<typename T>() {
    using acc_t = scan_acc_t<T>;
    const T* pg = g.data_ptr<T>();
    const T* px = x.data_ptr<T>();
    T* po = o.data_ptr<T>();
    for_lines(l, [&](int64_t, int64_t off) {
      const int64_t st = l.inner;
      std::vector<acc_t> prefix(size_t(l.n));
      acc_t run = 1;
      for (int64_t k = 0; k < l.n; ++k) {
        prefix[size_t(k)] = run;
        run *= acc_t(px[off + k * st]);
      }
      acc_t s = 0;
      for (int64_t k = l.n - 1; k >= 0; --k) {
        s = acc_t(pg[off + k * st]) + (k + 1 < l.n ? acc_t(px[off + (k + 1) * st]) * s : acc_t(0));
        po[off + k * st] = T(prefix[size_t(k)] * s);
      }
    });
  });
}

}  // namespace

void reference_scan_kernels() {
  register_kernel(OpId::cumsum, Backend::Reference, {scan_kernel<false>});
  register_kernel(OpId::cumprod, Backend::Reference, {scan_kernel<true>});
  register_kernel(OpId::cumprod_backward, Backend::Reference, {cumprod_backward_kernel});
}

}  // namespace doppel::registration
