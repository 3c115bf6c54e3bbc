// Reference kernel of convolution: the direct gather formula for 1-3 spatial dims, forward and
// transposed, computed per output element (so planes run in parallel without races).
#include <algorithm>
#include <vector>

#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/op_attrs/linalg.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

// Every spatial list padded to 3 dims (missing leading dims: size 1, stride 1, no padding).
struct ConvGeom {
  int64_t N = 0, Cin = 0, Cout = 0, G = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  bool transposed = false;
};

template <typename T>
void conv(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  using acc_t = compute_t<T>;
  const int64_t cin_g = g.Cin / g.G, cout_g = g.Cout / g.G;
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2], out_plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t kvol = g.k[0] * g.k[1] * g.k[2];
  // Small problems (gradcheck's many tiny calls) run inline instead of opening a parallel region.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, cin_g * kvol * out_plane));
  parallel_for(0, g.N * g.Cout, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t n = plane / g.Cout, oc = plane % g.Cout, grp = oc / cout_g, ocl = oc % cout_g;
      T* yp = y + plane * out_plane;
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            acc_t acc = bias ? acc_t(bias[oc]) : acc_t(0);
            const int64_t o[3] = {o0, o1, o2};
            for (int64_t icl = 0; icl < cin_g; ++icl) {
              const int64_t ic = grp * cin_g + icl;
              const T* xp = x + (n * g.Cin + ic) * in_plane;
              // Forward weight [Cout, Cin/G, k...]; transposed weight [Cin, Cout/G, k...].
              const T* wp = g.transposed ? w + (ic * cout_g + ocl) * kvol : w + (oc * cin_g + icl) * kvol;
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                    const int64_t kk[3] = {k0, k1, k2};
                    int64_t i[3];
                    bool ok = true;
                    for (int a = 0; a < 3 && ok; ++a) {
                      if (!g.transposed) {
                        i[a] = o[a] * g.s[a] - g.p[a] + kk[a] * g.d[a];
                      } else {
                        // Output o receives input i when i * s - p + k * d == o.
                        const int64_t t = o[a] + g.p[a] - kk[a] * g.d[a];
                        ok = t >= 0 && t % g.s[a] == 0;
                        i[a] = t / g.s[a];
                      }
                      ok = ok && i[a] >= 0 && i[a] < g.in[a];
                    }
                    if (!ok) continue;
                    acc += acc_t(xp[(i[0] * g.in[1] + i[1]) * g.in[2] + i[2]]) *
                           acc_t(wp[(k0 * g.k[1] + k1) * g.k[2] + k2]);
                  }
            }
            yp[(o0 * g.out[1] + o1) * g.out[2] + o2] = T(acc);
          }
    }
  });
}

void convolution_kernel(const OpCall& c, std::span<const Tensor> out) {
  const Tensor x = contiguous_of(c.in(0)), w = contiguous_of(c.in(1));
  const Tensor bias = c.inputs.size() > 2 && c.in(2).defined() ? contiguous_of(c.in(2)) : Tensor();
  const Tensor& y = out[0];
  ConvGeom g;
  const auto attr = ConvolutionAttrs::of_prefix(c.attrs);
  g.transposed = attr.transposed;
  g.N = x.size(0);
  g.Cin = x.size(1);
  g.Cout = y.size(1);
  g.G = attr.groups;
  const int nsp = int(x.dim() - 2), off = 3 - nsp;
  for (int a = 0; a < nsp; ++a) {
    g.in[off + a] = x.size(2 + a);
    g.out[off + a] = y.size(2 + a);
    g.k[off + a] = w.size(2 + a);
    g.s[off + a] = attr.stride[size_t(a)];
    g.p[off + a] = attr.padding[size_t(a)];
    g.d[off + a] = attr.dilation[size_t(a)];
  }
  DOPPEL_DISPATCH_FLOATING(y.dtype(), "convolution", [&]<typename T>() {
    conv<T>(g, x.data_ptr<T>(), w.data_ptr<T>(), bias.defined() ? bias.data_ptr<T>() : nullptr, y.data_ptr<T>());
  });
}

}  // namespace

void reference_convolution_kernels() { register_kernel(OpId::convolution, Backend::Reference, {convolution_kernel}); }

}  // namespace doppel::registration
