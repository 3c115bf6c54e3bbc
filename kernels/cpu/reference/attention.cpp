// Reference kernels of scaled_dot_product_attention and its backward: one query row at a time,
// in double, straight from the formula (scores = scale * q k^T + mask, safe softmax, dropout,
// times v); the oracle of the oneDNN kernel. A row whose scores are all -inf gets weights 0
// (op_attrs/transformer.h); NaN and +Inf scores give NaN rows, as softmax does.
#include <cmath>
#include <limits>
#include <unordered_map>
#include <vector>

#include "cpu/attention_geometry.h"
#include "cpu/attention_math.h"
#include "doppel/kernels/kernel_table.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace transformer_attrs;
using attention::Geometry;

template <typename T>
double rd(const T* p, int64_t k) {
  return double(compute_t<T>(p[k]));
}

// The typed pointers of one call.
template <typename T>
struct Operands {
  const T *q, *k, *v;
  const void* mask;
};

// Softmax weights (before dropout) of query row i of batch entry n into p[0, S).
template <typename T>
void row_weights(const Geometry& g, const Operands<T>& o, bool causal, int64_t n, int64_t i, std::vector<double>& p) {
  const double inf = std::numeric_limits<double>::infinity();
  const T* qr = o.q + g.q.offset[size_t(n)] + i * g.q.row;
  const T* kb = o.k + g.k.offset[size_t(n)];
  bool all_masked = true;
  double mx = -inf;
  for (int64_t j = 0; j < g.S; ++j) {
    double s = 0;
    for (int64_t e = 0; e < g.E; ++e) s += rd(qr, e * g.q.col) * rd(kb, j * g.k.row + e * g.k.col);
    s *= g.scale;
    if (causal && j > i) s = -inf;
    if (g.has_mask) {
      const int64_t mk = g.mask.offset[size_t(n)] + i * g.mask.row + j * g.mask.col;
      if (g.mask_bool)
        s = static_cast<const bool*>(o.mask)[mk] ? s : -inf;
      else
        s += rd(static_cast<const T*>(o.mask), mk);
    }
    p[size_t(j)] = s;
    all_masked = all_masked && s == -inf;
    if (s > mx) mx = s;
  }
  if (all_masked) {
    std::fill(p.begin(), p.begin() + g.S, 0.0);
    return;
  }
  double sum = 0;
  for (int64_t j = 0; j < g.S; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
  for (int64_t j = 0; j < g.S; ++j) p[size_t(j)] /= sum;
}

// The dropout factors of output row `row` (all 1 without dropout).
void row_dropout(uint64_t seed, uint64_t offset, double p, int64_t row, int64_t S, std::vector<double>& f) {
  for (int64_t j = 0; j < S; ++j) {
    if (p <= 0) {
      f[size_t(j)] = 1;
      continue;
    }
    const PhiloxWords w = rnd::sdpa_dropout_block(seed, offset, row, j / 4);
    f[size_t(j)] = rnd::sdpa_dropout_factor(w, j, p);
  }
}

template <typename T>
Operands<T> operands(const OpCall& c, size_t q, size_t mask) {
  const Tensor& m = c.inputs.size() > mask ? c.in(mask) : Tensor();
  return {c.in(q).data_ptr<T>(), c.in(q + 1).data_ptr<T>(), c.in(q + 2).data_ptr<T>(),
          m.defined() ? m.raw_data() : nullptr};
}

const Tensor& mask_input(const OpCall& c, size_t k) {
  static const Tensor kNone;
  return c.inputs.size() > k ? c.in(k) : kNone;
}

void sdpa_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaAttrs::of(c.attrs);
  const Tensor& mask = mask_input(c, kSdpaMask);
  const Geometry g = attention::geometry(out[kSdpaOut].shape(), c.in(kSdpaQuery), c.in(kSdpaKey), c.in(kSdpaValue),
                                         mask, a.enable_gqa, a.scale);
  const uint64_t seed = uint64_t(a.seed), offset = uint64_t(a.offset);
  int64_t* rng = out[kSdpaRng].data_ptr<int64_t>();
  rng[0] = a.seed;
  rng[1] = a.offset;
  DOPPEL_DISPATCH_FLOATING(c.in(kSdpaQuery).dtype(), "scaled_dot_product_attention", [&]<typename T>() {
    const Operands<T> o = operands<T>(c, kSdpaQuery, kSdpaMask);
    T* po = out[kSdpaOut].data_ptr<T>();
    const int64_t rows = g.nbatch * g.L;
    parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(g.S * (g.E + g.Ev), 1)),
                 [&](int64_t r0, int64_t r1) {
                   std::vector<double> p(size_t(g.S)), f(size_t(g.S)), acc(size_t(g.Ev));
                   for (int64_t r = r0; r < r1; ++r) {
                     const int64_t n = r / g.L, i = r % g.L;
                     row_weights(g, o, a.is_causal, n, i, p);
                     row_dropout(seed, offset, a.dropout_p, r, g.S, f);
                     std::fill(acc.begin(), acc.end(), 0.0);
                     const T* vb = o.v + g.v.offset[size_t(n)];
                     for (int64_t j = 0; j < g.S; ++j) {
                       const double w = p[size_t(j)] * f[size_t(j)];
                       for (int64_t e = 0; e < g.Ev; ++e) acc[size_t(e)] += w * rd(vb, j * g.v.row + e * g.v.col);
                     }
                     for (int64_t e = 0; e < g.Ev; ++e) po[r * g.Ev + e] = T(compute_t<T>(acc[size_t(e)]));
                   }
                 });
  });
}

