// oneDNN kernels of scaled_dot_product_attention and its backward (float32). Forward: per chunk of
// heads and block of query rows, scores = q k^T and out = P v are oneDNN matmuls (batched over
// the chunk's heads, reading q, k and v through their strides, so the transposed heads Hugging
// Face models produce are not copied), and the scale, masks, softmax and dropout run in between
// on the chunk's scores. Backward: per chunk, P recomputed the same way, then dP = dO v^T,
// dS = P * (dP - rowsum(P * dP)), dq = dS k, and dk += dS^T q, dv += P^T dO accumulated over the
// query blocks by sum post-ops. A chunk holds at most kScoreBudget scores, so the [L, S] matrix
// of all heads is never materialised: short sequences take several heads per chunk, long ones
// blocks of query rows. The softmax is oneDNN's (accurate algorithm) on the rows it computes as
// the reference does; the masking pass sets apart the rows it does not: a row of only -inf
// scores gets weights 0, a NaN or +Inf score makes its row NaN (op_attrs/transformer.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "cpu/attention_geometry.h"
#include "cpu/attention_math.h"
#include "cpu/onednn/matmul_common.h"
#include "doppel/kernels/parallel.h"
#include "registration.h"

namespace doppel::registration {
namespace {

using namespace onednn;
using namespace transformer_attrs;
using attention::Geometry;

constexpr int64_t kScoreBudget = int64_t(1) << 18;  // scores per chunk (1 MiB of float32)

const Tensor& mask_input(const OpCall& c, size_t k = kSdpaMask) {
  static const Tensor kNone;
  return c.inputs.size() > k ? c.in(k) : kNone;
}

// Consecutive batch entries [n, n + heads) whose matrices are equally spaced in every operand
// (the heads of one batch element, unless enable_gqa maps several to one key/value head).
struct Run {
  int64_t n = 0, heads = 1;
  int64_t q = 0, k = 0, v = 0;  // the spacing of each operand's matrices
};

bool evenly_spaced(const attention::Operand& o, int64_t n, int64_t count, int64_t& step) {
  step = count > 1 ? o.offset[size_t(n + 1)] - o.offset[size_t(n)] : 0;
  for (int64_t i = 1; i < count; ++i)
    if (o.offset[size_t(n + i)] - o.offset[size_t(n + i - 1)] != step) return false;
  return true;
}

std::vector<Run> runs(const Geometry& g) {
  const int64_t span = g.batch.empty() ? 1 : std::max<int64_t>(g.batch.back(), 1);
  std::vector<Run> out;
  for (int64_t n = 0; n < g.nbatch; n += span) {
    Run r{n, span};
    if (!(evenly_spaced(g.q, n, span, r.q) && evenly_spaced(g.k, n, span, r.k) && evenly_spaced(g.v, n, span, r.v))) {
      for (int64_t i = 0; i < span; ++i) out.push_back(Run{n + i, 1});
      continue;
    }
    out.push_back(r);
  }
  return out;
}

// Heads and query rows per chunk.
std::pair<int64_t, int64_t> chunking(const Geometry& g, int64_t heads) {
  const int64_t S = std::max<int64_t>(g.S, 1);
  if (g.L * S <= kScoreBudget) return {std::clamp<int64_t>(kScoreBudget / (g.L * S), 1, heads), g.L};
  return {1, std::clamp<int64_t>(kScoreBudget / S, 1, g.L)};
}

// The primitive of a [hb, m, k] times b [hb, k, n] into a contiguous [hb, m, n], each operand given
// by its heads step, row and column strides; `accumulate` adds the product to what the
// destination holds (a sum post-op). The key holds the call's own strides: normalize() may replace
// them by a copy's (the same descriptor then stands for a copied and an uncopied operand).
std::shared_ptr<MatmulEntry> matmul_entry(int variant, int64_t hb, int64_t m, int64_t k, int64_t n,
                                          std::array<int64_t, 3> as, std::array<int64_t, 3> bs,
                                          bool accumulate = false) {
  KeyBuilder key(OpId::scaled_dot_product_attention, variant);
  key.add(IntList{hb, m, k, n, int64_t(accumulate)}).add(IntList(as)).add(IntList(bs));
  return cached<MatmulEntry>(key, [&] {
    Operand a{{hb, m, k}, {as[0], as[1], as[2]}}, b{{hb, k, n}, {bs[0], bs[1], bs[2]}};
    normalize(a);
    normalize(b);
    dnnl::post_ops sum;
    sum.append_sum(1.0f);
    return make_fast_entry(DType::Float32, a, b, nullptr, {hb, m, n}, DType::Float32, accumulate ? &sum : nullptr);
  });
}

// The two matmuls of a forward chunk of hb heads and lb query rows: scores = q k^T, out = P v.
struct ChunkPrims {
  std::shared_ptr<MatmulEntry> qk, pv;
};

ChunkPrims chunk_prims(const Geometry& g, const Run& r, int64_t hb, int64_t lb) {
  return {matmul_entry(0, hb, lb, g.E, g.S, {r.q, g.q.row, g.q.col}, {r.k, g.k.col, g.k.row}),
          matmul_entry(1, hb, lb, g.S, g.Ev, {lb * g.S, g.S, 1}, {r.v, g.v.row, g.v.col})};
}

// The four more of a backward chunk (grad_out contiguous, the gradients contiguous):
// dP = dO v^T, dq = dS k, dk += dS^T q, dv += (P * dropout)^T dO.
struct BackwardPrims {
  std::shared_ptr<MatmulEntry> dp, dq, dk, dv;
};

BackwardPrims backward_prims(const Geometry& g, const Run& r, int64_t hb, int64_t lb) {
  return {matmul_entry(3, hb, lb, g.Ev, g.S, {g.L * g.Ev, g.Ev, 1}, {r.v, g.v.col, g.v.row}),
          matmul_entry(4, hb, lb, g.S, g.E, {lb * g.S, g.S, 1}, {r.k, g.k.row, g.k.col}),
          matmul_entry(5, hb, g.S, lb, g.E, {lb * g.S, 1, g.S}, {r.q, g.q.row, g.q.col}, true),
          matmul_entry(6, hb, g.S, lb, g.Ev, {lb * g.S, 1, g.S}, {g.L * g.Ev, g.Ev, 1}, true)};
}

Geometry geometry_of(const OpCall& c, IntList out_shape) {
  const auto a = SdpaAttrs::of(c.attrs);
  return attention::geometry(out_shape, c.in(kSdpaQuery), c.in(kSdpaKey), c.in(kSdpaValue), mask_input(c), a.enable_gqa,
                             a.scale);
}

// oneDNN's softmax over `rows` rows of S contiguous scores, in place (its vectorized exp is most
// of the kernel's time at long sequences).
struct SoftmaxEntry {
  bool ok = false;
  dnnl::softmax_forward prim;
  dnnl::memory::desc md;
};

std::shared_ptr<SoftmaxEntry> softmax_entry(int64_t rows, int64_t S) {
  KeyBuilder key(OpId::scaled_dot_product_attention, 2);
  key.add(IntList{rows, S});
  return cached<SoftmaxEntry>(key, [&] {
    SoftmaxEntry e;
    e.md = dnnl::memory::desc({rows, S}, dnnl::memory::data_type::f32, dnnl::memory::dims{S, 1});
    dnnl::softmax_forward::primitive_desc pd(engine(), dnnl::prop_kind::forward_inference,
                                             dnnl::algorithm::softmax_accurate, e.md, e.md, 1, attr(),
                                             /*allow_empty=*/true);
    if (pd && !reference_implementation(pd)) {
      e.prim = dnnl::softmax_forward(pd);
      e.ok = true;
    }
    return e;
  });
}

// One chunk of a call: h heads from batch entry n (in run `run`), query rows i0 .. i0 + l.
struct Chunk {
  const Run* run;
  int64_t h, l, n, i0;
};

// The chunks of a call in order, and the most query rows one holds (its scratch rows).
std::vector<Chunk> chunks(const Geometry& g, const std::vector<Run>& all, int64_t& most_rows) {
  std::vector<Chunk> out;
  most_rows = 0;
  for (const Run& r : all) {
    const auto [hb, lb] = chunking(g, r.heads);
    most_rows = std::max(most_rows, hb * lb);
    for (int64_t h0 = 0; h0 < r.heads; h0 += hb)
      for (int64_t i0 = 0; i0 < g.L; i0 += lb)
        out.push_back({&r, std::min(hb, r.heads - h0), std::min(lb, g.L - i0), r.n + h0, i0});
  }
  return out;
}

// Whether every primitive the chunks of a call need exists and is not a oneDNN reference
// implementation (the chunk shapes: full and tail heads, full and tail row blocks).
bool chunks_supported(const Geometry& g, bool backward) {
  for (const Run& r : runs(g)) {
    const auto [hb, lb] = chunking(g, r.heads);
    for (int64_t h : {hb, r.heads % hb})
      for (int64_t l : {lb, g.L % lb}) {
        if (h == 0 || l == 0) continue;
        const ChunkPrims p = chunk_prims(g, r, h, l);
        std::vector<const MatmulEntry*> need{p.qk.get(), p.pv.get()};
        const BackwardPrims b = backward ? backward_prims(g, r, h, l) : BackwardPrims{};
        if (backward) need = {p.qk.get(), b.dp.get(), b.dq.get(), b.dk.get(), b.dv.get()};
        for (const MatmulEntry* e : need)
          if (!e->ok || e->slow) return false;
        if (!softmax_entry(h * l, g.S)->ok) return false;
      }
  }
  return true;
}

bool float32_cpu(const Tensor& q) { return q.dtype() == DType::Float32 && q.device().is_cpu(); }

bool sdpa_supports(const OpCall& c) {
  if (!float32_cpu(c.in(kSdpaQuery))) return false;
  const Shape out = output_shape(c);
  if (numel_of(out) == 0 || c.in(kSdpaKey).numel() == 0) return false;  // nothing to multiply
  for (size_t k : {kSdpaQuery, kSdpaKey, kSdpaValue})                   // the mask is read by the kernel's own loop
    if (!describable(c.in(k))) return false;
  return chunks_supported(geometry_of(c, out), false);
}

// What the masking pass found in a row of scores.
enum RowKind : uint8_t { kPlain, kAllMasked, kSpecial };

// Scale, causal mask and attn_mask of query row i of entry n, in place; a row of only -inf
// attends to nothing (weights 0), a NaN or +Inf score makes the row NaN (as softmax does), and
// the others go through oneDNN's softmax.
RowKind mask_row(const Geometry& g, bool is_causal, const void* mask, int64_t n, int64_t i, float* s) {
  const float inf = std::numeric_limits<float>::infinity();
  const float scale = float(g.scale);
  const int64_t S = g.S, visible = is_causal ? std::min(S, i + 1) : S;
  for (int64_t j = 0; j < visible; ++j) s[j] *= scale;
  std::fill(s + visible, s + S, -inf);
  if (g.has_mask) {
    const int64_t base = g.mask.offset[size_t(n)] + i * g.mask.row, step = g.mask.col;
    if (g.mask_bool) {
      const bool* m = static_cast<const bool*>(mask) + base;
      for (int64_t j = 0; j < S; ++j) s[j] = m[j * step] ? s[j] : -inf;
    } else {
      const float* m = static_cast<const float*>(mask) + base;
      for (int64_t j = 0; j < S; ++j) s[j] += m[j * step];
    }
  }
  float mx = -inf;
  bool special = false;
  for (int64_t j = 0; j < S; ++j) {
    mx = std::max(mx, s[j]);
    special |= std::isnan(s[j]) || s[j] == inf;
  }
  return special ? kSpecial : mx == -inf ? kAllMasked : kPlain;
}

// The dropout factors of output row `row` into f[0, S) (op_attrs/transformer.h).
void dropout_factors(const Geometry& g, double p, uint64_t seed, uint64_t offset, int64_t row, float* f) {
  for (int64_t j = 0; j < g.S; j += 4) {
    const PhiloxWords w = rnd::sdpa_dropout_block(seed, offset, row, j / 4);
    for (int64_t jj = j; jj < std::min(g.S, j + 4); ++jj) f[jj] = float(rnd::sdpa_dropout_factor(w, jj, p));
  }
}

// A view of t with the call's own geometry (execute() copies it where the entry says so).
Tensor view(const Tensor& t, IntList dims, IntList strides, int64_t off) {
  return make_view(t, dims, strides, t.storage_offset() + off);
}

// The output row index of chunk row x.
int64_t row_of(const Geometry& g, const Chunk& ch, int64_t x) { return (ch.n + x / ch.l) * g.L + ch.i0 + x % ch.l; }

int64_t grain(const Geometry& g) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(g.S, 1)); }

