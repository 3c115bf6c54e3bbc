// Reference kernels of the reductions and softmax. Every floating reduction accumulates in
// double (also for float32 and the 16-bit types): this is the test oracle, so it favours
// accuracy over speed. Integer sums and products accumulate in 64-bit with wrap-around, like
// PyTorch's int64 result.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/arg_reduce_dims.h"
#include "cpu/reference/reduce_rows.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/reduction.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using reference::from_double;
using reference::kIsFloat;
using reference::reduce_rows;
using reference::Rows;
using reference::to_rows;

Rows rows_of(const OpCall& c) {
  return to_rows(c.in(0), normalize_dims(c.name(), ReduceAttrs::of_prefix(c.attrs).dims, c.in(0).dim()));
}

void sum_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  auto body = [&]<typename T>() {
    if constexpr (kIsFloat<T>) {
      reduce_rows<T, T>(r, out[0], [](const T* p, int64_t n) {
        double a = 0;
        for (int64_t i = 0; i < n; ++i) a += double(p[i]);
        return from_double<T>(a);
      });
    } else {
      reduce_rows<T, int64_t>(r, out[0], [](const T* p, int64_t n) {
        uint64_t a = 0;  // unsigned: overflow wraps (defined) instead of UB
        for (int64_t i = 0; i < n; ++i) a += uint64_t(int64_t(p[i]));
        return int64_t(a);
      });
    }
  };
  DOPPEL_DISPATCH_ALL(c.in(0).dtype(), "sum", body);
}

void prod_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  auto body = [&]<typename T>() {
    if constexpr (kIsFloat<T>) {
      reduce_rows<T, T>(r, out[0], [](const T* p, int64_t n) {
        double a = 1;
        for (int64_t i = 0; i < n; ++i) a *= double(p[i]);
        return from_double<T>(a);
      });
    } else {
      reduce_rows<T, int64_t>(r, out[0], [](const T* p, int64_t n) {
        uint64_t a = 1;
        for (int64_t i = 0; i < n; ++i) a *= uint64_t(int64_t(p[i]));
        return int64_t(a);
      });
    }
  };
  DOPPEL_DISPATCH_ALL(c.in(0).dtype(), "prod", body);
}

void mean_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  auto body = [&]<typename T>() {
    reduce_rows<T, T>(r, out[0], [](const T* p, int64_t n) {
      double a = 0;
      for (int64_t i = 0; i < n; ++i) a += double(p[i]);
      return from_double<T>(a / double(n));  // n == 0: 0/0 = nan, as in PyTorch
    });
  };
  DOPPEL_DISPATCH_FLOATING(c.in(0).dtype(), "mean", body);
}

// amax/amin: NaN propagates (the first NaN wins), as in PyTorch.
template <bool kMax>
void extremum_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  auto body = [&]<typename T>() {
    reduce_rows<T, T>(r, out[0], [](const T* p, int64_t n) {
      using C = compute_t<T>;
      C m = C(p[0]);
      for (int64_t i = 0; i < n; ++i) {
        const C v = C(p[i]);
        if constexpr (kIsFloat<T>)
          if (std::isnan(v)) return T(v);
        if (kMax ? v > m : v < m) m = v;
      }
      return T(m);
    });
  };
  DOPPEL_DISPATCH_ALL(c.in(0).dtype(), c.name(), body);
}

// argmax/argmin: the first index of the extremum; a NaN counts as the extremum (PyTorch).
template <bool kMax>
void arg_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  const Shape dims = arg_reduce_dims(c);
  const Rows r = to_rows(x, dims);
  auto body = [&]<typename T>() {
    reduce_rows<T, int64_t>(r, out[0], [](const T* p, int64_t n) {
      using C = compute_t<T>;
      C best = C(p[0]);
      int64_t at = 0;
      for (int64_t i = 0; i < n; ++i) {
        const C v = C(p[i]);
        if constexpr (kIsFloat<T>) {
          if (std::isnan(v)) return i;
        }
        if (kMax ? v > best : v < best) {
          best = v;
          at = i;
        }
      }
      return at;
    });
  };
  DOPPEL_DISPATCH_ALL(x.dtype(), c.name(), body);
}