// Writes double values into a contiguous output of any floating dtype.
template <typename T>
void store(const Tensor& t, const std::vector<double>& v) {
  T* p = t.data_ptr<T>();
  for (size_t k = 0; k < v.size(); ++k) p[k] = T(compute_t<T>(v[k]));
}

// Batch entries whose gradient matrices are disjoint run in parallel; entries sharing a query,
// key or value matrix (broadcast batch dims, grouped-query heads) form one group, run in order,
// so the sums do not depend on the thread count.
std::vector<std::vector<int64_t>> independent_groups(std::initializer_list<const attention::Operand*> grads,
                                                     int64_t nbatch) {
  std::vector<int64_t> parent(static_cast<size_t>(nbatch));
  for (int64_t n = 0; n < nbatch; ++n) parent[size_t(n)] = n;
  const auto root = [&](int64_t n) {
    while (parent[size_t(n)] != n) n = parent[size_t(n)] = parent[size_t(parent[size_t(n)])];
    return n;
  };
  for (const attention::Operand* o : grads) {
    std::unordered_map<int64_t, int64_t> first;  // matrix offset -> an entry writing it
    for (int64_t n = 0; n < nbatch; ++n) {
      const auto [it, fresh] = first.emplace(o->offset[size_t(n)], n);
      if (!fresh) parent[size_t(root(n))] = root(it->second);
    }
  }
  std::vector<std::vector<int64_t>> groups;
  std::unordered_map<int64_t, size_t> index;  // root -> group
  for (int64_t n = 0; n < nbatch; ++n) {
    const auto [it, fresh] = index.emplace(root(n), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(n);
  }
  return groups;
}

// dS = P * (dP - rowsum(P * dP)) with dP = (dO v^T) * dropout, then dq = scale * dS k,
// dk = scale * dS^T q and dv = (P * dropout)^T dO, accumulated in double over every query row
// (and every query head and broadcast batch entry that reads a key/value matrix).
void sdpa_backward_kernel(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  const Tensor& gout = c.in(kSdpaBwGrad);
  const Tensor &q = c.in(kSdpaBwQuery), &k = c.in(kSdpaBwKey), &v = c.in(kSdpaBwValue);
  const Tensor& mask = mask_input(c, kSdpaBwMask);
  const Geometry g = attention::geometry(gout.shape(), q, k, v, mask, a.enable_gqa, a.scale);
  const Tensor rng = contiguous_of(c.in(kSdpaBwRng));
  const uint64_t seed = uint64_t(rng.data_ptr<int64_t>()[0]), offset = uint64_t(rng.data_ptr<int64_t>()[1]);
  // Offsets into the contiguous gradients, which have the operands' shapes.
  const auto grad_operand = [&](const Tensor& t) {
    return attention::operand(g.batch, t.shape(), contiguous_strides(t.shape()),
                              &t == &q ? 1 : attention::gqa_repeat(g.batch, t, a.enable_gqa));
  };
  const attention::Operand gq = grad_operand(q), gk = grad_operand(k), gv = grad_operand(v);
  std::vector<double> dq(size_t(q.numel())), dk(size_t(k.numel())), dv(size_t(v.numel()));
  DOPPEL_DISPATCH_FLOATING(q.dtype(), "scaled_dot_product_attention_backward", [&]<typename T>() {
    const Operands<T> o = operands<T>(c, kSdpaBwQuery, kSdpaBwMask);
    const T* pg = gout.data_ptr<T>();
    const Strides& gs = gout.strides();
    const int64_t nd = gout.dim();
    // grad_out's [L, Ev] matrices (grad_out has the output's full shape).
    const attention::Operand go = attention::operand(g.batch, gout.shape(), gs, 1);
    const std::vector<std::vector<int64_t>> groups = independent_groups({&gq, &gk, &gv}, g.nbatch);
    parallel_for(0, int64_t(groups.size()), 1, [&](int64_t g0, int64_t g1) {
      std::vector<double> p(size_t(g.S)), f(size_t(g.S)), dp(size_t(g.S));
      for (int64_t grp = g0; grp < g1; ++grp)
        for (const int64_t n : groups[size_t(grp)]) {
          const T* qb = o.q + g.q.offset[size_t(n)];
          const T* kb = o.k + g.k.offset[size_t(n)];
          const T* vb = o.v + g.v.offset[size_t(n)];
          for (int64_t i = 0; i < g.L; ++i) {
            const int64_t r = n * g.L + i;
            row_weights(g, o, a.is_causal, n, i, p);
            row_dropout(seed, offset, a.dropout_p, r, g.S, f);
            const T* gr = pg + go.offset[size_t(n)] + i * gs[size_t(nd - 2)];
            double dot = 0;
            for (int64_t j = 0; j < g.S; ++j) {
              double s = 0;
              for (int64_t e = 0; e < g.Ev; ++e)
                s += rd(gr, e * gs[size_t(nd - 1)]) * rd(vb, j * g.v.row + e * g.v.col);
              dp[size_t(j)] = s * f[size_t(j)];
              dot += p[size_t(j)] * dp[size_t(j)];
            }
            for (int64_t j = 0; j < g.S; ++j) {
              const double ds = p[size_t(j)] * (dp[size_t(j)] - dot) * g.scale;
              const double pw = p[size_t(j)] * f[size_t(j)];
              for (int64_t e = 0; e < g.E; ++e) {
                dq[size_t(gq.offset[size_t(n)] + i * gq.row + e * gq.col)] += ds * rd(kb, j * g.k.row + e * g.k.col);
                dk[size_t(gk.offset[size_t(n)] + j * gk.row + e * gk.col)] += ds * rd(qb, i * g.q.row + e * g.q.col);
              }
              for (int64_t e = 0; e < g.Ev; ++e)
                dv[size_t(gv.offset[size_t(n)] + j * gv.row + e * gv.col)] += pw * rd(gr, e * gs[size_t(nd - 1)]);
            }
          }
        }
    });
    store<T>(out[0], dq);
    store<T>(out[1], dk);
    store<T>(out[2], dv);
  });
}

}  // namespace

// The other files of this group.
void reference_rms_norm_kernels();
void reference_rotary_kernels();

void reference_transformer_kernels() {
  reference_rms_norm_kernels();
  reference_rotary_kernels();
  register_kernel(OpId::scaled_dot_product_attention, Backend::Reference, {sdpa_kernel});
  register_kernel(OpId::scaled_dot_product_attention_backward, Backend::Reference, {sdpa_backward_kernel});
}

}  // namespace doppel::registration