// The chunk's softmax weights (before dropout) into `p` ([h, l, S] at `pp`): q k^T, the masking
// pass, oneDNN's softmax, then the rows the masking pass set apart (0 or NaN).
void chunk_weights(const Geometry& g, bool is_causal, const void* mask, const Chunk& ch, const Tensor& q,
                   const Tensor& k, const Tensor& p, float* pp) {
  const Run& r = *ch.run;
  const ChunkPrims prims = chunk_prims(g, r, ch.h, ch.l);
  execute(*prims.qk, view(q, {ch.h, ch.l, g.E}, {r.q, g.q.row, g.q.col}, g.q.offset[size_t(ch.n)] + ch.i0 * g.q.row),
          view(k, {ch.h, g.E, g.S}, {r.k, g.k.col, g.k.row}, g.k.offset[size_t(ch.n)]), Tensor(), p);
  std::vector<RowKind> kinds(size_t(ch.h * ch.l));
  parallel_for(0, ch.h * ch.l, grain(g), [&](int64_t r0, int64_t r1) {
    for (int64_t x = r0; x < r1; ++x)
      kinds[size_t(x)] = mask_row(g, is_causal, mask, ch.n + x / ch.l, ch.i0 + x % ch.l, pp + x * g.S);
  });
  const SoftmaxEntry& sm = *softmax_entry(ch.h * ch.l, g.S);
  const dnnl::memory mem(sm.md, engine(), pp);
  onednn::execute(sm.prim, {{DNNL_ARG_SRC, mem}, {DNNL_ARG_DST, mem}});
  for (int64_t x = 0; x < ch.h * ch.l; ++x)
    if (kinds[size_t(x)] != kPlain)
      std::fill_n(pp + x * g.S, g.S, kinds[size_t(x)] == kAllMasked ? 0.0f : std::numeric_limits<float>::quiet_NaN());
}

