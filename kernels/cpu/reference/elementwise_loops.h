#pragma once
// Internal to the elementwise reference kernels: loops that map a per-element function over
// tensors of any strides (broadcast inputs have stride 0), writing outputs of any strides.
// Contiguous same-shape operands take a direct loop without any per-run bookkeeping, which is
// what keeps tiny ops (add of two 8-element tensors) cheap; large loops split across threads.
#include <array>

#include "cpu/elementwise_math.h"
#include "doppel/core/strided_loop.h"
#include "doppel/core/tensor.h"
#include "doppel/kernels/parallel.h"

namespace doppel::ew_loops {

// Below this many elements a loop runs on the calling thread.
inline constexpr int64_t kGrain = 32768;

// `t`'s strides for iterating `shape` (t broadcasts to it): leading and size-1 dims get 0.
inline Strides broadcast_strides(const Tensor& t, IntList shape) {
  Strides s(shape.size(), 0);
  const size_t off = shape.size() - size_t(t.dim());
  for (size_t d = 0; d < size_t(t.dim()); ++d)
    s[off + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return s;
}

// for_each_strided, with the outermost coalesced dim split across threads when large.
template <size_t K, typename Body>
void parallel_strided(IntList shape, const std::array<IntList, K>& strides, Body&& body) {
  const int64_t numel = numel_of(shape);
  if (numel == 0) return;
  if (numel <= kGrain) {
    for_each_strided<K>(shape, strides, body);
    return;
  }
  const StridedLayout<K> L = coalesce<K>(shape, strides);
  const int64_t d0 = L.shape[0];
  const int64_t inner = numel / d0;
  parallel_for(0, d0, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
    Shape sub = L.shape;
    sub[0] = e - b;
    std::array<IntList, K> st;
    for (size_t k = 0; k < K; ++k) st[k] = L.strides[k];
    for_each_strided<K>(sub, st, [&](std::array<int64_t, K> off, int64_t n, std::array<int64_t, K> in) {
      for (size_t k = 0; k < K; ++k) off[k] += b * L.strides[k][0];
      body(off, n, in);
    });
  });
}

// out[i] = f(x[i]); f takes compute_t<In> and returns something convertible to Out.
template <typename In, typename Out, typename F>
void map_unary(const Tensor& x, const Tensor& out, F f) {
  using C = compute_t<In>;
  const In* xp = static_cast<const In*>(x.raw_data());
  Out* op = static_cast<Out*>(out.raw_data());
  if (x.is_contiguous() && out.is_contiguous() && x.shape() == out.shape()) {
    parallel_for(0, out.numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) op[i] = static_cast<Out>(f(static_cast<C>(xp[i])));
    });
    return;
  }
  const Strides xs = broadcast_strides(x, out.shape());
  parallel_strided<2>(out.shape(), {IntList(out.strides()), IntList(xs)},
                      [&](std::array<int64_t, 2> off, int64_t n, std::array<int64_t, 2> st) {
                        Out* o = op + off[0];
                        const In* xi = xp + off[1];
                        if (st[0] == 1 && st[1] == 1) {
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(static_cast<C>(xi[i])));
                        } else {
                          for (int64_t i = 0; i < n; ++i)
                            o[i * st[0]] = static_cast<Out>(f(static_cast<C>(xi[i * st[1]])));
                        }
                      });
}

// out[i] = f(a[i], b[i]) with a and b broadcast to out's shape; both inputs have dtype In.
template <typename In, typename Out, typename F>
void map_binary(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  using C = compute_t<In>;
  const In* ap = static_cast<const In*>(a.raw_data());
  const In* bp = static_cast<const In*>(b.raw_data());
  Out* op = static_cast<Out*>(out.raw_data());
  const Shape& shape = out.shape();
  if (out.is_contiguous() && a.is_contiguous() && a.shape() == shape) {
    if (b.is_contiguous() && b.shape() == shape) {
      parallel_for(0, out.numel(), kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) op[i] = static_cast<Out>(f(static_cast<C>(ap[i]), static_cast<C>(bp[i])));
      });
      return;
    }
    if (b.numel() == 1) {  // tensor op scalar
      const C bv = static_cast<C>(bp[0]);
      parallel_for(0, out.numel(), kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) op[i] = static_cast<Out>(f(static_cast<C>(ap[i]), bv));
      });
      return;
    }
  }
  const Strides as = broadcast_strides(a, shape), bs = broadcast_strides(b, shape);
  parallel_strided<3>(shape, {IntList(out.strides()), IntList(as), IntList(bs)},
                      [&](std::array<int64_t, 3> off, int64_t n, std::array<int64_t, 3> st) {
                        Out* o = op + off[0];
                        const In* ai = ap + off[1];
                        const In* bi = bp + off[2];
                        if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                          for (int64_t i = 0; i < n; ++i)
                            o[i] = static_cast<Out>(f(static_cast<C>(ai[i]), static_cast<C>(bi[i])));
                        } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
                          const C bv = static_cast<C>(bi[0]);
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(static_cast<C>(ai[i]), bv));
                        } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
                          const C av = static_cast<C>(ai[0]);
                          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(av, static_cast<C>(bi[i])));
                        } else {
                          for (int64_t i = 0; i < n; ++i)
                            o[i * st[0]] =
                                static_cast<Out>(f(static_cast<C>(ai[i * st[1]]), static_cast<C>(bi[i * st[2]])));
                        }
                      });
}

// out[i] = cond[i] ? a[i] : b[i], all broadcast to out's shape; a, b and out have dtype T.
template <typename T>
void map_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const bool* cp = static_cast<const bool*>(cond.raw_data());
  const T* ap = static_cast<const T*>(a.raw_data());
  const T* bp = static_cast<const T*>(b.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  const Shape& shape = out.shape();
  const Strides cs = broadcast_strides(cond, shape), as = broadcast_strides(a, shape), bs = broadcast_strides(b, shape);
  parallel_strided<4>(shape, {IntList(out.strides()), IntList(cs), IntList(as), IntList(bs)},
                      [&](std::array<int64_t, 4> off, int64_t n, std::array<int64_t, 4> st) {
                        for (int64_t i = 0; i < n; ++i)
                          op[off[0] + i * st[0]] = ew::where(cp[off[1] + i * st[1]], ap[off[2] + i * st[2]], bp[off[3] + i * st[3]]);
                      });
}

}  // namespace doppel::ew_loops
