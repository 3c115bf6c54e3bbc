// Reference kernel of convolution_backward: grad_input, grad_weight and grad_bias of a forward or
// transposed convolution with 1-3 spatial dims, in plain loops accumulated in double (this is
// the test oracle of the oneDNN kernel).
//
// Both kinds of convolution are one relation between a "dense-side" tensor A [N, Ca, a...], a
// "strided-side" tensor B [N, Cb, b...] and a weight W [Cb, Ca/G, k...]:
//   B[n, cb, o] = sum_{ca in cb's group, k} A[n, ca, o*s - p + k*d] * W[cb, ca % (Ca/G), k].
// A forward convolution maps A = input to B = output (weight [Cout, Cin/G, k...]); a transposed
// one maps B = input to A = output (weight [Cin, Cout/G, k...]). So every gradient is one of
// three loops: B from A (forward relation), A from B (its adjoint), W from (A, B).
#include <algorithm>
#include <cstring>
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// Spatial lists padded to 3 dims (missing leading dims: size 1, stride 1, no padding).
struct Rel {
  int64_t N = 0, Ca = 0, Cb = 0, G = 1;
  int64_t a[3] = {1, 1, 1}, b[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  int64_t a_plane() const { return a[0] * a[1] * a[2]; }
  int64_t b_plane() const { return b[0] * b[1] * b[2]; }
  int64_t kvol() const { return k[0] * k[1] * k[2]; }
  // The range [lo, hi) of o along `axis` whose dense-side index o*s - p + kk*d is inside A.
  void o_range(int axis, int64_t kk, int64_t& lo, int64_t& hi) const {
    const int64_t off = kk * d[axis] - p[axis];  // i = o*s + off
    lo = off >= 0 ? 0 : (-off + s[axis] - 1) / s[axis];
    const int64_t last = a[axis] - 1 - off;  // o*s <= last
    hi = last < 0 ? 0 : std::min(b[axis], last / s[axis] + 1);
  }
};

// Tasks per parallel chunk so that tiny problems (gradcheck's) run inline instead of paying for
// a parallel region per call.
int64_t grain_for(int64_t work_per_task) {
  return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, work_per_task));
}

// Calls f(o_flat, i_flat) for every pair of positions linked by kernel offset (k0, k1, k2).
template <typename F>
void for_pairs(const Rel& r, int64_t k0, int64_t k1, int64_t k2, F&& f) {
  int64_t lo[3], hi[3];
  r.o_range(0, k0, lo[0], hi[0]);
  r.o_range(1, k1, lo[1], hi[1]);
  r.o_range(2, k2, lo[2], hi[2]);
  const int64_t off[3] = {k0 * r.d[0] - r.p[0], k1 * r.d[1] - r.p[1], k2 * r.d[2] - r.p[2]};
  for (int64_t o0 = lo[0]; o0 < hi[0]; ++o0)
    for (int64_t o1 = lo[1]; o1 < hi[1]; ++o1) {
      const int64_t ob = (o0 * r.b[1] + o1) * r.b[2];
      const int64_t ib = ((o0 * r.s[0] + off[0]) * r.a[1] + (o1 * r.s[1] + off[1])) * r.a[2] + off[2];
      for (int64_t o2 = lo[2]; o2 < hi[2]; ++o2) f(ob + o2, ib + o2 * r.s[2]);
    }
}

// B = relation(A, W), one (n, cb) plane per task.
template <typename T>
void b_from_a(const Rel& r, const T* A, const T* W, T* B) {
  const int64_t ca_g = r.Ca / r.G, cb_g = r.Cb / r.G, bp = r.b_plane(), ap = r.a_plane(), kv = r.kvol();
  parallel_for(0, r.N * r.Cb, grain_for(ca_g * kv * bp), [&](int64_t q0, int64_t q1) {
    std::vector<double> acc(static_cast<size_t>(bp));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / r.Cb, cb = q % r.Cb, grp = cb / cb_g;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t cal = 0; cal < ca_g; ++cal) {
        const T* ap_ = A + (n * r.Ca + grp * ca_g + cal) * ap;
        const T* wp = W + (cb * ca_g + cal) * kv;
        for (int64_t k0 = 0; k0 < r.k[0]; ++k0)
          for (int64_t k1 = 0; k1 < r.k[1]; ++k1)
            for (int64_t k2 = 0; k2 < r.k[2]; ++k2) {
              const double w = double(compute_t<T>(wp[(k0 * r.k[1] + k1) * r.k[2] + k2]));
              for_pairs(r, k0, k1, k2,
                        [&](int64_t o, int64_t i) { acc[size_t(o)] += double(compute_t<T>(ap_[i])) * w; });
            }
      }
      T* out = B + q * bp;
      for (int64_t o = 0; o < bp; ++o) out[o] = T(compute_t<T>(acc[size_t(o)]));
    }
  });
}