void sdpa_run(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaAttrs::of(c.attrs);
  const Tensor& o = out[kSdpaOut];
  const Geometry g = geometry_of(c, o.shape());
  int64_t* rng = out[kSdpaRng].data_ptr<int64_t>();
  rng[0] = a.seed;
  rng[1] = a.offset;
  const Tensor& mask = mask_input(c);
  const void* mask_data = mask.defined() ? mask.raw_data() : nullptr;
  const std::vector<Run> all = runs(g);
  int64_t most = 0;
  const std::vector<Chunk> plan = chunks(g, all, most);
  const Tensor scores = make_tensor({most * g.S}, DType::Float32);
  float* sp = scores.data_ptr<float>();
  for (const Chunk& ch : plan) {
    const Run& r = *ch.run;
    const Tensor s = view(scores, {ch.h, ch.l, g.S}, {ch.l * g.S, g.S, 1}, 0);
    chunk_weights(g, a.is_causal, mask_data, ch, c.in(kSdpaQuery), c.in(kSdpaKey), s, sp);
    if (a.dropout_p > 0)
      parallel_for(0, ch.h * ch.l, grain(g), [&](int64_t r0, int64_t r1) {
        std::vector<float> f(size_t(g.S));
        for (int64_t x = r0; x < r1; ++x) {
          dropout_factors(g, a.dropout_p, uint64_t(a.seed), uint64_t(a.offset), row_of(g, ch, x), f.data());
          for (int64_t j = 0; j < g.S; ++j) sp[x * g.S + j] *= f[size_t(j)];
        }
      });
    execute(*chunk_prims(g, r, ch.h, ch.l).pv, s,
            view(c.in(kSdpaValue), {ch.h, g.S, g.Ev}, {r.v, g.v.row, g.v.col}, g.v.offset[size_t(ch.n)]), Tensor(),
            view(o, {ch.h, ch.l, g.Ev}, {g.L * g.Ev, g.Ev, 1}, (ch.n * g.L + ch.i0) * g.Ev));
  }
}