// Two-pass variance in double: the mean first, then the squared deviations from it (no
// catastrophic cancellation of E[x²] - E[x]²).
template <bool kStd>
void var_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  const int64_t correction = VarAttrs::of(c.attrs).correction;
  auto body = [&]<typename T>() {
    reduce_rows<T, T>(r, out[0], [correction](const T* p, int64_t n) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += double(p[i]);
      const double mean = s / double(n);
      double ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = double(p[i]) - mean;
        ss += d * d;
      }
      // PyTorch clamps the divisor at 0: n <= correction gives inf (or nan when ss is 0).
      const double v =
          (n == 0 ? std::numeric_limits<double>::quiet_NaN() : ss) / double(std::max<int64_t>(n - correction, 0));
      return from_double<T>(kStd ? std::sqrt(v) : v);
    });
  };
  DOPPEL_DISPATCH_FLOATING(c.in(0).dtype(), c.name(), body);
}

void logsumexp_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Rows r = rows_of(c);
  auto body = [&]<typename T>() {
    reduce_rows<T, T>(r, out[0], [](const T* p, int64_t n) {
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < n; ++i) {
        const double v = double(p[i]);
        if (std::isnan(v)) return from_double<T>(v);
        m = std::max(m, v);
      }
      // Shift by the max so exp cannot overflow; an infinite max is not subtracted (inf - inf
      // would be nan), which gives +inf for +inf and log(0) = -inf for all -inf or empty rows.
      const double shift = std::isfinite(m) ? m : 0.0;
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(double(p[i]) - shift);
      return from_double<T>(std::log(s) + shift);
    });
  };
  DOPPEL_DISPATCH_FLOATING(c.in(0).dtype(), "logsumexp", body);
}

// softmax / log_softmax along one dim: rows along `dim`, written back through the output's
// permuted view (in place when `dim` is the innermost, the common case).
template <bool kLog>
void softmax_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor& x = c.in(0);
  Shape dims;
  if (x.dim() > 0) dims.push_back(wrap_dim(c.name(), SoftmaxAttrs::of(c.attrs).dim, x.dim()));
  const Rows r = to_rows(x, dims);
  Strides out_strides;
  for (int64_t d : r.perm) out_strides.push_back(out[0].strides()[size_t(d)]);
  const Tensor out_view = make_view(out[0], r.perm_shape, out_strides, out[0].storage_offset());
  const Tensor dst = out_view.is_contiguous() ? out_view : make_tensor(r.perm_shape, x.dtype(), x.device());
  auto body = [&]<typename T>() {
    const T* in = r.data.data_ptr<T>();
    T* o = dst.data_ptr<T>();
    const int64_t n = r.inner;
    const int64_t grain = std::max<int64_t>(1, reference::kReduceGrain / std::max<int64_t>(n, 1));
    parallel_for(0, r.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        const T* p = in + row * n;
        T* q = o + row * n;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < n; ++i) m = std::max(m, double(p[i]));
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += std::exp(double(p[i]) - m);
        const double log_s = std::log(s);
        for (int64_t i = 0; i < n; ++i) {
          const double z = double(p[i]) - m;
          q[i] = from_double<T>(kLog ? z - log_s : std::exp(z) / s);
        }
      }
    });
  };
  DOPPEL_DISPATCH_FLOATING(x.dtype(), c.name(), body);
  if (!dst.is_same(out_view)) copy_strided(out_view, dst);
}

}  // namespace

void reference_softmax_backward_kernels();  // reduction_backward.cpp

void reference_reduction_kernels() {
  register_kernel(OpId::sum, Backend::Reference, {sum_kernel});
  register_kernel(OpId::mean, Backend::Reference, {mean_kernel});
  register_kernel(OpId::prod, Backend::Reference, {prod_kernel});
  register_kernel(OpId::amax, Backend::Reference, {extremum_kernel<true>});
  register_kernel(OpId::amin, Backend::Reference, {extremum_kernel<false>});
  register_kernel(OpId::argmax, Backend::Reference, {arg_kernel<true>});
  register_kernel(OpId::argmin, Backend::Reference, {arg_kernel<false>});
  register_kernel(OpId::var, Backend::Reference, {var_kernel<false>});
  register_kernel(OpId::std, Backend::Reference, {var_kernel<true>});
  register_kernel(OpId::logsumexp, Backend::Reference, {logsumexp_kernel});
  register_kernel(OpId::softmax, Backend::Reference, {softmax_kernel<false>});
  register_kernel(OpId::log_softmax, Backend::Reference, {softmax_kernel<true>});
  reference_softmax_backward_kernels();
}

}  // namespace doppel::registration