// A = adjoint of the relation applied to B, one (n, ca) plane per task.
template <typename T>
void a_from_b(const Rel& r, const T* B, const T* W, T* A) {
  const int64_t ca_g = r.Ca / r.G, cb_g = r.Cb / r.G, bp = r.b_plane(), ap = r.a_plane(), kv = r.kvol();
  parallel_for(0, r.N * r.Ca, grain_for(cb_g * kv * bp), [&](int64_t q0, int64_t q1) {
    std::vector<double> acc(static_cast<size_t>(ap));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / r.Ca, ca = q % r.Ca, grp = ca / ca_g, cal = ca % ca_g;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t cbl = 0; cbl < cb_g; ++cbl) {
        const int64_t cb = grp * cb_g + cbl;
        const T* bp_ = B + (n * r.Cb + cb) * bp;
        const T* wp = W + (cb * ca_g + cal) * kv;
        for (int64_t k0 = 0; k0 < r.k[0]; ++k0)
          for (int64_t k1 = 0; k1 < r.k[1]; ++k1)
            for (int64_t k2 = 0; k2 < r.k[2]; ++k2) {
              const double w = double(compute_t<T>(wp[(k0 * r.k[1] + k1) * r.k[2] + k2]));
              for_pairs(r, k0, k1, k2,
                        [&](int64_t o, int64_t i) { acc[size_t(i)] += double(compute_t<T>(bp_[o])) * w; });
            }
      }
      T* out = A + q * ap;
      for (int64_t i = 0; i < ap; ++i) out[i] = T(compute_t<T>(acc[size_t(i)]));
    }
  });
}

// W[cb, cal, k] = sum_{n, o} B[n, cb, o] * A[n, ca, o*s - p + k*d], one (cb, cal) pair per task.
template <typename T>
void w_from_ab(const Rel& r, const T* A, const T* B, T* W) {
  const int64_t ca_g = r.Ca / r.G, cb_g = r.Cb / r.G, bp = r.b_plane(), ap = r.a_plane(), kv = r.kvol();
  parallel_for(0, r.Cb * ca_g, grain_for(kv * r.N * bp), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t cb = q / ca_g, cal = q % ca_g, ca = (cb / cb_g) * ca_g + cal;
      for (int64_t k0 = 0; k0 < r.k[0]; ++k0)
        for (int64_t k1 = 0; k1 < r.k[1]; ++k1)
          for (int64_t k2 = 0; k2 < r.k[2]; ++k2) {
            double acc = 0;
            for (int64_t n = 0; n < r.N; ++n) {
              const T* ap_ = A + (n * r.Ca + ca) * ap;
              const T* bp_ = B + (n * r.Cb + cb) * bp;
              for_pairs(r, k0, k1, k2, [&](int64_t o, int64_t i) {
                acc += double(compute_t<T>(bp_[o])) * double(compute_t<T>(ap_[i]));
              });
            }
            W[q * kv + (k0 * r.k[1] + k1) * r.k[2] + k2] = T(compute_t<T>(acc));
          }
    }
  });
}

// grad_bias[c] = sum over batch and space of grad_out[:, c].
template <typename T>
void bias_grad(const T* go, int64_t N, int64_t C, int64_t plane, T* gb) {
  parallel_for(0, C, grain_for(N * plane), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) {
        const T* p = go + (n * C + c) * plane;
        for (int64_t i = 0; i < plane; ++i) acc += double(compute_t<T>(p[i]));
      }
      gb[c] = T(compute_t<T>(acc));
    }
  });
}

void convolution_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor go = contiguous_of(c.in(0)), x = contiguous_of(c.in(1)), w = contiguous_of(c.in(2));
  const auto attr = ConvolutionAttrs::of_prefix(c.attrs);
  const bool transposed = attr.transposed;
  const Shape mask = ConvolutionBackwardAttrs::of(c.attrs).output_mask;
  // Dense side A and strided side B (see the top of the file).
  const Tensor& a_t = transposed ? go : x;
  const Tensor& b_t = transposed ? x : go;
  Rel r;
  r.N = x.size(0);
  r.Ca = a_t.size(1);
  r.Cb = b_t.size(1);
  r.G = attr.groups;
  const int nsp = int(x.dim() - 2), off = 3 - nsp;
  for (int i = 0; i < nsp; ++i) {
    r.a[off + i] = a_t.size(2 + i);
    r.b[off + i] = b_t.size(2 + i);
    r.k[off + i] = w.size(2 + i);
    r.s[off + i] = attr.stride[size_t(i)];
    r.p[off + i] = attr.padding[size_t(i)];
    r.d[off + i] = attr.dilation[size_t(i)];
  }
  DOPPEL_DISPATCH_FLOATING(x.dtype(), "convolution_backward", [&]<typename T>() {
    if (mask[0] && x.numel() > 0) {
      if (transposed)
        b_from_a<T>(r, go.data_ptr<T>(), w.data_ptr<T>(), out[0].data_ptr<T>());
      else
        a_from_b<T>(r, go.data_ptr<T>(), w.data_ptr<T>(), out[0].data_ptr<T>());
    }
    if (mask[1] && w.numel() > 0) {
      if (x.numel() == 0) {
        std::memset(out[1].raw_data(), 0, out[1].nbytes());
      } else if (transposed) {
        w_from_ab<T>(r, go.data_ptr<T>(), x.data_ptr<T>(), out[1].data_ptr<T>());
      } else {
        w_from_ab<T>(r, x.data_ptr<T>(), go.data_ptr<T>(), out[1].data_ptr<T>());
      }
    }
    if (mask[2] && out[2].numel() > 0)
      bias_grad<T>(go.data_ptr<T>(), go.size(0), go.size(1), go.numel() / std::max<int64_t>(1, go.size(0) * go.size(1)),
                   out[2].data_ptr<T>());
  });
}

}  // namespace

void reference_convolution_backward_kernels() {
  register_kernel(OpId::convolution_backward, Backend::Reference, {convolution_backward_kernel});
}

}  // namespace doppel::registration