// The backward op: grad_out made contiguous, query, key and value with the output's batch dims
// (broadcast and grouped-query operands stay on the reference kernel, whose sums over the
// entries sharing a matrix are its own), the gradients contiguous.
bool same_batch(const Tensor& t, IntList batch) {
  return t.dim() == int64_t(batch.size()) + 2 && std::equal(batch.begin(), batch.end(), t.shape().begin());
}

Geometry backward_geometry(const OpCall& c) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  return attention::geometry(c.in(kSdpaBwGrad).shape(), c.in(kSdpaBwQuery), c.in(kSdpaBwKey), c.in(kSdpaBwValue),
                             mask_input(c, kSdpaBwMask), a.enable_gqa, a.scale);
}

bool sdpa_backward_supports(const OpCall& c) {
  if (!float32_cpu(c.in(kSdpaBwQuery))) return false;
  const Shape& gs = c.in(kSdpaBwGrad).shape();
  const Shape batch(gs.begin(), gs.end() - 2);
  if (c.in(kSdpaBwGrad).numel() == 0 || c.in(kSdpaBwKey).numel() == 0) return false;
  for (size_t k : {kSdpaBwQuery, kSdpaBwKey, kSdpaBwValue})
    if (!describable(c.in(k)) || !same_batch(c.in(k), batch)) return false;
  return chunks_supported(backward_geometry(c), true);
}

// Per row of a chunk, from the weights P and dP = dO v^T: dP *= dropout, dS = P * (dP - rowsum(P
// * dP)) * scale into dp, and P *= dropout (what multiplied v) in place.
void backward_row(const Geometry& g, double p_drop, uint64_t seed, uint64_t offset, int64_t row, float* p, float* dp,
                  std::vector<float>& f) {
  if (p_drop > 0) {
    dropout_factors(g, p_drop, seed, offset, row, f.data());
    for (int64_t j = 0; j < g.S; ++j) dp[j] *= f[size_t(j)];
  }
  double dot = 0;
  for (int64_t j = 0; j < g.S; ++j) dot += double(p[j]) * double(dp[j]);
  const float d = float(dot), scale = float(g.scale);
  for (int64_t j = 0; j < g.S; ++j) dp[j] = p[j] * (dp[j] - d) * scale;
  if (p_drop > 0)
    for (int64_t j = 0; j < g.S; ++j) p[j] *= f[size_t(j)];
}

void sdpa_backward_run(const OpCall& c, std::span<const Tensor> out) {
  const auto a = SdpaBackwardAttrs::of(c.attrs);
  const Geometry g = backward_geometry(c);
  const Tensor go = contiguous_of(c.in(kSdpaBwGrad));
  const Tensor rng = contiguous_of(c.in(kSdpaBwRng));
  const uint64_t seed = uint64_t(rng.data_ptr<int64_t>()[0]), offset = uint64_t(rng.data_ptr<int64_t>()[1]);
  const Tensor &q = c.in(kSdpaBwQuery), &k = c.in(kSdpaBwKey), &v = c.in(kSdpaBwValue);
  const Tensor& mask = mask_input(c, kSdpaBwMask);
  const void* mask_data = mask.defined() ? mask.raw_data() : nullptr;
  const Tensor &dq = out[0], &dk = out[1], &dv = out[2];
  for (const Tensor* t : {&dk, &dv}) std::fill_n(t->data_ptr<float>(), t->numel(), 0.0f);  // accumulated
  const std::vector<Run> all = runs(g);
  int64_t most = 0;
  const std::vector<Chunk> plan = chunks(g, all, most);
  const Tensor buf = make_tensor({2 * most * g.S}, DType::Float32);
  float* pp = buf.data_ptr<float>();
  float* dpp = pp + most * g.S;
  for (const Chunk& ch : plan) {
    const Run& r = *ch.run;
    const int64_t h = ch.h, l = ch.l, n = ch.n;
    const BackwardPrims bp = backward_prims(g, r, h, l);
    const Tensor p = view(buf, {h, l, g.S}, {l * g.S, g.S, 1}, 0);
    const Tensor dp = view(buf, {h, l, g.S}, {l * g.S, g.S, 1}, most * g.S);
    const Tensor gv = view(go, {h, l, g.Ev}, {g.L * g.Ev, g.Ev, 1}, (n * g.L + ch.i0) * g.Ev);
    chunk_weights(g, a.is_causal, mask_data, ch, q, k, p, pp);
    execute(*bp.dp, gv, view(v, {h, g.Ev, g.S}, {r.v, g.v.col, g.v.row}, g.v.offset[size_t(n)]), Tensor(), dp);
    parallel_for(0, h * l, grain(g), [&](int64_t r0, int64_t r1) {
      std::vector<float> f(size_t(a.dropout_p > 0 ? g.S : 0));
      for (int64_t x = r0; x < r1; ++x)
        backward_row(g, a.dropout_p, seed, offset, row_of(g, ch, x), pp + x * g.S, dpp + x * g.S, f);
    });
    execute(*bp.dq, dp, view(k, {h, g.S, g.E}, {r.k, g.k.row, g.k.col}, g.k.offset[size_t(n)]), Tensor(),
            view(dq, {h, l, g.E}, {g.L * g.E, g.E, 1}, (n * g.L + ch.i0) * g.E));
    execute(*bp.dk, view(buf, {h, g.S, l}, {l * g.S, 1, g.S}, most * g.S),
            view(q, {h, l, g.E}, {r.q, g.q.row, g.q.col}, g.q.offset[size_t(n)] + ch.i0 * g.q.row), Tensor(),
            view(dk, {h, g.S, g.E}, {g.S * g.E, g.E, 1}, n * g.S * g.E));
    execute(*bp.dv, view(buf, {h, g.S, l}, {l * g.S, 1, g.S}, 0), gv, Tensor(),
            view(dv, {h, g.S, g.Ev}, {g.S * g.Ev, g.Ev, 1}, n * g.S * g.Ev));
  }
}

}  // namespace

void onednn_transformer_kernels() {
  register_onednn_kernel(OpId::scaled_dot_product_attention, sdpa_run, sdpa_supports);
  register_onednn_kernel(OpId::scaled_dot_product_attention_backward, sdpa_backward_run, sdpa_backward_supports);
}

}  // namespace doppel::registration
